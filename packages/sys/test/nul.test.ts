// The koffi boundary (ffi.ts) and the *at() rule (at.ts): a string holding a
// NUL never reaches C, and no *at() call acts on ".", ".." or "". Each call
// here would act one level above `dir` (or on `dir` itself) if the string
// reached libc cut at its NUL; `dir`'s parent holds random markers that must
// stay as they were.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomToken } from '@hull/testkit';
import {
  AT_EMPTY_PATH,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  RESOLVE_IN_ROOT,
  SyscallError,
  chdir,
  close,
  fchmodat,
  fchownat,
  lsetxattr,
  mkdirat,
  mknodat,
  open,
  openat,
  openat2,
  readlinkat,
  refuseNul,
  symlinkat,
  syscallNumber,
  umount2,
  unlinkat,
  utimensat,
} from '../src/index.js';

const top = mkdtempSync(join(tmpdir(), 'hull-sys-nul-'));
const marker = join(top, `marker-${randomToken()}`);
writeFileSync(marker, randomToken());
const dir = join(top, 'dir');
mkdirSync(dir);
const state = (): string[] => [top, marker, dir].map((p) => `${p} ${statSync(p).mode.toString(8)} ${statSync(p).uid}`).concat(readdirSync(top).sort());
const before = state();
const fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

afterAll(() => {
  close(fd);
  expect(state()).toEqual(before);
  rmSync(top, { recursive: true, force: true });
});

function expectEinval(call: () => unknown, syscall: string, why: RegExp): void {
  let error: unknown;
  try {
    call();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(SyscallError);
  expect((error as SyscallError).code).toBe('EINVAL');
  expect((error as SyscallError).syscall).toBe(syscall);
  expect((error as SyscallError).message).toMatch(why);
}

const NUL = /holds a NUL byte/;

describe('sys: NUL-holding strings stop at the koffi boundary', () => {
  it('libc bindings (syscalls.ts)', () => {
    expectEinval(() => chdir('..\0x'), 'chdir', NUL);
    // Harmless even if the guard were gone: dir is no mount point.
    expectEinval(() => umount2(`${dir}\0x`), 'umount2', NUL);
    expectEinval(() => open(`${dir}/..\0x`, O_PATH), 'open', NUL);
  });

  it('*at() bindings (at.ts), libc and raw syscall(2) alike', () => {
    expectEinval(() => fchmodat(fd, '..\0x', 0o777, 0), 'fchmodat', NUL);
    expectEinval(() => fchownat(fd, '..\0x', 4242, 4242, AT_SYMLINK_NOFOLLOW), 'fchownat', NUL);
    expectEinval(() => unlinkat(fd, '..\0x', AT_REMOVEDIR), 'unlinkat', NUL);
    expectEinval(() => symlinkat('..\0/etc', fd, 's'), 'symlinkat', NUL);
    expectEinval(() => lsetxattr(join(dir, 'x'), 'user.a\0b', Buffer.from('v')), 'lsetxattr', NUL);
    // openat2 goes through the variadic syscall(2) binding: its number names it.
    expectEinval(() => openat2(fd, '..\0x', { flags: O_PATH, resolve: RESOLVE_IN_ROOT }), `syscall(${syscallNumber('openat2')})`, NUL);
  });

  it('argument arrays (argv, envp) too', () => {
    expectEinval(() => refuseNul('execve', ['/bin/true', ['true', 'a\0b'], []]), 'execve', NUL);
    expect(() => refuseNul('execve', ['/bin/true', ['true', 'ab', null], []])).not.toThrow();
  });
});

describe('sys: no *at() call acts on ".", ".." or ""', () => {
  const LAST = /the last component is/;
  it.each(['..', '.', '', 'a/..', 'a/.', '../', 'x/../'])('%j', (path) => {
    expectEinval(() => fchmodat(fd, path, 0o777, 0), 'fchmodat', LAST);
    expectEinval(() => fchownat(fd, path, 4242, 4242, AT_SYMLINK_NOFOLLOW), 'fchownat', LAST);
    expectEinval(() => unlinkat(fd, path, AT_REMOVEDIR), 'unlinkat', LAST);
    expectEinval(() => mkdirat(fd, path, 0o700), 'mkdirat', LAST);
    expectEinval(() => mknodat(fd, path, 0o10644), 'mknodat', LAST);
    expectEinval(() => openat(fd, path, O_PATH), 'openat', LAST);
    expectEinval(() => openat2(fd, path, { flags: O_PATH, resolve: RESOLVE_IN_ROOT }), 'openat2', LAST);
    expectEinval(() => utimensat(fd, path, new Date(0), new Date(0), 0), 'utimensat', LAST);
    expectEinval(() => symlinkat('t', fd, path), 'symlinkat', LAST);
  });

  it('an empty path is fine with AT_EMPTY_PATH, where it means the fd itself', () => {
    const link = join(dir, `l-${randomToken(4)}`);
    symlinkat('target', fd, link.slice(dir.length + 1));
    const linkFd = open(link, O_PATH | 0o400000 /* O_NOFOLLOW */);
    try {
      expect(readlinkat(linkFd, '')).toBe('target');
      expect(() => fchownat(linkFd, '', 0, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)).not.toThrow();
    } finally {
      close(linkFd);
      unlinkat(fd, link.slice(dir.length + 1));
    }
  });
});
