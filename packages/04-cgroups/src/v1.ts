// cgroup v1: every controller is its own hierarchy, mounted at
// /sys/fs/cgroup/<controller> (or several together, e.g. "cpu,cpuacct").
// A container's cgroup is one directory per hierarchy, and a process joins by
// writing its pid to cgroup.procs in each.
//
// On a hybrid host (v1 hierarchies plus a controller-less cgroup2 mount at
// /sys/fs/cgroup/unified) the container also gets `hull/<id>` in the unified
// tree. It limits nothing by itself, but cgroup BPF programs run on a task's
// cgroup in that tree whatever v1 does, so the device program (see
// limitDevices) is enforced here exactly as on a pure v2 host.
import { ContainerError } from '@hull/01-uts';
import { type CgroupFs, hostCgroupFs, parseKeyed, parsePids } from './cgroupfs.js';
import {
  type Cgroup,
  ancestorsOf,
  CGROUP_PARENT,
  type CgroupUsage,
  checkCgroupId,
  drainAndRemove,
  type DrainOptions,
  ensureDir,
  makeOwnDir,
  readNumber,
  removeDirs,
} from './cgroup.js';
import { compileDeviceProgram, parseDeviceRule } from './device-program.js';
import type { Controller } from './layout.js';
import { CONTROLLERS } from './layout.js';
import { type CgroupLimits, CPU_PERIOD_US, cpuQuotaUs, neededControllers } from './limits.js';

export class CgroupV1 implements Cgroup {
  readonly version = 1;
  readonly name: string;
  /** controller -> this cgroup's directory in that controller's hierarchy */
  private readonly dirOf: Partial<Record<Controller, string>>;
  readonly dirs: readonly string[];

  private constructor(
    private readonly fs: CgroupFs,
    name: string,
    dirOf: Partial<Record<Controller, string>>,
    readonly limits: CgroupLimits,
    /** `hull/<id>` in the hybrid host's cgroup2 tree, if it has one. */
    readonly unifiedDir?: string,
  ) {
    this.name = name;
    this.dirOf = dirOf;
    // Co-mounted controllers ("cpu,cpuacct") share one directory.
    this.dirs = [...new Set(Object.values(dirOf)), ...(unifiedDir ? [unifiedDir] : [])];
  }

  /**
   * Make `hull/<id>` in every hierarchy that carries one of our controllers and
   * write the limits. A controller a limit needs must exist; the others are
   * joined when present so usage can be read back.
   */
  static create(
    hierarchies: Partial<Record<Controller, string>>,
    id: string,
    limits: CgroupLimits,
    fs: CgroupFs = hostCgroupFs,
    unified?: string,
  ): CgroupV1 {
    const name = `${CGROUP_PARENT}/${checkCgroupId(id)}`;
    for (const { controller: c, flag } of neededControllers(limits)) {
      if (!hierarchies[c]) {
        throw new ContainerError(`cgroup v1: the ${c} controller is not mounted (no cgroup hierarchy lists "${c}" in /proc/self/mountinfo); ${flag} needs it`);
      }
    }
    const dirOf: Partial<Record<Controller, string>> = {};
    for (const c of CONTROLLERS) {
      const mountPoint = hierarchies[c];
      if (mountPoint) dirOf[c] = `${mountPoint}/${name}`;
    }
    const cgroup = new CgroupV1(fs, name, dirOf, limits, unified ? `${unified}/${name}` : undefined);
    const made: string[] = [];
    try {
      for (const dir of cgroup.dirs) {
        const mountPoint = dir.slice(0, dir.length - name.length - 1);
        for (const ancestor of ancestorsOf(mountPoint, name)) ensureDir(fs, ancestor);
        makeOwnDir(fs, dir, name);
        made.push(dir);
      }
      cgroup.writeLimits();
    } catch (err) {
      removeDirs(fs, made);
      throw err;
    }
    return cgroup;
  }

  /**
   * The cgroup of a container made earlier, perhaps by another hull process
   * (for `stats`, `inspect`, `rm`), or null when it is gone. Its limits are
   * read back from the files.
   */
  static open(hierarchies: Partial<Record<Controller, string>>, id: string, fs: CgroupFs = hostCgroupFs, unified?: string): CgroupV1 | null {
    const name = `${CGROUP_PARENT}/${checkCgroupId(id)}`;
    const dirOf: Partial<Record<Controller, string>> = {};
    for (const c of CONTROLLERS) {
      const mountPoint = hierarchies[c];
      if (mountPoint && fs.exists(`${mountPoint}/${name}`)) dirOf[c] = `${mountPoint}/${name}`;
    }
    if (Object.keys(dirOf).length === 0) return null;
    const limits: CgroupLimits = {};
    const pidsMax = dirOf.pids ? readNumber(fs, `${dirOf.pids}/pids.max`) : null; // "max" reads as null
    if (pidsMax !== null) limits.pidsMax = pidsMax;
    const memory = dirOf.memory ? readNumber(fs, `${dirOf.memory}/memory.limit_in_bytes`) : null;
    // v1 has no "max": no limit reads as the page counter's ceiling, near 2^63.
    if (memory !== null && memory < 2 ** 62) limits.memoryBytes = memory;
    const quota = dirOf.cpu ? readNumber(fs, `${dirOf.cpu}/cpu.cfs_quota_us`) : null; // -1 (no limit) reads as null
    const period = dirOf.cpu ? readNumber(fs, `${dirOf.cpu}/cpu.cfs_period_us`) : null;
    if (quota !== null && period) limits.cpus = quota / period;
    const unifiedDir = unified && fs.exists(`${unified}/${name}`) ? `${unified}/${name}` : undefined;
    return new CgroupV1(fs, name, dirOf, limits, unifiedDir);
  }

  private writeLimits(): void {
    const { pidsMax, memoryBytes, cpus } = this.limits;
    if (pidsMax !== undefined) this.fs.write(`${this.dirOf.pids}/pids.max`, String(pidsMax));
    if (memoryBytes !== undefined) {
      const dir = this.dirOf.memory!;
      this.fs.write(`${dir}/memory.limit_in_bytes`, String(memoryBytes));
      // memsw is memory + swap. Without it a container over its limit would
      // swap instead of being OOM-killed. It must be written after the memory
      // limit, since the kernel keeps memsw >= memory. Absent when the kernel
      // runs without swap accounting.
      const memsw = `${dir}/memory.memsw.limit_in_bytes`;
      if (this.fs.exists(memsw)) this.fs.write(memsw, String(memoryBytes));
    }
    if (cpus !== undefined) {
      const dir = this.dirOf.cpu!;
      this.fs.write(`${dir}/cpu.cfs_period_us`, String(CPU_PERIOD_US));
      this.fs.write(`${dir}/cpu.cfs_quota_us`, String(cpuQuotaUs(cpus)));
    }
  }

  get procsFiles(): string[] {
    return this.dirs.map((d) => `${d}/cgroup.procs`);
  }

  add(pid: number): void {
    for (const file of this.procsFiles) this.fs.write(file, String(pid));
  }

  pids(): number[] {
    const dir = this.dirOf.pids ?? this.dirs[0];
    if (!dir || !this.fs.exists(dir)) return [];
    return parsePids(this.fs.read(`${dir}/cgroup.procs`));
  }

  usage(): CgroupUsage {
    const { pids, memory, cpu, cpuacct } = this.dirOf;
    const cpuStat = cpu && this.fs.exists(`${cpu}/cpu.stat`) ? parseKeyed(this.fs.read(`${cpu}/cpu.stat`)) : null;
    const oom = memory && this.fs.exists(`${memory}/memory.oom_control`) ? parseKeyed(this.fs.read(`${memory}/memory.oom_control`)) : null;
    const cpuNs = cpuacct ? readNumber(this.fs, `${cpuacct}/cpuacct.usage`) : null;
    return {
      pidsCurrent: pids ? readNumber(this.fs, `${pids}/pids.current`) : null,
      memoryBytes: memory ? readNumber(this.fs, `${memory}/memory.usage_in_bytes`) : null,
      memoryPeakBytes: memory ? readNumber(this.fs, `${memory}/memory.max_usage_in_bytes`) : null,
      // v1 counts CPU time in nanoseconds; v2 (and our report) in microseconds.
      cpuUsageUsec: cpuNs === null ? null : Math.floor(cpuNs / 1000),
      nrThrottled: cpuStat?.nr_throttled ?? null,
      throttledUsec: cpuStat?.throttled_time === undefined ? null : Math.floor(cpuStat.throttled_time / 1000),
      // oom_kill appeared in memory.oom_control with Linux 4.13.
      oomKills: oom?.oom_kill ?? null,
    };
  }

  /**
   * v1's own devices controller (devices.allow, final-runtime's
   * DeviceCgroup) is a separate hierarchy; what this cgroup adds is the v2
   * program in the unified tree of a hybrid host. Without one, nothing to do.
   */
  limitDevices(rules: readonly string[]): void {
    if (this.unifiedDir) this.fs.attachDeviceProgram(this.unifiedDir, compileDeviceProgram(rules.map(parseDeviceRule)));
  }

  get deviceProgramDir(): string | null {
    return this.unifiedDir ?? null;
  }

  destroy(opts?: DrainOptions): Promise<void> {
    return drainAndRemove(this.fs, this.name, this.dirs, opts);
  }
}
