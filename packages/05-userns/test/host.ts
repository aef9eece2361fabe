// The leftover check for this package's paths only: other packages' tests run
// at the same time and create (and remove) their own mounts and cgroups.
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '');
}

/** Mount points at or under any of `prefixes`. */
export function ownMounts(...prefixes: string[]): string[] {
  return mountPoints().filter((p) => prefixes.some((x) => p === x || p.startsWith(`${x}/`)));
}

/** Mount points in idmapped-rootfs directories (src/idmapped.ts); only remap.test.ts makes them. */
export function idmapMounts(): string[] {
  return mountPoints().filter((p) => p.includes('/hull-idmap-'));
}

/** The per-run directories src/idmapped.ts makes. */
export function idmapDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith('hull-idmap-'));
}
