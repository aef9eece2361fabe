// Chapter 07's init stage: chapter 03's rootfs setup, then what the image
// config asks for: the working directory and the user. Chapter 04's cgroup is
// joined (when there is one) right before the user is dropped: writing to
// cgroup.procs needs root, and nothing of Node's setup should count against
// the limits.
import { runStage } from '@hull/01-uts';
import { type RootfsSpec, setupRootfs } from '@hull/03-chroot-proc';
import { joinCgroup, openCgroupProcs } from '@hull/04-cgroups';
import { linux, setgroups, setresgid, setresuid, SyscallError } from '@hull/sys';

export interface ImageSpec extends RootfsSpec {
  workdir: string;
  user: { uid: number; gid: number; groups: number[] };
  /** chapter 04: the cgroup.procs files to join; empty without limits */
  cgroupProcs: string[];
}

runStage<ImageSpec>((spec) => {
  const cgroupProcs = openCgroupProcs(spec.cgroupProcs); // before pivot_root hides the host's /sys/fs/cgroup
  setupRootfs(linux, spec);
  // docker creates a missing WorkingDir; doing it here, after pivot_root,
  // means an image's symlink cannot point the mkdir at the host.
  try {
    linux.chdir(spec.workdir);
  } catch (err) {
    if (!(err instanceof SyscallError) || err.code !== 'ENOENT') throw err;
    linux.mkdir(spec.workdir, 0o755);
    linux.chdir(spec.workdir);
  }
  joinCgroup(cgroupProcs);
  // Groups first: after setresuid we would no longer be allowed to change them.
  setgroups(spec.user.groups);
  setresgid(spec.user.gid, spec.user.gid, spec.user.gid);
  setresuid(spec.user.uid, spec.user.uid, spec.user.uid);
});
