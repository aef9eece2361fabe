// uid_map / gid_map: what user_namespaces(7) calls an ID mapping. Each line
// "C H N" says: ids C..C+N-1 inside are ids H..H+N-1 in the parent namespace.
// The kernel checks these rules too, but answers a bad map with a bare EINVAL
// or EPERM on write(2): we check first, to say which line is wrong and why.
import { UsageError } from '@hull/01-uts';

export interface IdMapEntry {
  /** First id inside the namespace. */
  containerId: number;
  /** First id in the parent (host) namespace. */
  hostId: number;
  /** How many consecutive ids. */
  size: number;
}

export type IdKind = 'uid' | 'gid';

/**
 * ids are u32, and (u32)-1 means "no id" to every syscall, so the kernel
 * refuses a range that reaches it: the last mappable id is 2^32 - 2.
 */
export const ID_LIMIT = 2 ** 32 - 1;
/** The kernel accepts at most 340 lines per map (Linux 4.15+; 5 before). */
export const MAX_MAP_LINES = 340;

/** The map root gets with --userns when none is given: container 0..65535 -> host 100000..165535. */
export const DEFAULT_REMAP: readonly IdMapEntry[] = [{ containerId: 0, hostId: 100000, size: 65536 }];

export function describeEntry(e: IdMapEntry): string {
  return `${e.containerId}:${e.hostId}:${e.size}`;
}

/** Parse one `--uid-map C:H:N` value. */
export function parseIdMapEntry(text: string, kind: IdKind): IdMapEntry {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--${kind}-map ${JSON.stringify(text)}: expected CONTAINER:HOST:COUNT, e.g. 0:100000:65536`);
  const [containerId, hostId, size] = [m[1]!, m[2]!, m[3]!].map(Number) as [number, number, number];
  const entry = { containerId, hostId, size };
  if (size < 1) throw new UsageError(`--${kind}-map ${text}: COUNT must be at least 1`);
  for (const [what, start] of [
    ['container', containerId],
    ['host', hostId],
  ] as const) {
    if (start + size > ID_LIMIT) {
      throw new UsageError(`--${kind}-map ${text}: ${what} ${kind}s ${start}..${start + size - 1} go past ${ID_LIMIT - 1}, the largest ${kind}`);
    }
  }
  return entry;
}

/**
 * The rules the kernel applies to a map, as user errors: no two lines may
 * overlap inside or outside, and container id 0 must be mapped because our
 * init stage becomes root of the namespace (setresuid(0) fails otherwise).
 */
export function validateIdMap(map: readonly IdMapEntry[], kind: IdKind): void {
  if (map.length === 0) throw new UsageError(`the ${kind} map is empty`);
  if (map.length > MAX_MAP_LINES) throw new UsageError(`--${kind}-map: at most ${MAX_MAP_LINES} ranges (the kernel's limit), got ${map.length}`);
  for (let i = 0; i < map.length; i++) {
    for (let j = i + 1; j < map.length; j++) {
      const [a, b] = [map[i]!, map[j]!];
      if (overlaps(a.containerId, a.size, b.containerId, b.size)) {
        throw new UsageError(`--${kind}-map ${describeEntry(a)} and ${describeEntry(b)} overlap inside the container`);
      }
      if (overlaps(a.hostId, a.size, b.hostId, b.size)) {
        throw new UsageError(`--${kind}-map ${describeEntry(a)} and ${describeEntry(b)} overlap on the host`);
      }
    }
  }
  if (toHost(map, 0) === undefined) {
    throw new UsageError(`--${kind}-map: container ${kind} 0 is not mapped (the container's init runs as root of its user namespace)`);
  }
}

function overlaps(a: number, an: number, b: number, bn: number): boolean {
  return a < b + bn && b < a + an;
}

/** The host id that container id `id` maps to, if any. */
export function toHost(map: readonly IdMapEntry[], id: number): number | undefined {
  const e = map.find((x) => id >= x.containerId && id < x.containerId + x.size);
  return e ? e.hostId + (id - e.containerId) : undefined;
}

/** The text the kernel wants in /proc/PID/uid_map: one "C H N" line per range, written in ONE write(2). */
export function formatIdMap(map: readonly IdMapEntry[]): string {
  return map.map((e) => `${e.containerId} ${e.hostId} ${e.size}\n`).join('');
}

/** newuidmap/newgidmap take the same triples as arguments: PID C H N C H N ... */
export function idMapArgs(map: readonly IdMapEntry[]): string[] {
  return map.flatMap((e) => [String(e.containerId), String(e.hostId), String(e.size)]);
}
