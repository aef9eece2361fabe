// Path resolution inside the target. Every entry is written relative to one
// directory fd of the target, so nothing in the layer (names, symlinks,
// hardlinks) can make us touch a file outside it:
//
//   1. the entry's parent directory is opened with openat2(rootFd, parent,
//      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): the kernel resolves every
//      component as if rootFd were "/", so an absolute symlink or a ".." in a
//      symlink stops at the target, exactly as a chroot would see it;
//   2. the last component is then created with an *at() call that never
//      follows it (O_CREAT|O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, mknodat,
//      symlinkat), after removing whatever was there (removeAt, below).
import { fstatSync, readdirSync, type Stats } from 'node:fs';
import {
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  SyscallError,
  close,
  fchmodat,
  mkdirat,
  open,
  openat,
  openat2,
  unlinkat,
} from '@hull/sys';

const DIR_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/** A directory fd of the target, and everything we need to resolve paths inside it. */
export class Target {
  readonly rootFd: number;

  constructor(readonly path: string) {
    // A real fd (not O_PATH): the target's own mode, owner, times and opaque
    // xattr are set on it, since no *at() call may name "." (packages/sys at.ts).
    this.rootFd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }

  /** An O_PATH fd of the directory at `parts`, resolved inside the target. */
  openDir(parts: readonly string[], extraResolve = 0): number {
    // The target itself: a fresh fd of it, through our own fd's /proc link.
    if (parts.length === 0) return open(procPath(this.rootFd), O_PATH | O_DIRECTORY | O_CLOEXEC);
    const path = parts.join('/');
    for (let attempt = 0; ; attempt++) {
      try {
        return openat2(this.rootFd, path, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, resolve: DIR_RESOLVE | extraResolve });
      } catch (err) {
        // RESOLVE_IN_ROOT answers EAGAIN when a rename raced with a ".." lookup: retry, a few times.
        if (err instanceof SyscallError && err.code === 'EAGAIN' && attempt < 8) continue;
        throw err;
      }
    }
  }

  /** Like openDir, but null when the directory does not exist. */
  openDirIfExists(parts: readonly string[]): number | null {
    try {
      return this.openDir(parts);
    } catch (err) {
      if (err instanceof SyscallError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null;
      throw err;
    }
  }

  /**
   * The directory at `parts`, creating missing ones (0755, like tar and docker
   * do for parents a layer does not list). Each mkdirat happens in a parent
   * resolved inside the target, and mkdirat never follows its last component.
   */
  ensureDir(parts: readonly string[]): number {
    try {
      return this.openDir(parts);
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === 'ENOENT' && parts.length > 0)) throw err;
    }
    const parentFd = this.ensureDir(parts.slice(0, -1));
    const name = parts[parts.length - 1]!;
    try {
      mkdirat(parentFd, name, 0o755);
      fchmodat(parentFd, name, 0o755, AT_SYMLINK_NOFOLLOW); // mkdirat obeys the umask
    } catch (err) {
      // EEXIST: something is there but did not resolve to a directory (a
      // dangling symlink, say); openDir below reports it.
      if (!(err instanceof SyscallError && err.code === 'EEXIST')) throw err;
    } finally {
      close(parentFd);
    }
    return this.openDir(parts);
  }

  close(): void {
    close(this.rootFd);
  }
}

/** lstat of dirFd/name, or null. O_PATH|O_NOFOLLOW opens even a symlink or a device without side effects. */
export function lstatAt(dirFd: number, name: string): Stats | null {
  let fd: number;
  try {
    fd = openat(dirFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENOENT') return null;
    throw err;
  }
  try {
    return fstatSync(fd);
  } finally {
    close(fd);
  }
}

/** rm -rf dirFd/name without ever following a symlink. */
export function removeAt(dirFd: number, name: string): void {
  try {
    unlinkat(dirFd, name, 0);
    return;
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENOENT') return;
    if (!(err instanceof SyscallError && err.code === 'EISDIR')) throw err;
  }
  const fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const child of readdirSync(procPath(fd))) removeAt(fd, child);
  } finally {
    close(fd);
  }
  unlinkat(dirFd, name, AT_REMOVEDIR);
}

/**
 * A path naming `name` inside the directory open as `dirFd`. The kernel jumps
 * straight to the directory through the /proc magic link; only `name` is then
 * looked up, and the l*() calls we use with it do not follow it.
 */
export function procPath(dirFd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`;
}
