// Host side of chapter 04: make the cgroup, run chapter 03's container with
// our init stage (which joins the cgroup before it execs), then kill whatever
// is left inside and remove the cgroup, whatever happened.
import { extname, randomId } from '@hull/01-uts';
import { checkRootfs, runInRootfs, type RootfsRunOptions, type RootfsSpec } from '@hull/03-chroot-proc';
import type { Cgroup, CgroupUsage } from './cgroup.js';
import { createCgroup, type CreateCgroupOptions } from './create.js';
import type { CgroupLimits } from './limits.js';

/** Chapter 03's spec plus where the init stage joins the cgroup. */
export interface CgroupSpec extends RootfsSpec {
  /** The cgroup.procs files of the container's cgroup, one per hierarchy. */
  cgroupProcs: string[];
}

export interface LimitedRunOptions extends Omit<RootfsRunOptions, 'stage'> {
  limits: CgroupLimits;
  /** The cgroup is `hull/<id>`; a random 12-hex-digit id by default, like docker's short ids. */
  id?: string;
  cgroup?: CreateCgroupOptions;
  /**
   * The cgroup's usage when the container has exited, read just before the
   * cgroup is removed: whether the OOM killer struck (docker's OOMKilled),
   * peak memory, CPU time.
   */
  onExit?: (usage: CgroupUsage) => void;
}

/** Run argv in a rootfs under these limits; resolves to its exit code (137 when the OOM killer struck). */
export async function runWithLimits(opts: LimitedRunOptions): Promise<number> {
  const { limits, id, cgroup: cgroupOptions, onExit, ...rootfsOptions } = opts;
  // Refuse a bad rootfs before we create anything on the host.
  checkRootfs(rootfsOptions.rootfs);
  const cgroup = createCgroup(id ?? randomId(), limits, cgroupOptions);
  let code: number;
  try {
    code = await runInRootfsWithCgroup(rootfsOptions, cgroup);
    onExit?.(cgroup.usage());
  } catch (err) {
    // The original failure is the one worth reporting; cleanup is best effort here.
    await cgroup.destroy().catch(() => undefined);
    throw err;
  }
  await cgroup.destroy();
  return code;
}

function runInRootfsWithCgroup(opts: Omit<RootfsRunOptions, 'stage'>, cgroup: Cgroup): Promise<number> {
  const specExtra: Partial<CgroupSpec> = { cgroupProcs: [...cgroup.procsFiles] };
  return runInRootfs({
    ...opts,
    stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url),
    specExtra: { ...opts.specExtra, ...specExtra },
  });
}
