// Rootless maps. An unprivileged process may write only ONE line to its
// child's uid_map: its own uid (and gid_map only after setgroups=deny).
// More ids come from /etc/subuid and /etc/subgid (subuid(5)): ranges the admin
// gave to a user, which the setuid helpers newuidmap/newgidmap (Debian's
// `uidmap`) write for it after checking that it owns them. podman does this.
import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '@hull/01-uts';
import { describeEntry, type IdKind, type IdMapEntry } from './idmap.js';

export interface SubordinateRange {
  start: number;
  count: number;
}

/** Who runs the step, as the host sees them. */
export interface Caller {
  uid: number;
  gid: number;
  /** The login name (subuid(5) lines may name the user or give the uid). */
  name: string;
}

/** The lines of /etc/subuid (or subgid) for this user: `name:start:count` or `uid:start:count`. */
export function parseSubordinateFile(text: string, owner: { name: string; id: number }): SubordinateRange[] {
  const ranges: SubordinateRange[] = [];
  for (const line of text.split('\n')) {
    const m = /^([^:#\s]+):(\d+):(\d+)\s*$/.exec(line.trim());
    if (!m) continue;
    if (m[1] !== owner.name && m[1] !== String(owner.id)) continue;
    const count = Number(m[3]);
    if (count > 0) ranges.push({ start: Number(m[2]), count });
  }
  return ranges;
}

export function readSubordinateRanges(file: string, owner: { name: string; id: number }): SubordinateRange[] {
  return existsSync(file) ? parseSubordinateFile(readFileSync(file, 'utf8'), owner) : [];
}

/** newuidmap and newgidmap, if the `uidmap` package is installed. */
export function findMapHelper(kind: IdKind, path = `${process.env.PATH ?? ''}:/usr/bin:/bin`): string | undefined {
  const name = kind === 'uid' ? 'newuidmap' : 'newgidmap';
  for (const dir of path.split(':')) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/**
 * podman's default: the caller's own id becomes 0, and its subordinate ranges
 * follow from 1 upwards, so a uid-1000 file in the image can exist inside.
 * Without ranges (or without the helper) only the one id can be mapped.
 */
export function rootlessDefaultMap(ownId: number, ranges: readonly SubordinateRange[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{ containerId: 0, hostId: ownId, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    map.push({ containerId: next, hostId: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** Is this map exactly "my own id, once"? That is the only map an unprivileged process may write itself. */
export function isSelfMap(map: readonly IdMapEntry[], ownId: number): boolean {
  return map.length === 1 && map[0]!.hostId === ownId && map[0]!.size === 1;
}

/**
 * A rootless user may map only ids it owns: its own, and its subordinate
 * ranges. newuidmap would refuse anything else too, but with a vaguer message.
 */
export function checkOwnedMap(map: readonly IdMapEntry[], kind: IdKind, ownId: number, ranges: readonly SubordinateRange[], user: string): void {
  for (const e of map) {
    const end = e.hostId + e.size;
    const own = e.hostId === ownId && e.size === 1;
    const inRange = ranges.some((r) => e.hostId >= r.start && end <= r.start + r.count);
    if (own || inRange) continue;
    const span = e.size === 1 ? `${kind} ${e.hostId} is` : `${kind}s ${e.hostId}..${end - 1} are`;
    const held = ranges.length ? ranges.map((r) => `${r.start}..${r.start + r.count - 1}`).join(', ') : 'none';
    throw new UsageError(
      `--${kind}-map ${describeEntry(e)}: host ${span} not yours to map (you are ${kind} ${ownId}; your /etc/sub${kind} ranges for ${user}: ${held})`,
    );
  }
}
