import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  errnoName,
  errnoValue,
  exitCodeOf,
  gethostname,
  mount,
  namespaceFlags,
  CLONE_NEWUTS,
  CLONE_NEWPID,
  pipe2,
  close,
  RecordingSyscalls,
  readToEnd,
  spawn,
  SyscallError,
  decodeWaitStatus,
  write,
} from '@hull/sys';
import { isRoot, randomExitCode, randomToken, requireRoot } from '@hull/testkit';

describe('errno naming', () => {
  it('names errno values like the C headers', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(16)).toBe('EBUSY');
    expect(errnoValue('EINVAL')).toBe(22);
    expect(errnoName(9999)).toBe('E9999');
  });

  it('formats a SyscallError like strace', () => {
    const err = new SyscallError('mount', 1, ['proc', '/x/proc', 'proc']);
    expect(err.message).toBe('mount("proc", "/x/proc", "proc"): EPERM (Operation not permitted)');
    expect(err.code).toBe('EPERM');
    expect(err.syscall).toBe('mount');
  });

  it('throws a SyscallError with the errno name from a real failing call', () => {
    const target = `/nonexistent-${randomToken()}/proc`;
    let caught: unknown;
    try {
      mount('proc', target, 'proc', 0);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SyscallError);
    const e = caught as SyscallError;
    // As root the path is missing (ENOENT); as a user the kernel refuses first (EPERM).
    expect(e.code).toBe(isRoot ? 'ENOENT' : 'EPERM');
    expect(e.message).toBe(`mount("proc", "${target}", "proc"): ${e.code} (${isRoot ? 'No such file or directory' : 'Operation not permitted'})`);
  });
});

describe('flags and statuses', () => {
  it('ORs namespace flags', () => {
    expect(namespaceFlags(['uts', 'pid'])).toBe((CLONE_NEWUTS | CLONE_NEWPID) >>> 0);
  });
  it('decodes wait statuses', () => {
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null });
    expect(decodeWaitStatus(9)).toEqual({ code: null, signal: 9 });
    expect(exitCodeOf({ code: null, signal: 15 })).toBe(143);
  });
  it('reads a pipe to EOF without blocking', async () => {
    const [r, w] = pipe2();
    const token = randomToken(32);
    const done = readToEnd(r);
    write(w, Buffer.from(token));
    close(w);
    expect((await done).toString()).toBe(token);
  });
  it('records calls in a RecordingSyscalls double', () => {
    const sys = new RecordingSyscalls();
    sys.mount('proc', '/proc', 'proc', 0);
    sys.sethostname('x');
    expect(sys.calls.map((c) => c.call)).toEqual(['mount', 'sethostname']);
    expect(sys.of('mount')).toEqual([['proc', '/proc', 'proc', 0, null]]);
  });
});

describe('spawn', () => {
  it('execs a program, passes env and reports its exit code', async () => {
    const code = randomExitCode();
    const token = randomToken();
    const [r, w] = pipe2();
    const child = await spawn({ argv: ['/bin/sh', '-c', `printf %s "$T"; exit ${code}`], env: { T: token }, stdio: [0, w, 2] });
    close(w);
    const out = readToEnd(r);
    expect(exitCodeOf(await child.exited)).toBe(code);
    expect((await out).toString()).toBe(token);
  });

  it('throws execve ENOENT for a missing program and leaves no child', async () => {
    await expect(spawn({ argv: [`/nonexistent/${randomToken()}`], env: {} })).rejects.toThrow(/^execve\(".*"\): ENOENT/);
  });

  it('kills and reaps the child when beforeStart throws', async () => {
    let seen = 0;
    await expect(
      spawn({
        argv: ['/bin/true'],
        env: {},
        beforeStart: (pid) => {
          seen = pid;
          throw new Error('setup failed');
        },
      }),
    ).rejects.toThrow('setup failed');
    expect(seen).toBeGreaterThan(0);
    expect(() => readFileSync(`/proc/${seen}/status`)).toThrow();
  });

  it.skipIf(!requireRoot('spawn into namespaces'))('spawns into a new UTS+PID namespace: the child is PID 1 with its own hostname', async () => {
    const [r, w] = pipe2();
    const child = await spawn({ argv: ['/bin/sh', '-c', 'echo $$; hostname'], env: {}, namespaces: ['uts', 'pid'], stdio: [0, w, 2] });
    close(w);
    const out = readToEnd(r);
    expect(exitCodeOf(await child.exited)).toBe(0);
    const [pid, host] = (await out).toString().trim().split('\n');
    expect(pid).toBe('1');
    expect(host).toBe(gethostname());
  });

  it.skipIf(!requireRoot('spawn into a user namespace'))('becomes root of a new user namespace after the parent writes the maps', async () => {
    const [r, w] = pipe2();
    const child = await spawn({
      argv: ['/bin/sh', '-c', 'id -u; id -g; cat /proc/self/uid_map'],
      env: {},
      namespaces: ['user'],
      stdio: [0, w, 2],
      beforeStart: (pid) => {
        writeFileSync(`/proc/${pid}/uid_map`, '0 123000 1000\n');
        writeFileSync(`/proc/${pid}/setgroups`, 'deny');
        writeFileSync(`/proc/${pid}/gid_map`, '0 123000 1000\n');
      },
    });
    close(w);
    const out = readToEnd(r);
    expect(exitCodeOf(await child.exited)).toBe(0);
    const lines = (await out).toString().trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['0', '0']);
    expect(lines[2]!.trim().split(/\s+/)).toEqual(['0', '123000', '1000']);
  });
});
