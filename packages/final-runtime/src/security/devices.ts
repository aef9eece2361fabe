// The device allowlist. /dev is a fresh tmpfs holding only safe nodes
// (chapter 03), but root with CAP_MKNOD can make a new node for any device,
// say the host's disk, and read it raw. The devices cgroup closes that: the
// kernel checks every open() of a device node (and every mknod) against the
// cgroup's list, whatever the node's permissions say.
//
// cgroup v1: the devices controller takes "type major:minor access" lines
// in devices.deny / devices.allow (DeviceCgroup below). cgroup v2 has no such
// files: the same list is compiled into a BPF_PROG_TYPE_CGROUP_DEVICE eBPF
// program and attached with bpf(2) to the container's cgroup (chapter 04's
// Cgroup.limitDevices). A hybrid host (v1 hierarchies plus a cgroup2 mount,
// like ours) gets both, so the program runs everywhere hull does.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import { type Cgroup, cgroupMounts } from '@hull/04-cgroups';

/**
 * docker's default allowlist. "m" (mknod) on everything lets images that
 * create nodes unpack; opening one still needs "r"/"w" below.
 */
export const DEFAULT_DEVICE_RULES: readonly string[] = [
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm', // null
  'c 1:5 rwm', // zero
  'c 1:7 rwm', // full
  'c 1:8 rwm', // random
  'c 1:9 rwm', // urandom
  'c 5:0 rwm', // tty
  'c 5:1 rwm', // console
  'c 5:2 rwm', // ptmx
  'c 136:* rwm', // pts/*
];

/** What can enforce the device allow list on this host. */
export interface DeviceControl {
  /** The v1 devices hierarchy's mount point, or null (a pure v2 host). */
  v1: string | null;
  /** A cgroup2 tree exists, so the container's cgroup can carry the eBPF device program. */
  program: boolean;
}

/**
 * From mountinfo: an fstype "cgroup" mount with "devices" in its super
 * options, and any "cgroup2" mount. HULL_DEVICE_CONTROL=program ignores the
 * v1 controller, as on a pure v2 host: the tests use it to prove the eBPF
 * program alone on our hybrid machines.
 */
export function detectDeviceControl(mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8'), env: NodeJS.ProcessEnv = process.env): DeviceControl {
  const mounts = cgroupMounts(mountinfo);
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('devices'))?.mountPoint ?? null;
  const program = mounts.some((m) => m.fstype === 'cgroup2');
  const only = env.HULL_DEVICE_CONTROL;
  if (only !== undefined && only !== 'program') throw new ContainerError(`HULL_DEVICE_CONTROL=${only}: only "program" (the eBPF program alone) exists`);
  return { v1: only === 'program' ? null : v1, program };
}

/**
 * Put the eBPF device program on the container's cgroup, before any process
 * of the container runs. A kernel that refuses it (no CONFIG_CGROUP_BPF, a
 * verifier error, a seccomp filter around hull) is a refusal to run: the
 * caller removes the cgroup.
 */
export function attachDeviceProgram(cgroup: Cgroup, rules: readonly string[]): void {
  try {
    if (cgroup.deviceProgramDir === null) throw new Error('the cgroup has no cgroup2 directory');
    cgroup.limitDevices(rules);
  } catch (err) {
    throw new ContainerError(`cgroup ${cgroup.name}: cannot attach the device program, and hull does not run without a device allow list: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const ID = /^[A-Za-z0-9_.-]+$/;

/**
 * One container's devices cgroup, /sys/fs/cgroup/devices/hull/<id>. Lives
 * from before the container starts (the init stage already runs under the
 * allowlist) until after it exits.
 */
export class DeviceCgroup {
  private constructor(readonly path: string) {}

  /** mkdir, then deny everything and allow the rules: a new v1 child starts as a copy of its parent, which allows all. */
  static create(mountPoint: string, id: string, rules: readonly string[] = DEFAULT_DEVICE_RULES): DeviceCgroup {
    if (!ID.test(id)) throw new ContainerError(`device cgroup id ${JSON.stringify(id)}: only letters, digits, '.', '_' and '-'`);
    const parent = join(mountPoint, 'hull');
    mkdirSync(parent, { recursive: true });
    const path = join(parent, id);
    mkdirSync(path);
    const cg = new DeviceCgroup(path);
    try {
      writeFileSync(join(path, 'devices.deny'), 'a');
      for (const rule of rules) writeFileSync(join(path, 'devices.allow'), rule);
    } catch (err) {
      cg.remove();
      throw err;
    }
    return cg;
  }

  /** Where a process writes its pid to join (an init stage may join from inside, as hull's does). */
  get procsFile(): string {
    return join(this.path, 'cgroup.procs');
  }

  /** Move a process in; its children follow it. */
  add(pid: number): void {
    writeFileSync(this.procsFile, `${pid}`);
  }

  /** The effective list, as the kernel shows it. */
  list(): string[] {
    return readFileSync(join(this.path, 'devices.list'), 'utf8').trim().split('\n');
  }

  /** The cgroup of container `id`, if it exists: for cleaning up from a process that did not create it. */
  static find(id: string, control: DeviceControl = detectDeviceControl(undefined, {})): DeviceCgroup | undefined {
    if (!control.v1 || !ID.test(id)) return undefined;
    const path = join(control.v1, 'hull', id);
    return existsSync(path) ? new DeviceCgroup(path) : undefined;
  }

  /**
   * rmdir once empty. Right after the container's PID 1 is reaped the
   * kernel may still count its exiting children for a moment (EBUSY): retry briefly.
   */
  remove(): void {
    for (let attempt = 0; ; attempt++) {
      try {
        if (existsSync(this.path)) rmdirSync(this.path);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 50) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
}
