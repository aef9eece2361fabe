// Hijacked HTTP: `attach` and `exec start` turn the HTTP connection into a
// raw two-way byte stream. The client sends `Connection: Upgrade` +
// `Upgrade: tcp`; we answer `101 UPGRADED` and from then on the socket
// carries stdin one way and the container's output the other.
//
// Without a TTY, stdout and stderr share the socket, so each chunk is framed
// (docker's stdcopy): an 8-byte header [stream, 0, 0, 0, size as uint32 BE],
// then `size` bytes. stream is 0 stdin, 1 stdout, 2 stderr. With a TTY there
// is one stream (the pty), sent raw.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { API_VERSION } from './api.js';

export type StreamId = 1 | 2;

export function frame(stream: StreamId, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Answer the upgrade. Headers go out at once: the client starts its stdin copy only after them. */
export function acceptUpgrade(socket: Duplex, tty: boolean): void {
  const type = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
}

/** A non-upgrade answer on a socket we already own (the 'upgrade' event bypasses ServerResponse). */
export function rawJsonReply(socket: Duplex, status: number, reason: string, value: unknown): void {
  const body = JSON.stringify(value);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nApi-Version: ${API_VERSION}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * The request body of an upgraded request (exec start sends {"Detach":..,"Tty":..})
 * precedes the raw stream on the same socket: read exactly Content-Length
 * bytes of it, and hand back whatever followed (the first stdin bytes).
 */
export function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<[body: Buffer, rest: Buffer]> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(length) || length < 0 || length > 1 << 16) return Promise.reject(new Error('bad Content-Length'));
  if (head.length >= length) return Promise.resolve([head.subarray(0, length), head.subarray(length)]);
  return new Promise((resolve, reject) => {
    let got = head;
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < length) return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      resolve([got.subarray(0, length), got.subarray(length)]);
    };
    const onEnd = () => reject(new Error('the body ended early'));
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}
