// Step 04: run a command in its own rootfs, under cgroup limits.
//   sudo npx tsx packages/04-cgroups/src/main.ts --rootfs DIR [--hostname N] --pids-max N [--memory 64m] [--cpus 0.5] [--id ID] [--print-spec] -- CMD...
import { stepMain } from '@hull/01-uts';
import { runWithLimits } from './run.js';
import { CGROUP_FLAGS, cgroupOptions, cgroupSpecFromFlags } from './spec.js';

await stepMain({
  flags: CGROUP_FLAGS,
  about: "Run CMD in chapter 03's container, inside a cgroup with these limits; the cgroup goes when CMD exits.",
  spec: cgroupSpecFromFlags,
  run: (spec) => runWithLimits(cgroupOptions(spec)),
});
