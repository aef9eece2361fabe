import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';
import type { Cgroup } from './cgroup.js';
import { type CgroupFs, hostCgroupFs } from './cgroupfs.js';
import { type CgroupLayout, detectLayout } from './layout.js';
import type { CgroupLimits } from './limits.js';
import { CgroupV1 } from './v1.js';
import { CgroupV2 } from './v2.js';

export interface CreateCgroupOptions {
  /** Defaults to what /proc/self/mountinfo says about this host. */
  layout?: CgroupLayout;
  fs?: CgroupFs;
}

/** The existing `hull/<id>` (made by this or another hull process), or null when there is none. */
export function openCgroup(id: string, opts: CreateCgroupOptions = {}): Cgroup | null {
  const layout = opts.layout ?? detectLayout();
  const fs = opts.fs ?? hostCgroupFs;
  return layout.version === 1 ? CgroupV1.open(layout.hierarchies, id, fs, layout.unified) : CgroupV2.open(layout.root, id, fs);
}

/** Create `hull/<id>` with these limits, on whichever cgroup version the host runs. */
export function createCgroup(id: string, limits: CgroupLimits, opts: CreateCgroupOptions = {}): Cgroup {
  const layout = opts.layout ?? detectLayout();
  const fs = opts.fs ?? hostCgroupFs;
  try {
    return layout.version === 1 ? CgroupV1.create(layout.hierarchies, id, limits, fs, layout.unified) : CgroupV2.create(layout.root, id, limits, fs);
  } catch (err) {
    // Only root (or a delegated subtree, which rootless containers need) may make cgroups.
    if (err instanceof SyscallError && (err.code === 'EACCES' || err.code === 'EPERM')) {
      throw new ContainerError(`cgroup v${layout.version}: ${err.message} (are you root? try sudo)`);
    }
    throw err;
  }
}
