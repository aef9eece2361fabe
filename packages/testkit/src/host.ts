// The leftover check: what the host looks like, so a test can assert that a
// run left nothing behind (../shared/TESTING.md).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface HostSnapshot {
  mounts: string[];
  links: string[];
  netns: string[];
  nftTables: string[];
  cgroups: string[];
  hostname: string;
}

/** Our prefix for every host resource: cgroups, links, nft tables, netns. */
export const HULL_PREFIX = 'hull';

function mounts(): string[] {
  // Mount ids change on remount, so compare by mount point and fs type.
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return `${f[4]} ${f[sep + 1]}`;
    })
    .sort();
}

/**
 * A probe that fails is an error, never "nothing found": a check that cannot
 * see must not pass.
 */
function probe(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`leftover check: ${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function links(): string[] {
  return probe('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n.startsWith(HULL_PREFIX))
    .sort();
}

function netns(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [];
}

function nftTables(): string[] {
  return probe('nft', ['list', 'tables'])
    .split('\n')
    .filter((l) => l.includes(HULL_PREFIX))
    .sort();
}

/** The directories at and under `dir`, deepest first, `dir` last; none if it does not exist. */
export function directoriesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      // A directory removed while we walk is fine (cgroups come and go); anything else means we cannot see.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) if (e.isDirectory()) walk(`${d}/${e.name}`);
    out.push(d);
  };
  walk(dir);
  return out;
}

/** Every cgroup under our prefix, at every depth, in every hierarchy (v1 controllers, v2, hybrid's unified). */
function cgroups(): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return out;
  const roots = existsSync(`${base}/cgroup.controllers`) ? [base] : readdirSync(base).map((d) => `${base}/${d}`);
  for (const root of roots) {
    const dir = `${root}/${HULL_PREFIX}`;
    if (existsSync(dir)) out.push(...directoriesUnder(dir).filter((d) => d !== dir));
  }
  return out.sort();
}

export function hostSnapshot(): HostSnapshot {
  return {
    mounts: mounts(),
    links: links(),
    netns: netns(),
    nftTables: nftTables(),
    cgroups: cgroups(),
    hostname: readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(),
  };
}

/** What is in `after` but not in `before`, per kind; empty when the host is as it was. */
export function leftovers(before: HostSnapshot, after: HostSnapshot = hostSnapshot()): Partial<Record<keyof HostSnapshot, string[]>> {
  const diff: Partial<Record<keyof HostSnapshot, string[]>> = {};
  for (const key of ['mounts', 'links', 'netns', 'nftTables', 'cgroups'] as const) {
    // A multiset difference: a mount stacked on an existing mount point (same
    // point, same type) is one more entry, and it counts.
    const was = new Map<string, number>();
    for (const x of before[key]) was.set(x, (was.get(x) ?? 0) + 1);
    const added = after[key].filter((x) => {
      const n = was.get(x) ?? 0;
      if (n > 0) was.set(x, n - 1);
      return n === 0;
    });
    if (added.length) diff[key] = added;
  }
  if (before.hostname !== after.hostname) diff.hostname = [after.hostname];
  return diff;
}

/** Every live descendant of a pid (default: this test worker), from /proc. */
export function descendants(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}
