import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { detectLayout } from '../src/index.js';

// Our machines: v1 hierarchies, plus a cgroup2 mount that holds none of our controllers.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
// Debian 12 / Ubuntu 22.04+: one cgroup2 tree at /sys/fs/cgroup.
const UNIFIED = `22 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
// An older systemd layout: cpu and cpuacct co-mounted.
const COMOUNTED = `29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,pids
`;

describe('detecting the cgroup version from mountinfo', () => {
  it('finds v1 hierarchies on a hybrid host, and the controller-less cgroup2 mount only for device programs', () => {
    expect(detectLayout(HYBRID)).toEqual({
      version: 1,
      hierarchies: { pids: '/sys/fs/cgroup/pids', memory: '/sys/fs/cgroup/memory', cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct' },
      unified: '/sys/fs/cgroup/unified',
    });
  });

  it('finds the unified tree on a v2-only host', () => {
    expect(detectLayout(UNIFIED)).toEqual({ version: 2, root: '/sys/fs/cgroup' });
  });

  it('maps co-mounted controllers to the same hierarchy', () => {
    expect(detectLayout(COMOUNTED)).toEqual({
      version: 1,
      hierarchies: { pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct' },
    });
  });

  it('unescapes mount points', () => {
    expect(detectLayout('27 22 0:24 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n')).toEqual({ version: 2, root: '/mnt/my cgroups' });
  });

  it('fails clearly without any cgroup mount', () => {
    expect(() => detectLayout('22 26 0:20 / /sys rw - sysfs sysfs rw\n')).toThrow(ContainerError);
    expect(() => detectLayout('')).toThrow('no cgroup filesystem is mounted');
  });

  it('agrees with this host', () => {
    const layout = detectLayout();
    // A unified host has cgroup.controllers right in /sys/fs/cgroup; a v1 or hybrid one has a tmpfs of hierarchies there.
    const unified = existsSync('/sys/fs/cgroup/cgroup.controllers');
    expect(layout.version).toBe(unified ? 2 : 1);
    if (layout.version === 1) expect(layout.hierarchies.pids).toBe('/sys/fs/cgroup/pids');
    if (layout.version === 1 && existsSync('/sys/fs/cgroup/unified/cgroup.procs')) expect(layout.unified).toBe('/sys/fs/cgroup/unified');
  });
});
