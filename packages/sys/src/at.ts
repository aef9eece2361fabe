// The *at() family: every call names a file relative to a directory fd, so code
// that must stay inside a tree (the layer extractor) resolves a directory once,
// safely, and then touches only the last component, without following it.
// One thin, typed function per syscall; each throws SyscallError.
import { checkErrno, lastErrno, SyscallError } from './errors.js';
import { syscallNumber } from './flags.js';
import { libc, raw } from './libc.js';
import { AT_EMPTY_PATH } from './mountapi.js';

type Fn<A extends unknown[], R> = (...args: A) => R;

const at = {
  openat: libc.func('int openat(int dirfd, const char *path, int flags, uint32_t mode)') as Fn<[number, string, number, number], number>,
  mkdirat: libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)') as Fn<[number, string, number], number>,
  symlinkat: libc.func('int symlinkat(const char *target, int newdirfd, const char *linkpath)') as Fn<[string, number, string], number>,
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)') as Fn<
    [number, string, number, string, number],
    number
  >,
  mknodat: libc.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)') as Fn<[number, string, number, bigint], number>,
  fchownat: libc.func('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)') as Fn<
    [number, string, number, number, number],
    number
  >,
  fchmodat: libc.func('int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)') as Fn<[number, string, number, number], number>,
  utimensat: libc.func('int utimensat(int dirfd, const char *path, const void *times, int flags)') as Fn<[number, string, Buffer, number], number>,
  unlinkat: libc.func('int unlinkat(int dirfd, const char *path, int flags)') as Fn<[number, string, number], number>,
  renameat: libc.func('int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)') as Fn<
    [number, string, number, string],
    number
  >,
  readlinkat: libc.func('intptr_t readlinkat(int dirfd, const char *path, char *buf, size_t size)') as Fn<[number, string, Buffer, number], number>,
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)') as Fn<
    [string, string, Buffer, number, number],
    number
  >,
  lgetxattr: libc.func('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)') as Fn<
    [string, string, Buffer, number],
    number
  >,
  fsetxattr: libc.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)') as Fn<
    [number, string, Buffer, number, number],
    number
  >,
};

/**
 * *at() flags (<linux/fcntl.h>). AT_FDCWD, AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH
 * are exported by mountapi.ts, which needs them too; one name, one export.
 */
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;

/** openat2(2) resolve flags (<linux/openat2.h>). */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
/** Resolve as if dirfd were "/": absolute symlinks and ".." stop at dirfd. */
export const RESOLVE_IN_ROOT = 0x10;
export const RESOLVE_CACHED = 0x20;

/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

const EINVAL = 22;

/**
 * The last component of a path an *at() call acts on must name an entry of
 * the directory, never the directory itself ("." or ""), nor its parent
 * (".."): that is what lets a caller that resolved the directory safely trust
 * that only the last component is touched. An empty path is allowed only with
 * AT_EMPTY_PATH, where it means "the fd itself" on purpose.
 */
function lastComponent(syscall: string, path: string, flags = 0): void {
  if (path === '' && flags & AT_EMPTY_PATH) return;
  const last = path.replace(/\/+$/, '').split('/').pop() ?? '';
  if (last === '' || last === '.' || last === '..') {
    throw new SyscallError(syscall, EINVAL, [path], `the last component is ${JSON.stringify(last)}: *at() calls act on an entry of the directory, never on "." or ".."`);
  }
}

export interface OpenHow {
  flags: number;
  mode?: number;
  resolve: number;
}

/**
 * openat2(2) (Linux 5.6): openat with `resolve` rules the kernel enforces on
 * every component, atomically. glibc 2.36 has no wrapper.
 */
export function openat2(dirfd: number, path: string, how: OpenHow): number {
  lastComponent('openat2', path);
  // struct open_how { u64 flags; u64 mode; u64 resolve; }, in native byte order.
  const buf = Buffer.from(new BigUint64Array([BigInt(how.flags >>> 0), BigInt(how.mode ?? 0), BigInt(how.resolve)]).buffer);
  const ret = raw.syscall(syscallNumber('openat2'), 'int', dirfd, 'const char *', path, 'void *', buf, 'size_t', 24);
  return checkErrno(ret, 'openat2', [dirfd, path]);
}

export function openat(dirfd: number, path: string, flags: number, mode = 0o644): number {
  lastComponent('openat', path);
  return checkErrno(at.openat(dirfd, path, flags, mode), 'openat', [dirfd, path]);
}

export function mkdirat(dirfd: number, path: string, mode: number): void {
  lastComponent('mkdirat', path);
  checkErrno(at.mkdirat(dirfd, path, mode), 'mkdirat', [dirfd, path, octal(mode)]);
}

export function symlinkat(target: string, dirfd: number, path: string): void {
  lastComponent('symlinkat', path);
  checkErrno(at.symlinkat(target, dirfd, path), 'symlinkat', [target, dirfd, path]);
}

/** linkat(2). Without AT_SYMLINK_FOLLOW a symlink at oldpath is linked itself, not its target. */
export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags = 0): void {
  lastComponent('linkat', oldpath, flags);
  lastComponent('linkat', newpath);
  checkErrno(at.linkat(olddirfd, oldpath, newdirfd, newpath, flags), 'linkat', [olddirfd, oldpath, newdirfd, newpath]);
}

export function mknodat(dirfd: number, path: string, mode: number, dev = 0): void {
  lastComponent('mknodat', path);
  checkErrno(at.mknodat(dirfd, path, mode, BigInt(dev)), 'mknodat', [dirfd, path, octal(mode), dev]);
}

export function fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): void {
  lastComponent('fchownat', path, flags);
  checkErrno(at.fchownat(dirfd, path, uid, gid, flags), 'fchownat', [dirfd, path, uid, gid]);
}

/**
 * fchmodat(2). The kernel's fchmodat ignores flags; glibc implements
 * AT_SYMLINK_NOFOLLOW itself (O_PATH open + /proc/self/fd) and fails with
 * EOPNOTSUPP on a symlink, whose mode Linux never uses anyway.
 */
export function fchmodat(dirfd: number, path: string, mode: number, flags: number): void {
  lastComponent('fchmodat', path, flags);
  checkErrno(at.fchmodat(dirfd, path, mode, flags), 'fchmodat', [dirfd, path, octal(mode)]);
}

/** utimensat(2) with whole-second atime and mtime (tar's resolution). */
export function utimensat(dirfd: number, path: string, atime: Date, mtime: Date, flags: number): void {
  lastComponent('utimensat', path, flags);
  // struct timespec[2] { time_t tv_sec; long tv_nsec; } on 64-bit Linux, in native byte order.
  const ts = (d: Date): bigint[] => {
    const ms = d.getTime();
    const sec = Math.floor(ms / 1000);
    return [BigInt(sec), BigInt((ms - sec * 1000) * 1_000_000)];
  };
  const buf = Buffer.from(new BigInt64Array([...ts(atime), ...ts(mtime)]).buffer);
  checkErrno(at.utimensat(dirfd, path, buf, flags), 'utimensat', [dirfd, path]);
}

export function unlinkat(dirfd: number, path: string, flags = 0): void {
  lastComponent('unlinkat', path);
  checkErrno(at.unlinkat(dirfd, path, flags), 'unlinkat', [dirfd, path]);
}

export function renameat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string): void {
  lastComponent('renameat', oldpath);
  lastComponent('renameat', newpath);
  checkErrno(at.renameat(olddirfd, oldpath, newdirfd, newpath), 'renameat', [olddirfd, oldpath, newdirfd, newpath]);
}

export function readlinkat(dirfd: number, path: string): string {
  lastComponent('readlinkat', path, AT_EMPTY_PATH);
  const buf = Buffer.alloc(4096);
  const n = checkErrno(at.readlinkat(dirfd, path, buf, buf.length), 'readlinkat', [dirfd, path]);
  return buf.subarray(0, n).toString('utf8');
}

/** lsetxattr(2): on the path itself, even when it is a symlink. */
export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  lastComponent('lsetxattr', path);
  checkErrno(at.lsetxattr(path, name, value, value.length, flags), 'lsetxattr', [path, name]);
}

export function fsetxattr(fd: number, name: string, value: Buffer, flags = 0): void {
  checkErrno(at.fsetxattr(fd, name, value, value.length, flags), 'fsetxattr', [fd, name]);
}

/** lgetxattr(2): the value of xattr `name` on the path itself, or null when it has none (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | null {
  const buf = Buffer.alloc(65536);
  const n = Number(at.lgetxattr(path, name, buf, buf.length));
  if (n < 0) {
    const errno = lastErrno();
    if (errno === 61 /* ENODATA */) return null;
    throw new SyscallError('lgetxattr', errno, [path, name]);
  }
  return Buffer.from(buf.subarray(0, n));
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
