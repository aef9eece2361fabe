// Pseudo-terminals for `hull run -t`: a pty pair (posix_openpt(3), whose
// slave end becomes the container's stdio), the window size on the master
// (TIOCSWINSZ: the kernel then sends SIGWINCH to the foreground job), and
// TIOCSCTTY to make the slave the controlling terminal of a new session.
// One thin, typed function per call; each throws SyscallError.
import { checkErrno, SyscallError } from './errors.js';
import { O_CLOEXEC, O_NOCTTY, O_RDWR } from './flags.js';
import { libc } from './libc.js';
import { close, open } from './syscalls.js';

type Fn<A extends unknown[], R> = (...args: A) => R;

const pty = {
  posix_openpt: libc.func('int posix_openpt(int flags)') as Fn<[number], number>,
  grantpt: libc.func('int grantpt(int fd)') as Fn<[number], number>,
  unlockpt: libc.func('int unlockpt(int fd)') as Fn<[number], number>,
  ptsname_r: libc.func('int ptsname_r(int fd, char *buf, size_t len)') as Fn<[number, Buffer, number], number>,
  // ioctl(2) is variadic; both requests here take a pointer or an int as the third argument.
  ioctlPtr: libc.func('int ioctl(int fd, unsigned long request, void *arg)') as Fn<[number, number, Buffer], number>,
  ioctlInt: libc.func('int ioctl(int fd, unsigned long request, int arg)') as Fn<[number, number, number], number>,
};

/** From asm-generic/ioctls.h (x86_64 and arm64 alike). */
export const TIOCSCTTY = 0x540e;
export const TIOCSWINSZ = 0x5414;
export const TIOCGWINSZ = 0x5413;

export interface PtyPair {
  master: number;
  slave: number;
  /** The slave's path in the devpts instance it came from, e.g. /dev/pts/3. */
  path: string;
}

/** A new pty pair, both ends close-on-exec; the slave is not made our controlling terminal. */
export function openPty(): PtyPair {
  const master = checkErrno(pty.posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), 'posix_openpt', []);
  try {
    checkErrno(pty.grantpt(master), 'grantpt', [master]);
    checkErrno(pty.unlockpt(master), 'unlockpt', [master]);
    const buf = Buffer.alloc(128);
    // ptsname_r returns the error number itself instead of setting errno.
    const err = pty.ptsname_r(master, buf, buf.length);
    if (err !== 0) throw new SyscallError('ptsname_r', err, [master]);
    const path = buf.subarray(0, buf.indexOf(0)).toString();
    const slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    return { master, slave, path };
  } catch (err) {
    close(master);
    throw err;
  }
}

/** struct winsize {rows, cols, xpixel, ypixel}, four unsigned shorts. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  checkErrno(pty.ioctlPtr(fd, TIOCSWINSZ, ws), 'ioctl(TIOCSWINSZ)', [fd, rows, cols]);
}

export function getWindowSize(fd: number): { rows: number; cols: number } {
  const ws = Buffer.alloc(8);
  checkErrno(pty.ioctlPtr(fd, TIOCGWINSZ, ws), 'ioctl(TIOCGWINSZ)', [fd]);
  return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
}

/** Make the terminal on fd the controlling terminal of our session (we must lead one: setsid first). */
export function setControllingTerminal(fd: number): void {
  checkErrno(pty.ioctlInt(fd, TIOCSCTTY, 0), 'ioctl(TIOCSCTTY)', [fd]);
}

const TIOCGPTN = 0x80045430;

/**
 * A new pty pair from a given ptmx, e.g. a container's own devpts instance
 * (`ROOTFS/dev/pts/ptmx`) before pivot_root: the slave then is /dev/pts/N
 * inside the container, as runc's console is. ptsname(3) would build a path
 * in *our* /dev/pts, so the number comes from TIOCGPTN instead.
 */
export function openPtyAt(ptmx: string): PtyPair {
  const master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  try {
    checkErrno(pty.unlockpt(master), 'unlockpt', [master]);
    const n = Buffer.alloc(4);
    checkErrno(pty.ioctlPtr(master, TIOCGPTN, n), 'ioctl(TIOCGPTN)', [master]);
    const dir = ptmx.slice(0, ptmx.lastIndexOf('/'));
    const slave = open(`${dir}/${n.readUInt32LE(0)}`, O_RDWR | O_NOCTTY | O_CLOEXEC);
    return { master, slave, path: `/dev/pts/${n.readUInt32LE(0)}` };
  } catch (err) {
    close(master);
    throw err;
  }
}
