// flock(2) on a lock file: several `hull` processes start containers, pull
// images and allocate addresses at once, and each shared file (a bridge's
// leases, images.json, the container store) must see one writer at a time.
// The kernel drops a flock when its holder dies, so a crash never leaves the
// lock taken.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkErrno } from './errors.js';
import { O_CLOEXEC, O_CREAT, O_RDWR } from './flags.js';
import { libc } from './libc.js';
import { close, open } from './syscalls.js';

const rawFlock = libc.func('int flock(int fd, int op)') as (fd: number, op: number) => number;

/** flock(2) operations (<sys/file.h>). */
const LOCK_EX = 2;
const LOCK_UN = 8;

/** Run `fn` while holding an exclusive flock on `path` (created if missing). Blocks until the lock is ours. */
export function withLock<T>(path: string, fn: () => T): T {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
  try {
    // Blocking is fine: every holder only reads and writes a small file (and, in chapter 06, runs nft once).
    checkErrno(rawFlock(fd, LOCK_EX), 'flock', [path, 'LOCK_EX']);
    try {
      return fn();
    } finally {
      rawFlock(fd, LOCK_UN);
    }
  } finally {
    close(fd);
  }
}
