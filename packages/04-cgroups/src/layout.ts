// Which cgroup version does this host run, and where is it mounted? The
// answer is in /proc/self/mountinfo: a v1 hierarchy is an fstype "cgroup"
// mount whose super options name its controllers ("rw,cpu,cpuacct"); the v2
// unified tree is an fstype "cgroup2" mount.
import { readFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';

/** The controllers hull uses. cpuacct is v1 only: v2's cpu.stat carries the usage itself. */
export const CONTROLLERS = ['pids', 'memory', 'cpu', 'cpuacct'] as const;
export type Controller = (typeof CONTROLLERS)[number];

export type CgroupLayout =
  /** v1 (or hybrid): each controller on its own hierarchy, by mount point. */
  | {
      version: 1;
      hierarchies: Partial<Record<Controller, string>>;
      /**
       * A hybrid host's cgroup2 mount (/sys/fs/cgroup/unified), which holds
       * no controller but still runs cgroup BPF programs: the kernel checks a
       * device open against the task's cgroup in this tree too.
       */
      unified?: string;
    }
  /** v2: one tree. */
  | { version: 2; root: string };

interface CgroupMount {
  mountPoint: string;
  fstype: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

/** The cgroup mounts listed in a mountinfo text (proc(5)). */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    mounts.push({ mountPoint: unescapeOctal(fields[4]!), fstype, superOptions: (fields[sep + 3] ?? '').split(',') });
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * v1 wins when any of our controllers sits on a v1 hierarchy: on a hybrid host
 * (ours) the cgroup2 mount at /sys/fs/cgroup/unified holds none of them, and a
 * controller can be bound to only one version at a time.
 */
export function detectLayout(mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupLayout {
  const mounts = cgroupMounts(mountinfo);
  const hierarchies: Partial<Record<Controller, string>> = {};
  for (const m of mounts) {
    if (m.fstype !== 'cgroup') continue;
    for (const c of CONTROLLERS) if (m.superOptions.includes(c) && !hierarchies[c]) hierarchies[c] = m.mountPoint;
  }
  const unified = mounts.filter((m) => m.fstype === 'cgroup2');
  if (Object.keys(hierarchies).length > 0) return unified[0] ? { version: 1, hierarchies, unified: unified[0].mountPoint } : { version: 1, hierarchies };
  const root = unified.find((m) => m.mountPoint === '/sys/fs/cgroup') ?? unified[0];
  if (root) return { version: 2, root: root.mountPoint };
  throw new ContainerError('no cgroup filesystem is mounted (no cgroup or cgroup2 entry in /proc/self/mountinfo)');
}
