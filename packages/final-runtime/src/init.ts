// hull's init stage: PID 1 of the container until it execs the command.
// Chapter 03's setupRootfs makes the overlay "/", then the steps only a real
// runtime needs: the working directory, a read-only root, and the user.
// Everything conditional was decided on the host side; this is straight-line.
import { ContainerError, runStage } from '@hull/01-uts';
import { type RootfsSpec, setupRootfs } from '@hull/03-chroot-proc';
import { joinCgroup, openCgroupProcs } from '@hull/04-cgroups';
import { getcwd, linux, mount, MS_BIND, MS_NODEV, MS_RDONLY, MS_REMOUNT } from '@hull/sys';
import { applySecurity, linuxSecurity, type SecuritySpec } from './security/harden.js';
import { trace } from './trace.js';
import { enterWorkdir } from './workdir.js';

export interface HullSpec extends RootfsSpec {
  workdir: string;
  readonly: boolean;
  /** stdio is a pty: PID 1 (a session leader, as always) has it as its controlling terminal, so Ctrl-C and job control work (the native helper sets it). */
  tty: boolean;
  /** Volumes mounted read-only (-v ...:ro), by their path inside. */
  readonlyVolumes: string[];
  uid: number;
  gid: number;
  groups: number[];
  /** The hardening layers, planned on the host side (src/security, docs/hardening.md); they include the user switch. */
  security: SecuritySpec;
  /** The container's cgroup.procs files, one per hierarchy (chapter 04). */
  cgroupProcs: string[];
}

runStage<HullSpec>((spec) => {
  trace('init-start');
  // Opened while the host's /sys/fs/cgroup is still visible, i.e. before pivot_root.
  const cgroupProcs = openCgroupProcs(spec.cgroupProcs);
  setupRootfs(linux, spec);
  enterWorkdir(spec.workdir);
  if (spec.readonly) {
    // "/" is a bind mount of the overlay (setupRootfs); a bind takes MS_RDONLY only on remount.
    // A remount replaces the per-mount flags: restate nodev (setupRootfs), or the image's device nodes would open again.
    mount(null, '/', null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV);
  }
  // Likewise for -v ...:ro: the bind was made read-write by setupRootfs.
  for (const path of spec.readonlyVolumes) mount(null, path, null, MS_REMOUNT | MS_BIND | MS_RDONLY);
  // CVE-2024-21626's class, the last check (enterWorkdir follows no magic link):
  // the kernel's getcwd() marks a cwd that our "/" cannot reach. Refuse it before anything runs there.
  if (!getcwd().startsWith('/')) throw new ContainerError(`working directory ${spec.workdir}: outside the container's root filesystem`);
  // Join as late as we may: Node's own memory must not count against -m. Still
  // as root, because after the user switch cgroup.procs may refuse us.
  joinCgroup(cgroupProcs);
  // Masked paths, rlimits, no_new_privs, the bounding set, the user switch
  // (groups first), capset, ambient, and seccomp last: docs/hardening.md.
  trace('init-security');
  applySecurity(linuxSecurity, spec.security);
  trace('init-exec');
});
