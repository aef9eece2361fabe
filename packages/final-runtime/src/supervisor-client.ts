// The CLI's side of the supervisor: find it (or start it, once, under the
// store lock) and ask it to start a container.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerError, extname } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { processAlive, withStoreLock } from './store.js';
import { pidFile, socketPath, type StartReply, type StartRequest } from './supervisor-protocol.js';

/** Start the supervisor unless one is alive; the pid file is written here, under the lock, so two CLIs never start two. */
function ensureSupervisor(root: string): void {
  withStoreLock(() => {
    try {
      if (processAlive(Number(readFileSync(pidFile(root), 'utf8')))) return;
    } catch {
      // none yet
    }
    const log = openSync(join(root, 'supervisor.log'), 'a', 0o600);
    const script = fileURLToPath(new URL(`./supervisor${extname(import.meta.url)}`, import.meta.url));
    const child = spawn(process.execPath, [...process.execArgv, script, root], {
      detached: true, // its own session: a Ctrl-C in our terminal must not reach it
      stdio: ['ignore', log, log],
      env: { ...process.env, HULL_ROOT: root },
    });
    child.unref();
    closeSync(log); // the child holds its own copy
    writeFileAtomic(pidFile(root), String(child.pid));
  }, root);
}

function ask(root: string, request: StartRequest): Promise<StartReply | 'retry'> {
  return new Promise((resolve) => {
    const conn = connect(socketPath(root));
    let answer = '';
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (d: Buffer) => (answer += d.toString('utf8')));
    // No answer at all (not listening yet, or it was going away): safe to ask again,
    // because the request was never read.
    conn.on('error', () => resolve('retry'));
    conn.on('close', () => {
      if (!answer.trim()) return resolve('retry');
      try {
        resolve(JSON.parse(answer) as StartReply);
      } catch {
        resolve({ ok: false, message: `the supervisor answered ${JSON.stringify(answer.slice(0, 80))}, not JSON`, exitCode: 125 });
      }
    });
  });
}

/** Have the supervisor start a created container; resolves to its host pid. */
export async function startDetached(root: string, id: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    ensureSupervisor(root);
    const reply = await ask(root, { op: 'start', id });
    if (reply !== 'retry') {
      if (reply.ok) return reply.pid;
      throw new ContainerError(reply.message, reply.exitCode);
    }
    if (Date.now() > deadline) throw new ContainerError(`the supervisor did not answer within 30 s (see ${join(root, 'supervisor.log')})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
