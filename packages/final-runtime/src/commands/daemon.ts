// hull daemon [-H unix:///PATH]: the Docker Engine API (a 1.41 subset) on a
// unix socket, so the docker CLI and its SDKs drive hull. The socket is
// /run/hull.sock unless -H or HULL_HOST moves it; it is 0660 root:root from
// its creation and every connection is peer-checked (SO_PEERCRED). The
// daemon is the monitor of the containers it starts; on SIGTERM/SIGINT it
// stops them and removes the socket (no live-restore yet: docs/daemon.md).
import { chownSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { ContainerError, UsageError } from '@hull/01-uts';
import { boolOption, parseOptions, stringOption } from '../args.js';
import { EngineApi, engineServer } from '../daemon/server.js';
import { writeFileAtomic } from '@hull/06-network';
import { daemonFile, type DaemonRecord } from '../supervisor-protocol.js';
import { listenPrivately } from '../supervisor-socket.js';
import { hullRoot, isRunning, observedState } from '../store.js';
import { signalContainer, waitSettled } from './signal-container.js';

const HELP = `Usage: hull daemon [-H unix:///PATH]

Serve the Docker Engine API (1.41) on a unix socket, for the docker CLI:
  docker -H unix:///run/hull.sock run --rm IMAGE echo hi

Options:
  -H, --host unix:///PATH   The socket (default unix:///run/hull.sock; HULL_HOST sets it too)
`;

export const DEFAULT_HOST = 'unix:///run/hull.sock';

/** unix:///PATH -> /PATH; hull listens on nothing but a unix socket (no TCP: the API is root). */
export function socketOf(host: string): string {
  const m = /^unix:\/\/(\/.+)$/.exec(host);
  if (!m) throw new UsageError(`-H ${host}: only unix:///ABSOLUTE/PATH is supported (a TCP socket would hand root to the network)`);
  if (m[1]!.includes('\0')) throw new UsageError(`-H ${host}: a NUL in the path`);
  return m[1]!;
}

/** Is something answering on this socket? A stale file from a crash is not. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(path);
    conn.on('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.on('error', () => resolve(false));
  });
}

export async function daemon(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { host: { type: 'string', short: 'H' }, help: { type: 'boolean' } });
  if (boolOption(values, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`"hull daemon" accepts no arguments`);
  const path = socketOf(stringOption(values, 'host') ?? process.env.HULL_HOST ?? DEFAULT_HOST);
  const root = hullRoot();
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw new ContainerError(`${path}: exists and is not a socket: remove it or choose another with -H`);
    if (await answers(path)) throw new ContainerError(`${path}: another daemon is listening there`);
    unlinkSync(path); // stale, from a daemon that died
  }
  const api = new EngineApi(root);
  const server = engineServer(api);
  // One listener per attached stream and per container would trip Node's leak warning at 11.
  process.setMaxListeners(0);
  await listenPrivately(server, path, 0o660);
  // root:root even when our gid is another: the group may talk to us only if an admin chgrp's it, on purpose.
  if (process.geteuid?.() === 0) chownSync(path, 0, 0);
  // `hull run -d` on this root finds us here and lets us start its containers (supervisor-client.ts).
  writeFileAtomic(daemonFile(root), JSON.stringify({ pid: process.pid, socket: path } satisfies DaemonRecord));
  process.stderr.write(`hull daemon: API ${'1.41'} listening on unix://${path} (HULL_ROOT ${root})\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      server.close();
      for (const file of [path, daemonFile(root)]) {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      }
      // Without live-restore its containers cannot outlive their monitor: stop them and let each record its exit.
      await Promise.all(
        [...api.containers.sessions.values()].map(async (s) => {
          const state = observedState(s.config.id, root);
          if (isRunning(state)) {
            signalContainer(state, 'SIGKILL');
            await waitSettled(s.config.id, 10_000);
          }
          if (state.status !== 'created') await Promise.race([s.settled, new Promise((r) => setTimeout(r, 10_000))]);
        }),
      );
      resolve();
    };
    process.on('SIGTERM', () => void shutdown());
    process.on('SIGINT', () => void shutdown());
  });
  return 0;
}
