// The leftover check: what the host looks like, so a test can assert that a
// run left nothing behind (../shared/TESTING.md, "Leftover check").
//
// It must be able to see what it claims:
// - a probe that fails (ip, nft, flock) throws: "cannot look" never reads as "nothing there";
// - mounts are told apart by mount id, so one stacked on an existing mount point counts;
// - cgroups count at every depth under our prefix, in every hierarchy (v1 controllers, v2);
// - a process counts when it descends from this worker, carries this file's
//   marker in its environment, or sits in one of our cgroups: the supervisor
//   and detached containers leave the worker's tree, they do not leave those.
// And it reports only what this test file owns (leftover-scope.ts), so other
// helpers' suites running on this host at the same time are not reported.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { claimLeftovers, type LeftoverScope, leftoverScope, namesOurs, SCOPE_ENV } from './leftover-scope.js';

export interface MountEntry {
  /** mountinfo field 1: unique among the mounts that exist at one time. */
  id: string;
  point: string;
  fstype: string;
  /** The whole mountinfo line, so the source and an overlay's lowerdir= can name our paths too. */
  line: string;
}

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** /proc/PID/stat field 22: tells a process from a later one that reused its pid. */
  start: string;
  comm: string;
  /** /proc/PID/cgroup, every hierarchy. */
  cgroup: string;
  /** Its environment holds this test file's marker. */
  marked: boolean;
}

export interface HostSnapshot {
  mounts: MountEntry[];
  links: string[];
  netns: string[];
  nftTables: string[];
  /** `ip -4` and `ip -6 route show table all`, one route a line. */
  routes: string[];
  cgroups: string[];
  processes: ProcessEntry[];
  /** Lease files (chapter 06's <HULL_ROOT>/network/<bridge>.json) under our paths. */
  leases: string[];
  /** What IPv4 forwarding is on this host once every bridge is gone (see ipForwardBaseline). */
  ipForward: string;
  hostname: string;
}

/** The kinds of leftover, as reported; a route or process also says which side changed. */
export type Leftovers = Partial<Record<'mounts' | 'links' | 'netns' | 'nftTables' | 'routesAdded' | 'routesRemoved' | 'cgroups' | 'processes' | 'leases' | 'ipForward' | 'hostname', string[]>>;

/** Our prefix for every host resource: cgroups, links, nft tables, netns. */
export const HULL_PREFIX = 'hull';

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

function mounts(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      return { id: f[0]!, point: f[4]!, fstype: f[f.indexOf('-') + 1]!, line };
    });
}

function links(): string[] {
  return probe('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter(Boolean)
    .sort();
}

function netns(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [];
}

function nftTables(): string[] {
  return probe('nft', ['list', 'tables']).split('\n').filter(Boolean).sort();
}

function routes(): string[] {
  const lines = [...probe('ip', ['-4', 'route', 'show', 'table', 'all']).split('\n'), ...probe('ip', ['-6', 'route', 'show', 'table', 'all']).split('\n')];
  // IPv6 routes learnt from router advertisements count down their lifetime.
  return lines.map((l) => l.replace(/ expires \S+/, '').trim()).filter(Boolean);
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

/** The cgroup roots of this host: the v2 tree, or every v1 hierarchy and hybrid's unified tree. */
export function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return [];
  if (existsSync(`${base}/cgroup.controllers`)) return [base];
  // A v1 hierarchy mounted twice (cpu,cpuacct with cpu and cpuacct symlinks) is walked once.
  return readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `${base}/${d.name}`);
}

/** Every cgroup under our prefix, at every depth, in every hierarchy. */
function cgroups(): string[] {
  const out: string[] = [];
  for (const root of cgroupRoots()) {
    const dir = `${root}/${HULL_PREFIX}`;
    if (existsSync(dir)) out.push(...directoriesUnder(dir).filter((d) => d !== dir));
  }
  return out.sort();
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    // The process exited while we looked.
    return null;
  }
}

/** ": ARGV" of a live process, so a report names what leaked, not only "node". */
function commandLine(pid: number): string {
  const raw = readOrNull(`/proc/${pid}/cmdline`);
  return raw ? `: ${raw.split('\0').filter(Boolean).join(' ').slice(0, 200)}` : '';
}

function processes(marker: string): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  const tag = `${SCOPE_ENV}=${marker}\0`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOrNull(`/proc/${entry}/stat`);
    const cgroup = readOrNull(`/proc/${entry}/cgroup`);
    const environ = readOrNull(`/proc/${entry}/environ`);
    if (stat === null || cgroup === null) continue;
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    out.push({
      pid: Number(entry),
      ppid: Number(fields[1]),
      start: fields[19]!,
      comm: stat.slice(stat.indexOf('(') + 1, close),
      cgroup,
      marked: environ !== null && (`\0${environ}`.includes(`\0${tag}`)),
    });
  }
  return out;
}

function leases(scope: LeftoverScope): string[] {
  const out: string[] = [];
  for (const p of scope.paths) {
    const dir = join(p, 'network');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.json')) out.push(join(dir, f));
  }
  return out.sort();
}

/** Chapter 06's record of forwarding as it was before the first bridge (packages/06-network/src/nat.ts). */
const FORWARD_DIR = '/run/hull';
const FORWARD_STATE = `${FORWARD_DIR}/ip_forward.before`;
const FORWARD_LOCK = `${FORWARD_DIR}/ip_forward.lock`;

/**
 * ip_forward is one switch for the whole host, shared by every HULL_ROOT:
 * the first bridge turns it on and records what it was, the last one gives
 * that back. So what must not change is the value the host returns to, the
 * record while one exists and the switch itself otherwise. That holds however
 * many other suites' bridges come and go; a test that flips the switch, or
 * drops or rewrites the record, changes it. Read under 06's own lock, so we
 * never see the switch and the record half-way through a change.
 */
function ipForwardBaseline(): string {
  mkdirSync(FORWARD_DIR, { recursive: true, mode: 0o700 });
  return probe('flock', [FORWARD_LOCK, 'sh', '-c', `if [ -e ${FORWARD_STATE} ]; then echo "record $(cat ${FORWARD_STATE})"; else echo "switch $(cat /proc/sys/net/ipv4/ip_forward)"; fi`]).trim();
}

export function hostSnapshot(scope: LeftoverScope = leftoverScope()): HostSnapshot {
  return {
    mounts: mounts(),
    links: links(),
    netns: netns(),
    nftTables: nftTables(),
    routes: routes(),
    cgroups: cgroups(),
    processes: processes(scope.marker),
    leases: leases(scope),
    ipForward: ipForwardBaseline(),
    hostname: readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(),
  };
}

const routeDevice = (route: string): string | undefined => /\bdev (\S+)/.exec(route)?.[1];

/**
 * The processes of this test: those descending from this worker or from a
 * process carrying its marker (a detached container's init is the
 * supervisor's child, with an environment of its own), and those in one of
 * its cgroups.
 */
function ourProcesses(snap: HostSnapshot, scope: LeftoverScope, worker: number): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>();
  for (const p of snap.processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const tree = new Set<number>();
  const queue = [worker, ...snap.processes.filter((p) => p.marked).map((p) => p.pid)];
  while (queue.length) {
    const pid = queue.shift()!;
    tree.add(pid);
    for (const c of children.get(pid) ?? []) if (!tree.has(c.pid)) queue.push(c.pid);
  }
  return snap.processes.filter((p) => p.pid !== worker && (tree.has(p.pid) || cgroupPaths(p).some((c) => namesOurs(c, scope))));
}

/** The cgroup paths of a process, one per hierarchy ("/hull/3f2a..."). */
const cgroupPaths = (p: ProcessEntry): string[] =>
  p.cgroup
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));

let watching: NodeJS.Timeout | undefined;

/**
 * Claim the cgroups our processes run in, while they run: a chapter's step
 * names its cgroup hull/<random id> itself, and only its processes say which
 * one it is. Each sample claims the first level under our prefix of every
 * cgroup one of our processes is in, so if the step leaves it behind, the
 * check sees it. (A harness that learns an id for sure, e.g. from a store,
 * claims it with claimLeftovers.)
 */
export function watchOurCgroups(everyMs = 200, scope: LeftoverScope = leftoverScope()): void {
  if (watching) return;
  const sample = (): void => {
    const snap = { processes: processes(scope.marker) } as HostSnapshot;
    for (const p of ourProcesses(snap, scope, process.pid)) {
      for (const c of cgroupPaths(p)) {
        const m = new RegExp(`^/${HULL_PREFIX}/([^/]+)`).exec(c);
        if (m) claimLeftovers({ names: [`/${HULL_PREFIX}/${m[1]}`] });
      }
    }
  };
  sample();
  watching = setInterval(sample, everyMs);
  // The sampler must not keep a test worker alive.
  watching.unref();
}

/**
 * What is in `after` but not in `before` and belongs to this test file, per
 * kind; empty when the host is, for this test, as it was.
 */
export function leftovers(before: HostSnapshot, after: HostSnapshot = hostSnapshot(), scope: LeftoverScope = leftoverScope()): Leftovers {
  const diff: Leftovers = {};
  const put = (key: keyof Leftovers, list: string[]): void => {
    if (list.length) diff[key] = list;
  };
  const ours = (x: string): boolean => namesOurs(x, scope);
  const added = (was: string[], now: string[]): string[] => now.filter((x) => ours(x) && !was.includes(x));

  // By mount id and point: a second mount on the same point is a new id.
  const mountKey = (m: MountEntry): string => `${m.id} ${m.point}`;
  const hadMount = new Set(before.mounts.map(mountKey));
  put('mounts', after.mounts.filter((m) => !hadMount.has(mountKey(m)) && ours(m.line)).map((m) => `${m.point} ${m.fstype} (mount id ${m.id})`));
  put('links', added(before.links, after.links));
  put('netns', added(before.netns, after.netns));
  put('nftTables', added(before.nftTables, after.nftTables));
  put('cgroups', added(before.cgroups, after.cgroups));
  put('leases', added(before.leases, after.leases));

  // A route counts if it names one of our links, or if it is on a link that
  // was there before and after and is no other suite's (a hull* link not ours
  // comes and goes with that suite's containers): the host's own routes must
  // not change at all. Routes with no device (blackhole, unreachable) count.
  const steady = new Set(before.links.filter((l) => after.links.includes(l)));
  const counts = (r: string): boolean => {
    if (ours(r)) return true;
    const dev = routeDevice(r);
    return dev === undefined || (steady.has(dev) && !dev.startsWith(HULL_PREFIX));
  };
  put('routesAdded', after.routes.filter((r) => counts(r) && !before.routes.includes(r)));
  put('routesRemoved', before.routes.filter((r) => counts(r) && !after.routes.includes(r)));

  const known = new Set(ourProcesses(before, scope, process.pid).map((p) => `${p.pid} ${p.start}`));
  put('processes', ourProcesses(after, scope, process.pid).filter((p) => !known.has(`${p.pid} ${p.start}`)).map((p) => `${p.pid} ${p.comm}${commandLine(p.pid)}`));

  if (before.ipForward !== after.ipForward) diff.ipForward = [`${before.ipForward} -> ${after.ipForward}`];
  if (before.hostname !== after.hostname) diff.hostname = [after.hostname];
  return diff;
}

/**
 * The leftovers once our own teardown has settled: a cgroup the kernel still
 * counts a dying process in, a route withdrawn a moment after its link. A
 * leak stays; after `graceMs` it is reported.
 */
export async function settledLeftovers(before: HostSnapshot, graceMs = 10_000, scope: LeftoverScope = leftoverScope()): Promise<Leftovers> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const diff = leftovers(before, hostSnapshot(scope), scope);
    if (Object.keys(diff).length === 0 || Date.now() > deadline) return diff;
    await new Promise((r) => setTimeout(r, 250));
  }
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
