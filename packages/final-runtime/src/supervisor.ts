// The supervisor of detached containers: ONE Node process per HULL_ROOT,
// however many containers run, started on demand by `hull run -d` and gone
// once none is left. It is the parent every detached PID 1 needs: it waits
// for it (a pidfd, no thread per container), records its exit code, writes
// its output to the json log, and tears down its mounts. A per-container Node
// monitor would cost ~40 MB each; this costs one Node for all.
//
//   hull run -d  --connect HULL_ROOT/supervisor.sock--> {"op":"start","id":...}
//   supervisor   --startContainer(config, pipes)-->     PID 1
//                <-- {"ok":true,"pid":N} | {"ok":false,"message":...,"exitCode":125}
//
// Run as: node supervisor.js HULL_ROOT (detached, its own session).
import { readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { ContainerError } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { close, O_CLOEXEC, open, O_RDONLY, pipe2 } from '@hull/sys';
import { startContainer } from './lifecycle.js';
import { JsonLog, pumpToLog } from './logs.js';
import { listenPrivately, peerRefusal } from './supervisor-socket.js';
import { parseRequest, pidFile, socketPath, type StartReply, type StartRequest } from './supervisor-protocol.js';
import { containerIds, logPath, processAlive, readConfig, readState, withStoreLock } from './store.js';

/** How long an idle supervisor waits for the next `run -d` before it exits. */
const IDLE_MS = 1500;

/** A start request is one short JSON line; anything longer is not one. */
const MAX_REQUEST = 4096;
const REQUEST_TIMEOUT_MS = 10_000;

async function main(root: string): Promise<void> {
  // One supervisor per root: the pid file, written under the store lock by
  // whoever spawned us (or by us), says who it is.
  const mine = withStoreLock(() => {
    try {
      const other = Number(readFileSync(pidFile(root), 'utf8'));
      if (other !== process.pid && processAlive(other)) return false;
    } catch {
      // no pid file: nobody
    }
    writeFileAtomic(pidFile(root), String(process.pid));
    try {
      unlinkSync(socketPath(root));
    } catch {
      // no stale socket
    }
    return true;
  }, root);
  if (!mine) return;

  // One listener per container would trip Node's leak warning at 11.
  process.setMaxListeners(0);
  let running = 0;
  let connections = 0;
  let idleTimer: NodeJS.Timeout | undefined;

  const server = createServer((conn) => {
    connections++;
    conn.on('close', () => {
      connections--;
      scheduleIdleExit();
    });
    conn.on('error', () => undefined);
    // The socket is 0600 already (below); the peer check is the second wall,
    // and the one that still holds if the mode is ever loosened: only root or
    // the store's owner (us) may make us start anything as root.
    const refusal = peerRefusal(conn);
    if (refusal) {
      process.stderr.write(`supervisor: refused a connection: ${refusal}\n`);
      conn.destroy();
      return;
    }
    // A peer that connects and never sends its line must not keep us (and our idle exit) waiting.
    conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
    let buffer = '';
    const onData = (d: Buffer): void => {
      buffer += d.toString('utf8');
      const nl = buffer.indexOf('\n');
      if (nl < 0) {
        if (buffer.length > MAX_REQUEST) {
          conn.off('data', onData);
          buffer = '';
          refuse(conn, `a request longer than ${MAX_REQUEST} bytes`);
        }
        return;
      }
      // One request per connection: whatever follows the first line is not read.
      conn.off('data', onData);
      conn.setTimeout(0);
      const parsed = parseRequest(buffer.slice(0, nl));
      buffer = '';
      if (typeof parsed === 'string') refuse(conn, parsed);
      else void handle(parsed, conn);
    };
    conn.on('data', onData);
  });

  function refuse(conn: Socket, why: string): void {
    const reply: StartReply = { ok: false, message: `bad request: ${why}`, exitCode: 125 };
    conn.end(`${JSON.stringify(reply)}\n`, () => conn.destroy());
  }

  async function handle(request: StartRequest, conn: Socket): Promise<void> {
    let reply: StartReply;
    try {
      const pid = await start(request.id);
      reply = { ok: true, pid };
    } catch (err) {
      reply = {
        ok: false,
        message: err instanceof Error ? err.message : String(err),
        exitCode: err instanceof ContainerError ? err.exitCode : 125,
      };
    }
    if (!conn.destroyed) conn.end(`${JSON.stringify(reply)}\n`);
  }

  async function start(id: string): Promise<number> {
    if (!containerIds(root).includes(id)) throw new ContainerError(`no such container: ${id}`, 1);
    const config = readConfig(id, root);
    if (readState(id, root).status !== 'created') throw new ContainerError(`container ${config.name} was already started`);
    const [outR, outW] = pipe2(O_CLOEXEC);
    const [errR, errW] = pipe2(O_CLOEXEC);
    const devNull = open('/dev/null', O_RDONLY | O_CLOEXEC);
    const log = new JsonLog(logPath(id, root));
    const drained = Promise.all([pumpToLog(outR, 'stdout', log), pumpToLog(errR, 'stderr', log)]).then(() => log.close());
    running++;
    try {
      const started = await startContainer(config, [devNull, outW, errW], root);
      void started.exited
        .catch(() => undefined)
        .then(() => drained)
        .finally(() => {
          running--;
          scheduleIdleExit();
        });
      return started.pid;
    } catch (err) {
      running--;
      scheduleIdleExit();
      throw err;
    } finally {
      // The container holds its own copies; ours must go, or the logs never see EOF.
      close(outW);
      close(errW);
      close(devNull);
    }
  }

  function scheduleIdleExit(): void {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      // Decide and stop listening in one synchronous step, under the store
      // lock that `run -d` also takes to find us, so no client is left talking
      // to a supervisor that is going away.
      const exiting = withStoreLock(() => {
        if (running > 0 || connections > 0) return false;
        server.close();
        for (const path of [socketPath(root), pidFile(root)]) {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        }
        return true;
      }, root);
      if (exiting) process.exit(0);
    }, IDLE_MS);
  }

  await listenPrivately(server, socketPath(root));
  scheduleIdleExit();
}

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: supervisor.js HULL_ROOT\n');
  process.exit(2);
}
await main(root);
