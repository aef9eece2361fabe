// One thin, typed function per syscall. Each throws SyscallError on failure,
// carrying the syscall name, the errno name and the arguments that matter.
import { constants as osConstants } from 'node:os';
import { checkErrno, lastErrno, SyscallError } from './errors.js';
import { F_GETFD, F_SETFD, FD_CLOEXEC, O_CLOEXEC, syscallNumber } from './flags.js';
import { raw } from './libc.js';

export function unshare(flags: number): void {
  checkErrno(raw.unshare(flags), 'unshare', [hex(flags)]);
}

/** Join the namespace behind fd (an /proc/PID/ns/* file or a pidfd). */
export function setns(fd: number, nstype: number): void {
  checkErrno(raw.setns(fd, nstype), 'setns', [fd, hex(nstype)]);
}

export function sethostname(name: string): void {
  checkErrno(raw.sethostname(name, Buffer.byteLength(name)), 'sethostname', [name]);
}

export function gethostname(): string {
  const buf = Buffer.alloc(256);
  checkErrno(raw.gethostname(buf, buf.length), 'gethostname', []);
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  checkErrno(raw.mount(source, target, fstype, flags, data), 'mount', [source, target, fstype]);
}

export function umount2(target: string, flags = 0): void {
  checkErrno(raw.umount2(target, flags), 'umount2', [target]);
}

export function pivotRoot(newRoot: string, putOld: string): void {
  const nr = syscallNumber('pivot_root');
  checkErrno(raw.syscall(nr, 'const char *', newRoot, 'const char *', putOld), 'pivot_root', [newRoot, putOld]);
}

export function chroot(path: string): void {
  checkErrno(raw.chroot(path), 'chroot', [path]);
}

export function chdir(path: string): void {
  checkErrno(raw.chdir(path), 'chdir', [path]);
}

export function fchdir(fd: number): void {
  checkErrno(raw.fchdir(fd), 'fchdir', [fd]);
}

export function envList(env: Record<string, string> | readonly string[]): string[] {
  return Array.isArray(env) ? [...env] : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/**
 * Replace this process. Node marks fds 0-2 close-on-exec, so clear that first,
 * or the new program would start with no stdio. Returns only by throwing.
 */
export function execve(path: string, argv: readonly string[], env: Record<string, string> | readonly string[]): never {
  for (const fd of [0, 1, 2]) setCloexec(fd, false);
  raw.execve(path, [...argv, null], [...envList(env), null]);
  throw new SyscallError('execve', lastErrno(), [path]);
}

export function mknod(path: string, mode: number, dev = 0): void {
  checkErrno(raw.mknod(path, mode, BigInt(dev)), 'mknod', [path, `0${mode.toString(8)}`, dev]);
}

/** makedev(3): combine a major and minor number into a dev_t. */
export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
}

/** pipe2(2): returns [readEnd, writeEnd]. Close-on-exec unless told otherwise. */
export function pipe2(flags = O_CLOEXEC): [number, number] {
  const fds = new Int32Array(2);
  checkErrno(raw.pipe2(fds, flags), 'pipe2', []);
  return [fds[0]!, fds[1]!];
}

export function dup2(oldfd: number, newfd: number): void {
  checkErrno(raw.dup2(oldfd, newfd), 'dup2', [oldfd, newfd]);
}

export function close(fd: number): void {
  checkErrno(raw.close(fd), 'close', [fd]);
}

export function open(path: string, flags: number, mode = 0o644): number {
  return checkErrno(raw.open(path, flags, mode), 'open', [path]);
}

export function read(fd: number, buf: Buffer): number {
  return checkErrno(raw.read(fd, buf, buf.length), 'read', [fd]);
}

export function write(fd: number, buf: Buffer): number {
  return checkErrno(raw.write(fd, buf, buf.length), 'write', [fd]);
}

export function setCloexec(fd: number, on: boolean): void {
  const flags = checkErrno(raw.fcntl(fd, F_GETFD, 0), 'fcntl', [fd, 'F_GETFD']);
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (next !== flags) checkErrno(raw.fcntl(fd, F_SETFD, next), 'fcntl', [fd, 'F_SETFD']);
}

/** Signal numbers by name, as in `kill -l`. */
export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (osConstants.signals as Record<string, number>)[name];
  if (n === undefined) throw new TypeError(`unknown signal ${sig}`);
  return n;
}

export function kill(pid: number, sig: number | string): void {
  const n = signalNumber(sig);
  checkErrno(raw.kill(pid, n), 'kill', [pid, n]);
}

/** How a process ended: an exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

/** The shell's (and docker's) single number for a status: code, or 128+signal. */
export function exitCodeOf(status: ExitStatus): number {
  return status.signal !== null ? 128 + status.signal : (status.code ?? 0);
}

export function decodeWaitStatus(status: number): ExitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

/**
 * waitpid(2). With WNOHANG, returns null while the child is still running.
 * Blocking waits belong in waitExit(), which keeps the event loop free.
 */
export function waitpid(pid: number, options = 0): { pid: number; status: ExitStatus } | null {
  const st = new Int32Array(1);
  for (;;) {
    const ret = raw.waitpid(pid, st, options);
    if (ret < 0) {
      const errno = lastErrno();
      if (errno === 4 /* EINTR */) continue;
      throw new SyscallError('waitpid', errno, [pid]);
    }
    if (ret === 0) return null;
    return { pid: ret, status: decodeWaitStatus(st[0]!) };
  }
}

export function prctl(option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  return checkErrno(raw.prctl(option, a2, a3, a4, a5), 'prctl', [option, a2]);
}

/** close_range(2) (Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11): close, or with flags mark close-on-exec, fds first..last. */
export function closeRange(first: number, last = 0xffffffff, flags = 0): void {
  checkErrno(raw.syscall(syscallNumber('close_range'), 'unsigned int', first, 'unsigned int', last, 'unsigned int', flags), 'close_range', [first, last, flags]);
}

/**
 * getcwd(2), the raw syscall. The kernel prefixes "(unreachable)" when the
 * cwd is outside the caller's root (glibc's getcwd fails with ENOENT instead,
 * and Node's process.cwd() may answer from a cache).
 */
export function getcwd(): string {
  const buf = Buffer.alloc(4096);
  const n = checkErrno(raw.syscall(syscallNumber('getcwd'), 'void *', buf, 'size_t', buf.length), 'getcwd', []);
  return buf.subarray(0, Math.max(0, n - 1)).toString('utf8');
}

/** pidfd_open(2): a file descriptor that refers to a process; readable once it exits. */
export function pidfdOpen(pid: number, flags = 0): number {
  return checkErrno(raw.syscall(syscallNumber('pidfd_open'), 'int', pid, 'unsigned int', flags), 'pidfd_open', [pid]);
}

/** pidfd_send_signal(2): signal the process behind a pidfd; unlike kill(pid), it cannot hit a recycled pid. */
export function pidfdSendSignal(pidfd: number, sig: number | string): void {
  const n = signalNumber(sig);
  checkErrno(raw.syscall(syscallNumber('pidfd_send_signal'), 'int', pidfd, 'int', n, 'void *', null, 'unsigned int', 0), 'pidfd_send_signal', [pidfd, n]);
}

export function setresuid(r: number, e: number, s: number): void {
  checkErrno(raw.setresuid(r, e, s), 'setresuid', [r, e, s]);
}

export function setresgid(r: number, e: number, s: number): void {
  checkErrno(raw.setresgid(r, e, s), 'setresgid', [r, e, s]);
}

export function setgroups(groups: readonly number[]): void {
  checkErrno(raw.setgroups(groups.length, groups.length ? Uint32Array.from(groups) : null), 'setgroups', [groups.join(',')]);
}

export function setsid(): number {
  return checkErrno(raw.setsid(), 'setsid', []);
}

export function umask(mask: number): number {
  return raw.umask(mask);
}

export const getuid = (): number => raw.getuid();
export const geteuid = (): number => raw.geteuid();
export const getgid = (): number => raw.getgid();
export const getegid = (): number => raw.getegid();
export const getpid = (): number => raw.getpid();

/** Non-blocking check: is the caller root (euid 0)? */
export function isRoot(): boolean {
  return raw.geteuid() === 0;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

