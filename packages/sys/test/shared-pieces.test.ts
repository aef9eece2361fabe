// The pieces packages/sys holds once for the whole project (issue 14 §5):
// the errno converter, the one library handle, the /proc/PID/stat reader and
// withLock. Each is checked against the kernel, never against itself.
import { spawn as spawnChild } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkErrno, errnoValue, libc, loadLibrary, procStat, processStartTime, SyscallError, withLock } from '@hull/sys';
import { randomToken } from '@hull/testkit';

const scratch = mkdtempSync(join(tmpdir(), 'hull-sys-shared-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('checkErrno, the one errno converter', () => {
  it('returns a successful call\'s value and turns -1 into SyscallError with the errno the kernel set', () => {
    const access = libc.func('int access(const char *path, int mode)') as (path: string, mode: number) => number;
    expect(checkErrno(access(scratch, 0), 'access', [scratch])).toBe(0);
    const missing = join(scratch, `missing-${randomToken()}`);
    let caught: unknown;
    try {
      checkErrno(access(missing, 0), 'access', [missing]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SyscallError);
    expect((caught as SyscallError).errno).toBe(errnoValue('ENOENT'));
    expect((caught as SyscallError).message).toBe(`access("${missing}"): ENOENT (No such file or directory)`);
  });

  it('reads a bigint return (raw syscall(2)) as a number', () => {
    expect(checkErrno(7n, 'x', [])).toBe(7);
  });
});

describe('one handle per library', () => {
  it('gives the same guarded libc to every caller, and its bindings still refuse a NUL', () => {
    expect(loadLibrary('libc.so.6')).toBe(libc);
    const access = loadLibrary('libc.so.6').func('int access(const char *path, int mode)') as (path: string, mode: number) => number;
    expect(() => access(`${scratch}\0x`, 0)).toThrow(/NUL byte/);
  });
});

describe('procStat, the one /proc/PID/stat reader', () => {
  it('reads a live child: its parent, its state, and a start time no earlier than ours', async () => {
    // A command name with a blank and a ")" in it: the fields after it must still be found.
    const program = join(scratch, `a) b${randomToken().slice(0, 4)}`);
    copyFileSync('/bin/sleep', program);
    chmodSync(program, 0o755);
    const child = spawnChild(program, ['30'], { stdio: 'ignore' });
    try {
      await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
      const pid = child.pid!;
      const stat = procStat(pid);
      expect(stat).not.toBeNull();
      expect(stat!.ppid).toBe(process.pid);
      expect(['R', 'S']).toContain(stat!.state);
      expect(stat!.startTime).toBeGreaterThanOrEqual(processStartTime(process.pid));
      expect(processStartTime(pid)).toBe(stat!.startTime);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says "gone" for a pid that names no process', () => {
    const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    let pid = max - 1;
    while (existsSync(`/proc/${pid}`)) pid--;
    expect(procStat(pid)).toBeNull();
    expect(processStartTime(pid)).toBe(0);
  });
});

describe('withLock', () => {
  it('creates the lock file, runs the function once and returns its value', () => {
    const path = join(scratch, `locks-${randomToken()}`, 'x.lock');
    const token = randomToken();
    expect(withLock(path, () => token)).toBe(token);
    expect(existsSync(path)).toBe(true);
  });

  it('makes a second process wait until the holder lets go', async () => {
    const path = join(scratch, `held-${randomToken()}.lock`);
    const log = join(scratch, `order-${randomToken()}`);
    writeFileSync(log, '');
    // The child takes the same flock with flock(1) and appends once it has it.
    let child: ReturnType<typeof spawnChild> | undefined;
    withLock(path, () => {
      child = spawnChild('/usr/bin/flock', [path, '/bin/sh', '-c', `echo child >> ${log}`], { stdio: 'ignore' });
      // Let the child reach its flock(2) while we hold the lock.
      const until = Date.now() + 300;
      while (Date.now() < until);
      writeFileSync(log, `${readFileSync(log, 'utf8')}holder\n`);
    });
    await new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    expect(readFileSync(log, 'utf8')).toBe('holder\nchild\n');
  });
});
