// Shared by the security tests: host facts to plan against without root,
// and a real host device that no default allow list lets a container open.
import { existsSync, statSync } from 'node:fs';
import { CAPABILITIES, type HostFacts } from '../src/security/index.js';

export const ALL_CAPS = (1n << BigInt(CAPABILITIES.length)) - 1n;

/** A host like ours: every capability but CAP_SYS_RESOURCE, v1 devices controller and a cgroup2 tree, x86_64. */
export function fakeHost(over: Partial<HostFacts> = {}): HostFacts {
  return {
    boundingSet: ALL_CAPS & ~(1n << 24n),
    canRaiseLimits: false,
    lastCap: 40,
    rlimit: () => ({ soft: 1024n, hard: 20000n }),
    devices: { v1: '/sys/fs/cgroup/devices', program: true },
    arch: 'x64',
    kernel: '6.1.0',
    ...over,
  };
}

/** The first of these host devices that exists: none is in the container's allowlist, and opening one without reading does nothing. */
export function hostDevice(): { major: number; minor: number; path: string } {
  for (const path of ['/dev/fuse', '/dev/net/tun', '/dev/loop-control']) {
    if (!existsSync(path)) continue;
    const rdev = statSync(path).rdev;
    return { path, major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
  }
  throw new Error('no /dev/fuse, /dev/net/tun or /dev/loop-control on this host');
}
