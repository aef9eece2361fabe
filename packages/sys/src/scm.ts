// Passing an open fd to another process over an AF_UNIX socket: SCM_RIGHTS
// ancillary data (unix(7), cmsg(3)). The receiver gets a new fd for the same
// open file description, as dup(2) would give it, in its own fd table.
//
// Why hull needs it: the OCI runtime's `--console-socket PATH` (runc's
// create/run with terminal: true). The runtime makes the container's pty and
// hands the master to whoever listens on PATH (conmon, containerd's shim, a
// daemon), then keeps no copy, so that the container's terminal is held by
// its supervisor only. runc's utils.SendFd sends the fd with the pty's name
// as the payload ("/dev/pts/N"); so do we, so that the same listeners work.
//
// Node's net module can neither send nor receive SCM_RIGHTS, so the messages
// are built here as the kernel lays them out on 64-bit Linux (LP64: x86_64,
// aarch64), and passed to sendmsg(2)/recvmsg(2) through koffi.
import koffi from 'koffi';
import { lastErrno, SyscallError } from './errors.js';
import { libc, raw } from './libc.js';

type Fn<A extends unknown[], R> = (...args: A) => R;

const socket = libc.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number], number>;
const connect = libc.func('int connect(int fd, const void *addr, uint32_t len)') as Fn<[number, Buffer, number], number>;
const bind = libc.func('int bind(int fd, const void *addr, uint32_t len)') as Fn<[number, Buffer, number], number>;
const listen = libc.func('int listen(int fd, int backlog)') as Fn<[number, number], number>;
const accept4 = libc.func('int accept4(int fd, void *addr, void *len, int flags)') as Fn<[number, null, null, number], number>;
const sendmsg = libc.func('intptr_t sendmsg(int fd, const void *msg, int flags)') as Fn<[number, Buffer, number], number>;
const recvmsg = libc.func('intptr_t recvmsg(int fd, void *msg, int flags)') as Fn<[number, Buffer, number], number>;

/** <bits/socket.h>, <asm-generic/errno-base.h> */
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_CLOEXEC = 0o2000000;
export const SCM_RIGHTS = 1;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_NOSIGNAL = 0x4000;
const SOL_SOCKET = 1;
const MSG_CTRUNC = 0x8;
const EINTR = 4;
const EINVAL = 22;
const ENAMETOOLONG = 36;
const EPROTO = 71;

/** runc's utils.MaxNameLen: the longest name a receiver reads with the fd. */
export const MAX_FD_NAME = 4096;

/** struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; } */
const SUN_PATH_MAX = 108;

/** A filesystem AF_UNIX address. Abstract names (leading NUL) are not taken: a path has an owner and a mode. */
function unixAddress(fn: string, path: string): Buffer {
  const bytes = Buffer.from(path);
  if (path.includes('\0')) throw new SyscallError(fn, EINVAL, [path], 'the socket path holds a NUL byte');
  // sun_path must hold the path and its NUL.
  if (bytes.length === 0 || bytes.length >= SUN_PATH_MAX) throw new SyscallError(fn, ENAMETOOLONG, [path], `a unix socket path has 1 to ${SUN_PATH_MAX - 1} bytes`);
  const addr = Buffer.alloc(2 + bytes.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return addr;
}

/** Retry a call that a signal interrupted (EINTR), as the C library's callers do. */
function retrying(call: () => number): number {
  for (;;) {
    const ret = call();
    if (ret >= 0 || lastErrno() !== EINTR) return ret;
  }
}

/*
 * The message layout (LP64):
 *   struct iovec   { void *iov_base; size_t iov_len; }                      16 bytes
 *   struct msghdr  { void *name; socklen_t namelen; (pad 4) struct iovec *iov;
 *                    size_t iovlen; void *control; size_t controllen; int flags; (pad 4) }  56 bytes
 *   struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; data }  16 bytes + data
 * CMSG_LEN(4) = 20 (the header and one int); CMSG_SPACE(4) = 24 (padded to 8).
 */
const MSGHDR_SIZE = 56;
const CMSG_HEADER = 16;
const CMSG_LEN_ONE_FD = CMSG_HEADER + 4;
const CMSG_SPACE_ONE_FD = CMSG_HEADER + 8;

interface Message {
  msghdr: Buffer;
  /** Referenced only by address inside msghdr: held here so the GC keeps them until the call returns. */
  keep: Buffer[];
}

function message(payload: Buffer, control: Buffer): Message {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(payload), 0);
  iov.writeBigUInt64LE(BigInt(payload.length), 8);
  const msghdr = Buffer.alloc(MSGHDR_SIZE);
  msghdr.writeBigUInt64LE(koffi.address(iov), 16); // msg_iov
  msghdr.writeBigUInt64LE(1n, 24); // msg_iovlen
  msghdr.writeBigUInt64LE(koffi.address(control), 32); // msg_control
  msghdr.writeBigUInt64LE(BigInt(control.length), 40); // msg_controllen
  return { msghdr, keep: [payload, iov, control] };
}

/**
 * sendmsg(2) of `name` with one SCM_RIGHTS fd over a connected AF_UNIX
 * socket: what runc's utils.SendFd does. The name cannot be empty: a stream
 * socket does not deliver ancillary data without at least one byte of data.
 */
export function sendFdOver(socketFd: number, fd: number, name: string): void {
  const payload = Buffer.from(name);
  if (name.includes('\0')) throw new SyscallError('sendmsg', EINVAL, [socketFd, fd, name], 'the name holds a NUL byte');
  if (payload.length === 0 || payload.length > MAX_FD_NAME) throw new SyscallError('sendmsg', EINVAL, [socketFd, fd, name], `the name has 1 to ${MAX_FD_NAME} bytes`);
  const control = Buffer.alloc(CMSG_SPACE_ONE_FD);
  control.writeBigUInt64LE(BigInt(CMSG_LEN_ONE_FD), 0);
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  control.writeInt32LE(fd, CMSG_HEADER);
  const msg = message(payload, control);
  // MSG_NOSIGNAL: a listener that went away is an EPIPE to report, not a SIGPIPE that kills the runtime.
  const sent = retrying(() => Number(sendmsg(socketFd, msg.msghdr, MSG_NOSIGNAL)));
  if (sent < 0) throw new SyscallError('sendmsg', lastErrno(), [socketFd, fd, name]);
  // One sendmsg of at most MAX_FD_NAME bytes on a unix stream socket is sent whole or fails (unix(7) queues it as one skb).
  if (sent !== payload.length) throw new SyscallError('sendmsg', EPROTO, [socketFd, fd, name], `sent ${sent} of ${payload.length} bytes`);
  void msg.keep;
}

/**
 * Connect to the AF_UNIX stream socket at `socketPath` and send it `fd`
 * with `name` (runc: `--console-socket`, the pty master and its name).
 * Our copy of `fd` stays open: the caller closes it.
 */
export function sendFd(socketPath: string, fd: number, name: string): void {
  const addr = unixAddress('connect', socketPath);
  const sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw new SyscallError('socket', lastErrno(), ['AF_UNIX', 'SOCK_STREAM']);
  try {
    if (retrying(() => connect(sock, addr, addr.length)) < 0) throw new SyscallError('connect', lastErrno(), [socketPath]);
    sendFdOver(sock, fd, name);
  } finally {
    raw.close(sock);
  }
}

/**
 * socket + bind + listen on a filesystem AF_UNIX path: the other end of
 * sendFd, for tests and for the engine. The fd is close-on-exec; the caller
 * closes it and removes the path.
 */
export function listenUnix(socketPath: string, backlog = 16): number {
  const addr = unixAddress('bind', socketPath);
  const sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw new SyscallError('socket', lastErrno(), ['AF_UNIX', 'SOCK_STREAM']);
  if (bind(sock, addr, addr.length) < 0) {
    const err = new SyscallError('bind', lastErrno(), [socketPath]);
    raw.close(sock);
    throw err;
  }
  if (listen(sock, backlog) < 0) {
    const err = new SyscallError('listen', lastErrno(), [socketPath, backlog]);
    raw.close(sock);
    throw err;
  }
  return sock;
}

/** What a sender passed: the new fd (close-on-exec, ours to close) and the name sent with it. */
export interface ReceivedFd {
  fd: number;
  name: string;
}

/**
 * recvmsg(2) of one name and one SCM_RIGHTS fd from a connected AF_UNIX
 * socket (runc's utils.RecvFd). Anything else is refused: no fd, more than
 * one, or a control message the kernel had to cut (then it closed the fds
 * that did not fit, so none leak).
 */
export function receiveFdOver(socketFd: number): ReceivedFd {
  const payload = Buffer.alloc(MAX_FD_NAME);
  const control = Buffer.alloc(CMSG_SPACE_ONE_FD);
  const msg = message(payload, control);
  // MSG_CMSG_CLOEXEC: the fd must not leak into whatever this process spawns next.
  const got = retrying(() => Number(recvmsg(socketFd, msg.msghdr, MSG_CMSG_CLOEXEC)));
  if (got < 0) throw new SyscallError('recvmsg', lastErrno(), [socketFd]);
  void msg.keep;
  const controlLen = Number(msg.msghdr.readBigUInt64LE(40));
  const flags = msg.msghdr.readInt32LE(48);
  const cmsgLen = controlLen >= CMSG_HEADER ? Number(control.readBigUInt64LE(0)) : 0;
  const isRights = cmsgLen === CMSG_LEN_ONE_FD && control.readInt32LE(8) === SOL_SOCKET && control.readInt32LE(12) === SCM_RIGHTS;
  const fd = isRights ? control.readInt32LE(CMSG_HEADER) : -1;
  if ((flags & MSG_CTRUNC) !== 0) {
    if (fd >= 0) raw.close(fd);
    throw new SyscallError('recvmsg', EPROTO, [socketFd], 'more ancillary data than one fd (MSG_CTRUNC)');
  }
  if (fd < 0) throw new SyscallError('recvmsg', EPROTO, [socketFd], got === 0 ? 'the peer closed without sending an fd' : 'no SCM_RIGHTS fd came with the message');
  return { fd, name: payload.subarray(0, got).toString() };
}

/**
 * accept(2) one connection on a listening AF_UNIX socket and receive the fd
 * its peer sends (receiveFdOver), then close the connection. It blocks the
 * calling thread until a peer connects and sends.
 */
export function receiveFd(listenFd: number): ReceivedFd {
  const conn = retrying(() => accept4(listenFd, null, null, SOCK_CLOEXEC));
  if (conn < 0) throw new SyscallError('accept4', lastErrno(), [listenFd]);
  try {
    return receiveFdOver(conn);
  } finally {
    raw.close(conn);
  }
}
