// The cgroup v2 project: the test files the guest (tools/cgroup2/harness.mjs)
// runs on a real, pure cgroup2 kernel. Tests that apply only to v1 are not
// here at all (so nothing "skips"); those that are here must run and pass,
// under CI=true, as everywhere. Each file is listed for what it proves on v2:
import { defineConfig } from 'vitest/config';
import { cgroupVersion, hullProject, repoRoot } from '../vitest.shared.js';

export const CGROUP2_FILES = {
  '04-cgroups': [
    // CgroupV2 against the kernel itself: controllers handed down to hull/<id>,
    // the no-internal-processes rule, limits that bite, memory.events oom_kill,
    // cgroup.kill emptying a forking tree.
    'test/v2-kernel.test.ts',
    // runWithLimits reports the OOM kill and usage read from the v2 files.
    'test/run.test.ts',
    // detectLayout finds the unified tree on this host.
    'test/layout.test.ts',
    // The cgroup v2 device program (BPF_CGROUP_DEVICE) attached to the
    // container's own cgroup, with no v1 devices cgroup anywhere: a child moved
    // in opens and mknods only what the rules allow.
    'test/device-program-kernel.test.ts',
  ],
  'final-runtime': [
    // hull run -m / --cpus / --pids-limit and hull stats, end to end, and the
    // OOM kill counted in the container's memory.events.
    'test/limits.test.ts',
    // hull run and hull exec under the device program on the path a pure v2
    // host takes for real (on our hybrid hosts HULL_DEVICE_CONTROL=program
    // only imitates it): mknod'd and volume nodes refused, /dev/null & co kept.
    'test/devices.test.ts',
  ],
} as const;

/**
 * Run only with HULL_CGROUP2_SLOW=1: under TCG emulation each `npx tsx` of a
 * step costs about a minute on a loaded 2-core machine, so these would take the
 * guest past the CI budget. What they prove on v2, v2-kernel.test.ts and
 * final-runtime's limits.test.ts prove through cheaper entry points.
 */
export const CGROUP2_SLOW_FILES = {
  // main.ts from the outside: --pids-max holds a fork bomb, --memory
  // OOM-kills (137), --cpus throttles (cpu.max, cpu.stat nr_throttled).
  '04-cgroups': ['test/step.test.ts'],
} as const;

const slow = process.env.HULL_CGROUP2_SLOW === '1';

// This project is for a v2 kernel only: refuse to load anywhere else, so a
// guest that came up hybrid fails loudly instead of testing v1.
if (cgroupVersion() !== 2) throw new Error('tools/cgroup2/vitest.config.ts: this kernel runs cgroup v1; the cgroup v2 project runs only on a pure cgroup2 host (npm run test:cgroup2)');

const report = process.env.HULL_GUEST_REPORT;

export default defineConfig({
  test: {
    projects: [
      hullProject(`${repoRoot}/packages/04-cgroups`, {
        include: [...CGROUP2_FILES['04-cgroups'], ...(slow ? CGROUP2_SLOW_FILES['04-cgroups'] : [])],
      }),
      // The registries come from chapter 07's globalSetup, as in final-runtime's own config.
      hullProject(`${repoRoot}/packages/final-runtime`, {
        include: [...CGROUP2_FILES['final-runtime']],
        globalSetup: [`${repoRoot}/packages/07-oci-pull/test/registries.setup.ts`],
      }),
    ],
    // verbose: each test as it ends, so the serial console shows progress during a slow emulated run.
    reporters: ['verbose', `${repoRoot}/tools/no-skip-reporter.ts`, ...(report ? [['json', { outputFile: report }] as ['json', { outputFile: string }]] : [])],
  },
});
