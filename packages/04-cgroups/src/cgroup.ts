// One Cgroup interface, two implementations (v1.ts, v2.ts) chosen by
// detecting the host. Every cgroup hull makes lives under `hull/<id>` and is
// removed when the container ends: we never write to a cgroup we did not
// create, except to enable controllers for our own `hull` parent on v2.
import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';
import { type CgroupFs, parsePids } from './cgroupfs.js';
import type { CgroupLimits } from './limits.js';

/** The parent of every hull cgroup, in each hierarchy. */
export const CGROUP_PARENT = 'hull';

/** What a container used, read back from the cgroup; null where the controller is absent. */
export interface CgroupUsage {
  pidsCurrent: number | null;
  memoryBytes: number | null;
  memoryPeakBytes: number | null;
  cpuUsageUsec: number | null;
  /** CFS periods in which the cgroup ran out of quota and had to wait. */
  nrThrottled: number | null;
  throttledUsec: number | null;
  /** Processes the kernel's OOM killer killed in this cgroup. */
  oomKills: number | null;
}

export interface Cgroup {
  readonly version: 1 | 2;
  /** `hull/<id>`, relative to each hierarchy's root. */
  readonly name: string;
  /** The directories we created: one per v1 hierarchy, one on v2. */
  readonly dirs: readonly string[];
  /** Writing a pid (or 0, "myself") to each of these moves that process into the cgroup. */
  readonly procsFiles: readonly string[];
  readonly limits: CgroupLimits;
  /** Move a process (with all its threads) in, from the host side. */
  add(pid: number): void;
  /** Every process in the cgroup now (host pids). */
  pids(): number[];
  usage(): CgroupUsage;
  /**
   * Deny every device open and mknod except these rules (v1's devices.allow
   * syntax, "c 1:3 rwm"), for every process in the cgroup: an eBPF program
   * on v2, and in a hybrid host's unified tree. Throws when the kernel refuses it.
   */
  limitDevices(rules: readonly string[]): void;
  /** Where limitDevices attaches its program; null when this cgroup has no v2 directory (pure v1). */
  readonly deviceProgramDir: string | null;
  /** Kill whatever is left inside, then remove the directories. Safe to call twice. */
  destroy(opts?: DrainOptions): Promise<void>;
}

/**
 * A container's cgroup under `hull/`: one path component (hull's own ids), or
 * a few of them for an OCI runtime's cgroupsPath ("podman-1/libpod-abc").
 * Each component: no "/", no ".." or ".", nothing a shell would mangle.
 */
export function checkCgroupId(id: string): string {
  const parts = id.split('/');
  if (parts.length > 8 || !parts.every((p) => /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(p) && !/^\.+$/.test(p))) {
    throw new ContainerError(`cgroup id ${JSON.stringify(id)}: use letters, digits, "_", ".", ":" and "-" (at most 128), at most 8 components joined by "/"`);
  }
  return id;
}

/** The directories between `base` (exclusive) and `base/name` (exclusive): `hull`, `hull/a`, ... for `hull/a/b`. */
export function ancestorsOf(base: string, name: string): string[] {
  const parts = name.split('/');
  return parts.slice(0, -1).map((_, i) => `${base}/${parts.slice(0, i + 1).join('/')}`);
}

/** mkdir that accepts an existing directory: the shared `hull` parent outlives every container. */
export function ensureDir(fs: CgroupFs, path: string): void {
  try {
    fs.mkdir(path);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'EEXIST')) throw err;
  }
}

/** mkdir for the container's own cgroup: it must be new, or two containers would share limits. */
export function makeOwnDir(fs: CgroupFs, path: string, name: string): void {
  try {
    fs.mkdir(path);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') throw new ContainerError(`cgroup ${name} already exists (${path})`);
    throw err;
  }
}

/** Read a number file, or null when the file does not exist (an absent controller or an old kernel). */
export function readNumber(fs: CgroupFs, path: string): number | null {
  if (!fs.exists(path)) return null;
  const text = fs.read(path).trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

export interface DrainOptions {
  /** How long to keep killing before giving up; a fork bomb may race us for a while. */
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Kill every process in `dirs` and rmdir them, repeating until they are gone:
 * a process can fork between our read of cgroup.procs and the SIGKILL, and
 * rmdir fails with EBUSY while any task remains. Bounded by timeoutMs.
 */
export async function drainAndRemove(fs: CgroupFs, name: string, dirs: readonly string[], opts: DrainOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const interval = opts.intervalMs ?? 20;
  let remaining: number[] = [];
  for (;;) {
    const left = dirs.filter((d) => fs.exists(d));
    if (left.length === 0) return;
    remaining = [];
    for (const dir of left) {
      for (const pid of parsePids(fs.read(`${dir}/cgroup.procs`))) {
        remaining.push(pid);
        fs.killMember(pid, dir);
      }
    }
    if (remaining.length === 0) {
      for (const dir of left) {
        try {
          fs.rmdir(dir);
        } catch (err) {
          // EBUSY: a task is still on its way out; ENOENT: someone else finished the job.
          if (!(err instanceof SyscallError && (err.code === 'EBUSY' || err.code === 'ENOENT'))) throw err;
        }
      }
    }
    if (Date.now() > deadline) {
      throw new ContainerError(`cgroup ${name}: could not remove it: processes ${remaining.join(', ') || '(none listed)'} still inside after ${opts.timeoutMs ?? 10_000} ms`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Undo a half-made cgroup after a failed create: remove the directories made so far, newest first. */
export function removeDirs(fs: CgroupFs, dirs: readonly string[]): void {
  for (const dir of [...dirs].reverse()) {
    try {
      fs.rmdir(dir);
    } catch {
      // nothing can be inside yet; a failure here must not hide the original error
    }
  }
}
