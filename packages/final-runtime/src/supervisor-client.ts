// The CLI's side of the supervisor: find it (or start it, once, under the
// store lock) and ask it to start a container.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerError, extname } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { processAlive, readJson, readState, withStoreLock } from './store.js';
import { daemonFile, type DaemonRecord, pidFile, socketPath, type StartReply, type StartRequest } from './supervisor-protocol.js';

/** The daemon serving this root, if one is alive. */
export function runningDaemon(root: string): DaemonRecord | undefined {
  try {
    const record = readJson<DaemonRecord>(daemonFile(root));
    return typeof record.socket === 'string' && processAlive(record.pid) ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * POST /containers/{id}/start on the daemon's socket: the daemon becomes the
 * container's monitor (its output goes to the same json log). The daemon's
 * errors carry hull's exit code in a header of ours, so `hull run -d` exits
 * as it would with the supervisor (127 for a missing command, ...).
 */
function startThroughDaemon(daemon: DaemonRecord, id: string, root: string): Promise<number | 'unreachable'> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: daemon.socket, method: 'POST', path: `/v1.41/containers/${id}/start` }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => {
        if (res.statusCode === 204 || res.statusCode === 304) return resolve(readState(id, root).pid);
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // not JSON: say what came
        }
        const code = Number(res.headers['x-hull-exit-code'] ?? 125);
        reject(new ContainerError(`the daemon (${daemon.socket}): ${message}`, Number.isInteger(code) ? code : 125));
      });
    });
    // Nobody listening (a daemon that died and whose pid was reused): the request was never read, so the supervisor may start it.
    req.on('error', () => resolve('unreachable'));
    req.end();
  });
}

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
  const daemon = runningDaemon(root);
  if (daemon) {
    const pid = await startThroughDaemon(daemon, id, root);
    if (pid !== 'unreachable') return pid;
  }
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
