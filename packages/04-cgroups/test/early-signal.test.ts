// A signal must never be lost, however early it comes. The init stage joins
// the cgroup (writes 0 to cgroup.procs) a moment before it execs the command;
// a SIGTERM forwarded in that moment used to reach Node rather than the
// command, and was gone: the step never ended and its cgroup stayed. This
// probe signals the step the instant its init shows up in the cgroup.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, collect, descendants, hostSnapshot, requireRoot, startStep, waitFor, type HostSnapshot } from '@hull/testkit';
import { expectNoLeftovers } from './leftovers.js';
import { stepProcess } from './step-process.js';

const STEP = '04-cgroups';

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

let before: HostSnapshot;
let rootfs = '';
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(async () => {
  await expectNoLeftovers(before, { paths: rootfs ? [rootfs] : [], cgroups: /\/hull\/[0-9a-f]{12}$/ });
  expect(descendants()).toEqual([]);
});

describe.skipIf(!requireRoot(STEP))('04-cgroups: a signal sent while the container starts', () => {
  beforeAll(() => {
    rootfs = busyboxRootfs();
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
