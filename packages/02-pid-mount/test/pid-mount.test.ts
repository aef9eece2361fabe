import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MS_PRIVATE, MS_REC, RecordingSyscalls } from '@hull/sys';
import {
  collect,
  descendants,
  hostSnapshot,
  randomExitCode,
  randomHostname,
  randomToken,
  requireRoot,
  run,
  runStep,
  startStep,
  waitFor,
} from '@hull/testkit';
import { makeMountsPrivate, PID_MOUNT_NAMESPACES } from '../src/index.js';

const CHAPTER = '02-pid-mount';

/** Mount points under `dir` in the host's mount table (the test's own mount namespace is the host's). */
function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[4]!)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** The pid of a process's cmdline, as a list of args. */
function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/**
 * `npx tsx main.ts` is npm -> sh -> tsx -> node --import loader main.ts. The
 * last one is the step: the process a learner's Ctrl-C or a `kill` would hit.
 */
function stepPid(npxPid: number): number | undefined {
  return descendants(npxPid).find((p) => {
    const args = cmdline(p).join(' ');
    return args.includes(`packages/${CHAPTER}/src/main.ts`) && args.includes('loader');
  });
}

/** Every process on the host whose argv is exactly `argv`. */
function processesRunning(argv: string[]): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => cmdline(p).join('\0') === argv.join('\0'));
}

describe('02-pid-mount: unit', () => {
  it('makes every mount private, recursively, starting at /', () => {
    const sys = new RecordingSyscalls();
    makeMountsPrivate(sys);
    expect(sys.calls).toEqual([{ call: 'mount', args: [null, '/', null, MS_REC | MS_PRIVATE, null] }]);
  });

  it('adds pid and mnt to chapter 01 uts', () => {
    expect([...PID_MOUNT_NAMESPACES].sort()).toEqual(['mnt', 'pid', 'uts']);
  });
});

describe.skipIf(!requireRoot(CHAPTER))('02-pid-mount: PID and mount namespaces', () => {
  let work: string;
  let hostname: string;
  beforeAll(() => {
    hostname = hostSnapshot().hostname;
    work = mkdtempSync(join(tmpdir(), 'hull-02-test-'));
  });
  afterAll(() => {
    expect(hostMountsUnder(work)).toEqual([]);
    rmSync(work, { recursive: true, force: true });
    expect(hostSnapshot().hostname).toBe(hostname);
    expect(descendants()).toEqual([]);
  });

  it("runs CMD as PID 1: sh -c 'echo $$' prints 1", async () => {
    const r = await runStep(CHAPTER, ['--', 'sh', '-c', 'echo $$']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\n');
    expect(r.code).toBe(0);
  });

  it("still reads the host's /proc: /proc/self is a host pid, not 1 (chapter 03 mounts a new /proc)", async () => {
    // procfs shows the PID namespace of whoever mounted it, and this /proc was mounted by the host.
    const r = await runStep(CHAPTER, ['--', 'sh', '-c', 'echo $$; readlink /proc/self']);
    const [pid, self] = r.stdout.trim().split('\n').map(Number);
    expect(pid).toBe(1);
    expect(self).toBeGreaterThan(1);
    expect(r.code).toBe(0);
  });

  it("exits with CMD's status, and keeps chapter 01's hostname", async () => {
    const name = randomHostname();
    const code = randomExitCode();
    const r = await runStep(CHAPTER, ['--hostname', name, '--', 'sh', '-c', `hostname; exit ${code}`]);
    expect(r.stdout).toBe(`${name}\n`);
    expect(r.code).toBe(code);
    expect(hostSnapshot().hostname).toBe(hostname);
  });

  describe('mount propagation, against a shared mount like systemd makes "/"', () => {
    let shared: string;
    beforeAll(() => {
      // Our host mounts are private, so a leak could not happen by accident here.
      // Make one directory of ours shared, as systemd makes "/": now a missing
      // MS_PRIVATE would show.
      shared = join(work, `shared-${randomToken()}`);
      mkdirSync(shared);
      execFileSync('mount', ['--bind', shared, shared]);
      execFileSync('mount', ['--make-shared', shared]);
    });
    afterAll(() => {
      // Deepest first; also undoes what a failed test leaked, so the host is clean either way.
      for (const point of hostMountsUnder(shared).reverse()) execFileSync('umount', ['-l', point]);
    });

    it('WRONG: without MS_PRIVATE, a mount made in a new mount namespace appears on the host', async () => {
      // What chapter 02 must prevent, shown with util-linux: a new mount namespace, propagation left as it was.
      const leak = join(shared, `leak-${randomToken()}`);
      mkdirSync(leak);
      const r = await run('unshare', ['--mount', '--propagation', 'unchanged', 'mount', '-t', 'tmpfs', 'hull-leak', leak]);
      expect(r.code).toBe(0);
      try {
        expect(hostMountsUnder(shared)).toEqual([shared, leak]);
      } finally {
        execFileSync('umount', [leak]);
      }
    });

    it('a tmpfs mounted inside never reaches the host: not while CMD runs, not after', async () => {
      const point = join(shared, `tmpfs-${randomToken()}`);
      const ready = join(shared, `ready-${randomToken()}`);
      const stop = join(shared, `stop-${randomToken()}`);
      const inside = join(shared, `inside-${randomToken()}`);
      mkdirSync(point);
      const script = [
        `mount -t tmpfs hull-test ${point}`,
        `grep -c ' ${point} ' /proc/self/mountinfo > ${inside}`,
        `touch ${ready}`,
        `while [ ! -e ${stop} ]; do sleep 0.1; done`,
      ].join(' && ');
      const child = startStep(CHAPTER, ['--', 'sh', '-c', script]);
      const done = collect(child);
      try {
        await waitFor(() => existsSync(ready), 60_000, 'the container to mount its tmpfs');
        // The container sees its mount...
        expect(readFileSync(inside, 'utf8')).toBe('1\n');
        // ...the host, sharing the same directory, does not.
        expect(hostMountsUnder(shared)).toEqual([shared]);
      } finally {
        writeFileSync(stop, '');
      }
      const r = await done;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(hostMountsUnder(shared)).toEqual([shared]);
    });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s to the step ends CMD (sleep, which has no handler) and leaves no process', async (signal) => {
    // A random duration: an argv we can find on the whole host.
    const argv = ['sleep', String(randomInt(100_000, 999_999))];
    const child = startStep(CHAPTER, ['--', ...argv]);
    const done = collect(child);
    let step: number | undefined;
    await waitFor(() => processesRunning(argv).length === 1 && (step = stepPid(child.pid!)) !== undefined, 60_000, 'CMD to start');
    process.kill(step!, signal);
    const r = await done;
    // sleep as PID 1 has no handler: the kernel would drop SIGTERM, so the step sends SIGKILL.
    expect(r.code).toBe(128 + 9);
    expect(processesRunning(argv)).toEqual([]);
    expect(descendants()).toEqual([]);
  });

  it('SIGTERM reaches a CMD that handles it, and its exit status is the step status', async () => {
    const code = randomExitCode();
    const ready = join(work, `ready-${randomToken()}`);
    const child = startStep(CHAPTER, ['--', 'sh', '-c', `trap 'exit ${code}' TERM; touch ${ready}; while :; do sleep 0.1; done`]);
    const done = collect(child);
    let step: number | undefined;
    await waitFor(() => existsSync(ready) && (step = stepPid(child.pid!)) !== undefined, 60_000, 'CMD to set its trap');
    process.kill(step!, 'SIGTERM');
    const r = await done;
    expect(r.code).toBe(code);
    expect(descendants()).toEqual([]);
  });

  it('kills every process of the namespace when PID 1 exits: no orphan survives', async () => {
    const argv = ['sleep', String(randomInt(100_000, 999_999))];
    // The background sleep outlives sh on the host; in a PID namespace, the death of PID 1 takes it along.
    const r = await runStep(CHAPTER, ['--', 'sh', '-c', `${argv.join(' ')} & echo started`]);
    expect(r.stdout).toBe('started\n');
    expect(r.code).toBe(0);
    await waitFor(() => processesRunning(argv).length === 0, 10_000, 'the orphan to be killed');
  });
});

describe('02-pid-mount: bad usage', () => {
  it.each([
    [['--bogus', '--', 'true'], /Unknown option '--bogus'/],
    [[], /missing CMD/],
    [['--hostname', 'a_b!', '--', 'true'], /--hostname "a_b!" may hold only/],
  ])('%j is refused with exit 2 and one usage line', async (args, message) => {
    const r = await runStep(CHAPTER, args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message as RegExp);
  });
});
