// The two walls around a root-owned unix socket, shared by the supervisor
// (supervisor.sock, 0600) and `hull daemon` (/run/hull.sock, 0660 root:root):
// the file's mode from the moment bind(2) creates it, and SO_PEERCRED on
// every connection.
import { lstatSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { peerCredentials, socketFd } from '@hull/sys';

/** Why this peer may not talk to us, or undefined when it may (root, or our own uid: the store's owner). */
export function peerRefusal(conn: Socket): string | undefined {
  let cred;
  try {
    cred = peerCredentials(socketFd(conn));
  } catch (err) {
    return `no peer credentials (${err instanceof Error ? err.message : String(err)})`;
  }
  const owner = process.geteuid?.() ?? 0;
  if (cred.uid === 0 || cred.uid === owner) return undefined;
  return `pid ${cred.pid} runs as uid ${cred.uid}; only root and uid ${owner} may`;
}

/**
 * bind(2) creates the socket file with mode 0777 & ~umask, and anyone may
 * connect to it until a chmod lands. So the umask is set while Node binds
 * (server.listen on a path binds synchronously, before it returns), and the
 * file has `mode` from its creation; a chmod after listen would leave a window.
 * The umask is restored at once: it is process-wide, and the containers'
 * directories must keep the modes they ask for.
 */
export async function listenPrivately(server: Server, path: string, mode = 0o600): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => resolve());
  });
  const umask = process.umask(0o777 & ~mode);
  try {
    server.listen(path);
  } finally {
    process.umask(umask);
  }
  await listening;
  const actual = lstatSync(path).mode & 0o777;
  if (actual !== mode) throw new Error(`${path}: created with mode ${actual.toString(8)}, not ${mode.toString(8)}`);
}
