// cgroup v2: one tree. A child cgroup gets a controller's files (pids.max,
// memory.max, cpu.max) only if its parent lists the controller in
// cgroup.subtree_control, and only a cgroup without processes may enable
// controllers for its children (the no-internal-processes rule; the root is
// exempt). So: enable in the root, enable in `hull` (which never holds a
// process), and put the container in the leaf `hull/<id>`.
import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';
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
import { type CgroupLimits, CPU_PERIOD_US, cpuQuotaUs, neededControllers } from './limits.js';

/** v2's controllers among ours: cpuacct's job is done by cpu.stat, which every v2 cgroup has. */
const V2_CONTROLLERS = ['pids', 'memory', 'cpu'] as const;

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/**
 * Make sure `dir` passes `controllers` down to its children. Only the missing
 * ones are written, so a parent set up by systemd is left exactly as it was.
 */
export function enableControllers(fs: CgroupFs, dir: string, controllers: readonly string[]): void {
  const enabled = words(fs.read(`${dir}/cgroup.subtree_control`));
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  try {
    fs.write(`${dir}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(' '));
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EBUSY') {
      throw new ContainerError(
        `cgroup v2: cannot enable ${missing.join(', ')} in ${dir}/cgroup.subtree_control: ${dir} holds processes (the no-internal-processes rule)`,
      );
    }
    throw err;
  }
}

export class CgroupV2 implements Cgroup {
  readonly version = 2;
  readonly name: string;
  readonly dir: string;

  private constructor(
    private readonly fs: CgroupFs,
    root: string,
    name: string,
    readonly limits: CgroupLimits,
  ) {
    this.name = name;
    this.dir = `${root}/${name}`;
  }

  static create(root: string, id: string, limits: CgroupLimits, fs: CgroupFs = hostCgroupFs): CgroupV2 {
    const name = `${CGROUP_PARENT}/${checkCgroupId(id)}`;
    const available = words(fs.read(`${root}/cgroup.controllers`));
    for (const { controller: c, flag } of neededControllers(limits)) {
      if (!available.includes(c)) {
        throw new ContainerError(
          `cgroup v2: the ${c} controller is not available (${root}/cgroup.controllers lists: ${available.join(' ') || 'nothing'}); ${flag} needs it`,
        );
      }
    }
    // Enable every controller we can, not just the needed ones, so usage can be read back.
    const wanted = V2_CONTROLLERS.filter((c) => available.includes(c));
    const cgroup = new CgroupV2(fs, root, name, limits);
    enableControllers(fs, root, wanted);
    // `hull`, and the levels of a nested cgroupsPath: none of them ever holds a process.
    for (const parent of ancestorsOf(root, name)) {
      ensureDir(fs, parent);
      enableControllers(fs, parent, wanted);
    }
    makeOwnDir(fs, cgroup.dir, name);
    try {
      cgroup.writeLimits();
    } catch (err) {
      removeDirs(fs, [cgroup.dir]);
      throw err;
    }
    return cgroup;
  }

  /**
   * The cgroup of a container made earlier, perhaps by another hull process
   * (for `stats`, `inspect`, `rm`), or null when it is gone. Its limits are
   * read back from the files.
   */
  static open(root: string, id: string, fs: CgroupFs = hostCgroupFs): CgroupV2 | null {
    const name = `${CGROUP_PARENT}/${checkCgroupId(id)}`;
    const dir = `${root}/${name}`;
    if (!fs.exists(dir)) return null;
    const limits: CgroupLimits = {};
    const pidsMax = readNumber(fs, `${dir}/pids.max`); // "max" reads as null
    if (pidsMax !== null) limits.pidsMax = pidsMax;
    const memory = readNumber(fs, `${dir}/memory.max`);
    if (memory !== null) limits.memoryBytes = memory;
    const cpuMax = fs.exists(`${dir}/cpu.max`) ? /^(\d+) (\d+)$/.exec(fs.read(`${dir}/cpu.max`).trim()) : null;
    if (cpuMax) limits.cpus = Number(cpuMax[1]) / Number(cpuMax[2]);
    return new CgroupV2(fs, root, name, limits);
  }

  private writeLimits(): void {
    const { pidsMax, memoryBytes, cpus } = this.limits;
    if (pidsMax !== undefined) this.fs.write(`${this.dir}/pids.max`, String(pidsMax));
    if (memoryBytes !== undefined) {
      this.fs.write(`${this.dir}/memory.max`, String(memoryBytes));
      // v2 counts swap apart from memory: without this a container over its
      // limit would swap instead of being OOM-killed. Absent without swap accounting.
      if (this.fs.exists(`${this.dir}/memory.swap.max`)) this.fs.write(`${this.dir}/memory.swap.max`, '0');
    }
    if (cpus !== undefined) this.fs.write(`${this.dir}/cpu.max`, `${cpuQuotaUs(cpus)} ${CPU_PERIOD_US}`);
  }

  get dirs(): string[] {
    return [this.dir];
  }

  get procsFiles(): string[] {
    return [`${this.dir}/cgroup.procs`];
  }

  add(pid: number): void {
    this.fs.write(`${this.dir}/cgroup.procs`, String(pid));
  }

  pids(): number[] {
    if (!this.fs.exists(this.dir)) return [];
    return parsePids(this.fs.read(`${this.dir}/cgroup.procs`));
  }

  usage(): CgroupUsage {
    const stat = (file: string) => (this.fs.exists(`${this.dir}/${file}`) ? parseKeyed(this.fs.read(`${this.dir}/${file}`)) : null);
    const cpuStat = stat('cpu.stat');
    const events = stat('memory.events');
    return {
      pidsCurrent: readNumber(this.fs, `${this.dir}/pids.current`),
      memoryBytes: readNumber(this.fs, `${this.dir}/memory.current`),
      // memory.peak appeared with Linux 5.19.
      memoryPeakBytes: readNumber(this.fs, `${this.dir}/memory.peak`),
      cpuUsageUsec: cpuStat?.usage_usec ?? null,
      nrThrottled: cpuStat?.nr_throttled ?? null,
      throttledUsec: cpuStat?.throttled_usec ?? null,
      oomKills: events?.oom_kill ?? null,
    };
  }

  /**
   * v2 has no devices.allow: the allow list is an eBPF program attached to
   * this cgroup (device-program.ts), run by the kernel on every device open
   * and mknod of a task in it. No controller needs enabling for it.
   */
  limitDevices(rules: readonly string[]): void {
    this.fs.attachDeviceProgram(this.dir, compileDeviceProgram(rules.map(parseDeviceRule)));
  }

  get deviceProgramDir(): string {
    return this.dir;
  }

  /**
   * cgroup.kill (Linux 5.14) SIGKILLs every process inside at once, so a fork
   * bomb cannot outrun us; the loop in drainAndRemove is the fallback.
   */
  destroy(opts?: DrainOptions): Promise<void> {
    const kill = `${this.dir}/cgroup.kill`;
    if (this.fs.exists(kill)) this.fs.write(kill, '1');
    return drainAndRemove(this.fs, this.name, this.dirs, opts);
  }
}
