// Chapter 04's init stage: chapter 03's setup, plus joining the cgroup as
// the very last step before execve, so that neither Node's own threads nor
// its memory count against the container's limits, and CMD starts inside.
import { runStage } from '@hull/01-uts';
import { setupRootfs } from '@hull/03-chroot-proc';
import { linux } from '@hull/sys';
import { joinCgroup, openCgroupProcs } from './join.js';
import type { CgroupSpec } from './run.js';

runStage<CgroupSpec>((spec) => {
  const cgroupProcs = openCgroupProcs(spec.cgroupProcs); // before pivot_root hides the host's /sys/fs/cgroup
  setupRootfs(linux, spec);
  joinCgroup(cgroupProcs);
});
