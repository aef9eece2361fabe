// Step 04 from the outside: run main.ts as a learner would, and watch both
// the container and the host's cgroup files while it runs.
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busyboxRootfs,
  collect,
  descendants,
  hostSnapshot,
  randomExitCode,
  randomHostname,
  requireRoot,
  run,
  runStep,
  startStep,
  waitFor,
  type HostSnapshot,
  settledLeftovers,
} from '@hull/testkit';
import { detectLayout } from '../src/index.js';
import { stepProcess } from './step-process.js';

const STEP = '04-cgroups';
const layout = detectLayout();

/** The file of a controller in cgroup `name` (e.g. "hull/abc"), on either version. */
function cgroupFile(controller: 'pids' | 'memory' | 'cpu', name: string, file: string): string {
  if (layout.version === 2) return `${layout.root}/${name}/${file}`;
  return `${layout.hierarchies[controller]}/${name}/${file}`;
}
const read = (path: string) => readFileSync(path, 'utf8').trim();
const keyed = (path: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(read(path))?.[1] ?? NaN);

/** The cgroup (e.g. "hull/3f2a...") a descendant of ours runs in, as /proc/PID/cgroup tells the host. */
function containerCgroup(): string | undefined {
  for (const pid of descendants()) {
    try {
      const m = /^\d+:(?:pids|):\/(hull\/[^/\n]+)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
      if (m) return m[1];
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

/** The command names (comm) of the processes in cgroup `name` now. */
function cgroupCommands(name: string): string[] {
  return read(cgroupFile('pids', name, 'cgroup.procs'))
    .split('\n')
    .filter(Boolean)
    .map((pid) => {
      try {
        return read(`/proc/${pid}/comm`);
      } catch {
        return ''; // exited meanwhile
      }
    });
}

// After the whole file, bad usage included: no cgroup, mount or process of ours is left.
let before: HostSnapshot;
let rootfs = '';
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(async () => {
  expect(await settledLeftovers(before)).toEqual({});
  expect(descendants()).toEqual([]);
});

describe.skipIf(!requireRoot(STEP))('04-cgroups: limits that bite', () => {
  beforeAll(() => {
    rootfs = busyboxRootfs();
  });

  it('runs CMD inside hull/<id>, with its exit status, and removes the cgroup', async () => {
    const code = randomExitCode();
    const hostname = randomHostname();
    const r = await runStep(STEP, ['--rootfs', rootfs, '--hostname', hostname, '--pids-max', '20', '--', 'sh', '-c', `hostname; cat /proc/self/cgroup; exit ${code}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(code);
    const [seen, ...cgroupLines] = r.stdout.trim().split('\n');
    expect(seen).toBe(hostname);
    const m = /^\d+:(?:pids|):\/(hull\/[0-9a-f]{12})$/m.exec(cgroupLines.join('\n'));
    expect(m).not.toBeNull();
    // The container saw its own cgroup; afterwards the host has no such directory.
    expect(existsSync(cgroupFile('pids', m![1]!, ''))).toBe(false);
  });

  it('a fork bomb stops at --pids-max: CMD can start exactly N-1 children', async () => {
    const n = randomInt(4, 13);
    const r = await runStep(STEP, ['--rootfs', rootfs, '--pids-max', String(n), '--', 'sh', '-c', 'for i in $(seq 1 50); do sleep 30 & echo started $i; done; wait']);
    // sh itself is one of the N tasks; busybox sh gives up at the first failed fork.
    const started = r.stdout.trim().split('\n');
    expect(started).toEqual(Array.from({ length: n - 1 }, (_, i) => `started ${i + 1}`));
    expect(r.stderr).toMatch(/can't fork: Resource temporarily unavailable/);
    expect(r.code).toBe(2);
    // The host can still fork.
    expect((await run('sh', ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do true & done; wait; echo ok'])).stdout).toBe('ok\n');
  });

  it('an endless fork bomb is held at N while it runs, and Ctrl-C-like SIGTERM ends it with nothing left', async () => {
    const n = randomInt(5, 16);
    const child = startStep(STEP, ['--rootfs', rootfs, '--pids-max', String(n), '--', 'sh', '-c', 'while :; do (while :; do sleep 100 & done) 2>/dev/null; done']);
    const done = collect(child, { timeoutMs: 90_000 });
    let name: string | undefined;
    await waitFor(() => (name = containerCgroup()) !== undefined, 60_000, 'the container to join its cgroup');
    const current = cgroupFile('pids', name!, 'pids.current');
    const events = cgroupFile('pids', name!, 'pids.events');
    expect(read(cgroupFile('pids', name!, 'pids.max'))).toBe(String(n));
    await waitFor(() => keyed(events, 'max') > 0, 30_000, 'a fork to be refused');
    // Sample for a while: the bomb keeps pushing, the count never passes N.
    const samples: number[] = [];
    for (let i = 0; i < 40; i++) {
      samples.push(Number(read(current)));
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(Math.max(...samples)).toBeLessThanOrEqual(n);
    expect(samples).toContain(n);
    // The host is not limited: it forks freely meanwhile.
    expect((await run('sh', ['-c', `for i in $(seq 1 ${n + 10}); do true & done; wait; echo ok`])).stdout).toBe('ok\n');

    process.kill(stepProcess(STEP)!, 'SIGTERM');
    const r = await done;
    // PID 1 (sh) has no SIGTERM handler, so it is killed: 128 + SIGKILL.
    expect(r.code).toBe(137);
    expect(existsSync(cgroupFile('pids', name!, ''))).toBe(false);
    expect(descendants()).toEqual([]);
  });

  it('a memory hog over --memory is OOM-killed and the step exits 137, like docker', async () => {
    const r = await runStep(STEP, ['--rootfs', rootfs, '--pids-max', '10', '--memory', '32m', '--', 'sh', '-c', 'x=0123456789abcdef; while :; do x=$x$x; done']);
    expect(r.code).toBe(137);
    expect(r.stderr).toBe('');
  });

  it('a process under --memory is left alone', async () => {
    // 16 bytes doubled 16 times: 1 MiB, well under 32m.
    const r = await runStep(STEP, ['--rootfs', rootfs, '--pids-max', '10', '--memory', '32m', '--', 'sh', '-c', 'x=0123456789abcdef; for i in $(seq 1 16); do x=$x$x; done; echo ${#x}']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${16 * 2 ** 16}\n`);
    expect(r.code).toBe(0);
  });

  it('a busy loop under --cpus gets throttled (nr_throttled grows)', async () => {
    const cpus = randomInt(10, 31) / 100;
    const child = startStep(STEP, ['--rootfs', rootfs, '--pids-max', '10', '--cpus', String(cpus), '--', 'sh', '-c', 'while :; do :; done']);
    const done = collect(child, { timeoutMs: 90_000 });
    let name: string | undefined;
    await waitFor(() => (name = containerCgroup()) !== undefined, 60_000, 'the container to join its cgroup');
    // The init stage joins the cgroup just before execve, and the throttle slows
    // that last stretch too: wait until sh itself runs, so the SIGTERM below
    // never lands in the window between the join and the exec (issue 17, section 4).
    await waitFor(() => cgroupCommands(name!).includes('sh'), 60_000, 'CMD to run in its cgroup');
    const quota = Math.round(cpus * 100_000);
    if (layout.version === 1) expect(read(cgroupFile('cpu', name!, 'cpu.cfs_quota_us'))).toBe(String(quota));
    else expect(read(cgroupFile('cpu', name!, 'cpu.max'))).toBe(`${quota} 100000`);
    await waitFor(() => keyed(cgroupFile('cpu', name!, 'cpu.stat'), 'nr_throttled') > 0, 30_000, 'the loop to be throttled');
    process.kill(stepProcess(STEP)!, 'SIGTERM');
    expect((await done).code).toBe(137);
    expect(existsSync(cgroupFile('cpu', name!, ''))).toBe(false);
  });

  it('an unknown command is 127, and its cgroup is removed all the same', async () => {
    const missing = `no-such-${randomHostname()}`;
    const r = await runStep(STEP, ['--rootfs', rootfs, '--pids-max', '10', '--', missing]);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe(`hull: exec "${missing}": executable file not found in $PATH\n`);
  });

  it('without root: one line that says so, 125, nothing made', async () => {
    // "/" passes the rootfs check for anyone; the cgroup is the first thing only root may make.
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', 'HOME=/tmp', 'npx', 'tsx', `packages/${STEP}/src/main.ts`, '--rootfs', '/', '--pids-max', '5', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^hull: cgroup v[12]: mkdir\(".*\/hull(\/[0-9a-f]{12})?"\): EACCES \(Permission denied\) \(are you root\? try sudo\)\n$/);
  });

  it('a missing rootfs is one line, 125, before any cgroup is made', async () => {
    const r = await runStep(STEP, ['--rootfs', `/nonexistent-${randomHostname()}`, '--pids-max', '10', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^hull: rootfs \/nonexistent-h-[0-9a-f]+: no such directory\n$/);
  });
});

describe('04-cgroups: bad usage', () => {
  it.each([
    [['--pids-max', '-3'], /--pids-max "-3": must be a whole number of at least 1/],
    [['--pids-max', '0'], /--pids-max "0": must be a whole number/],
    [['--pids-max', 'many'], /--pids-max "many": must be a whole number/],
    [['--pids-max', '5', '--memory', 'lots'], /--memory "lots": must be bytes or a size like 512k, 64m, 1g/],
    [['--pids-max', '5', '--memory', '1k'], /--memory "1k": the minimum is 6m/],
    [['--pids-max', '5', '--cpus', '0'], /--cpus "0": must be a number from 0.01 to \d+/],
    [['--pids-max', '5', '--cpus', '-1'], /--cpus "-1": must be a number/],
    [['--pids-max', '5', '--cpus', '1000'], /--cpus "1000": must be a number from 0.01 to \d+ \(the CPUs on this machine\)/],
    [[], /missing --pids-max N/],
    [['--pids-max'], /--pids-max/],
  ])('%j is refused with exit 2 and one line', async (flags, message) => {
    const r = await runStep(STEP, ['--rootfs', '/nonexistent', ...(flags as string[]), '--', 'true']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hull: /);
    expect(lines[0]).toMatch(message as RegExp);
    expect(lines[0]).toContain('(usage: main.ts --rootfs DIR');
  });

  it('refuses a missing --rootfs', async () => {
    const r = await runStep(STEP, ['--pids-max', '5', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hull: missing --rootfs DIR \(usage: /);
  });
});

// A signal must never be lost, however early it comes. The init stage joins
// the cgroup (writes 0 to cgroup.procs) a moment before it execs the command;
// a SIGTERM forwarded in that moment used to reach Node rather than the
// command, and was gone: the step never ended and its cgroup stayed. This
// probe signals the step the instant its init shows up in the cgroup.
function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

describe.skipIf(!requireRoot(STEP))('04-cgroups: a signal sent while the container starts', () => {
  beforeAll(() => {
    rootfs ||= busyboxRootfs();
  });

  it('SIGTERM the instant the init joins its cgroup still ends the command, and nothing is left', async () => {
    let inWindow = 0;
    const tries = 5;
    for (let t = 0; t < tries; t++) {
      const seconds = String(randomInt(100_000, 999_999));
      const child = startStep(STEP, ['--rootfs', rootfs, '--pids-max', '20', '--', 'sleep', seconds]);
      const done = collect(child, { timeoutMs: 60_000 });
      let step: number | undefined;
      await waitFor(() => (step = stepProcess(STEP)) !== undefined, 60_000, 'the step process');
      // Its child is the container's init (the native helper clones it); watch
      // that one process's cgroup in a tight loop, and fire the moment it joins.
      let init: number | undefined;
      let cgroup = '';
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        init ??= Number(readOr(`/proc/${step}/task/${step}/children`).trim().split(' ')[0]) || undefined;
        if (init && /^\d+:(?:pids|):\/hull\/[0-9a-f]{12}$/m.test((cgroup = readOr(`/proc/${init}/cgroup`)))) {
          process.kill(step!, 'SIGTERM');
          break;
        }
      }
      expect(cgroup, 'the init never joined a hull cgroup').toMatch(/hull\/[0-9a-f]{12}/);
      // Was it still our Node init (not yet the command) when the signal went?
      if (!readOr(`/proc/${init}/cmdline`).startsWith(`sleep\0${seconds}`)) inWindow++;
      // A lost signal leaves the step waiting forever: end the command ourselves
      // after a while (so the step still cleans up), and fail.
      let lost = false;
      const guard = setTimeout(() => {
        lost = true;
        try {
          process.kill(init!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 20_000);
      const r = await done;
      clearTimeout(guard);
      expect(lost, 'the SIGTERM was lost: the command never got it').toBe(false);
      // sleep as PID 1 does not handle SIGTERM: the step turns it into SIGKILL, as for a running container.
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(128 + 9);
      expect(readOr(`/proc/${init}/cmdline`)).toBe('');
    }
    // The probe must have hit the window it is about (it does nearly always: the
    // init still has a few milliseconds of JavaScript between the join and execve).
    expect(inWindow).toBeGreaterThan(0);
  });
});
