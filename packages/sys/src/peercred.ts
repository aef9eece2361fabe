// SO_PEERCRED (socket(7), unix(7)): who is at the other end of a connected
// AF_UNIX socket, as the kernel recorded it at connect(2). It cannot be
// forged by the peer, unlike anything the peer sends. Node has no API for
// it, so it is one getsockopt(2) through koffi on the socket's fd.
import { checkErrno } from './errors.js';
import { libc } from './libc.js';

const getsockopt = libc.func('int getsockopt(int fd, int level, int optname, void *optval, uint32_t *optlen)') as (
  fd: number,
  level: number,
  optname: number,
  optval: Buffer,
  optlen: Uint32Array,
) => number;

/** <asm-generic/socket.h> */
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;

/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

const UCRED_SIZE = 12;

export function peerCredentials(fd: number): PeerCredentials {
  const buf = Buffer.alloc(UCRED_SIZE);
  const len = new Uint32Array([UCRED_SIZE]);
  checkErrno(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len), 'getsockopt', [fd, 'SO_PEERCRED']);
  if (len[0] !== UCRED_SIZE) throw new Error(`getsockopt(${fd}, SO_PEERCRED): ${len[0]} bytes, expected ${UCRED_SIZE}`);
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/**
 * The fd under a connected net.Socket. Node keeps it on the libuv handle
 * (`_handle.fd`, a Pipe or TCP wrap) and documents no accessor; this is the
 * one place that reaches for it, and it fails loudly rather than guess.
 */
export function socketFd(socket: object): number {
  const handle: unknown = Reflect.get(socket, '_handle');
  const fd: unknown = handle !== null && typeof handle === 'object' ? Reflect.get(handle, 'fd') : undefined;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) throw new Error('this socket has no file descriptor (closed, or not a unix/tcp socket)');
  return fd;
}
