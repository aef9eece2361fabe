// A fake cgroup v2 filesystem: a real directory tree in a temp dir, behind
// the CgroupFs interface, that enforces the kernel rules our v2 code must
// obey (Documentation/admin-guide/cgroup-v2.rst):
//  - a child has a controller's interface files only while its parent lists
//    the controller in cgroup.subtree_control;
//  - a parent may enable only controllers it has itself (cgroup.controllers);
//  - no internal processes: a non-root cgroup with processes cannot enable
//    controllers for its children, and one with controllers enabled for its
//    children cannot take processes;
//  - a controller cannot be disabled while a child enables it further down;
//  - rmdir fails with EBUSY while the cgroup has processes or children;
//  - cgroupfs files cannot be created (EACCES), read-only files and bad
//    values are refused (EINVAL), as measured on a real kernel.
// Processes are just pids listed in cgroup.procs files.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { errnoValue, SyscallError, type BpfInsn } from '@hull/sys';
import { type CgroupFs, parsePids } from '../src/cgroupfs.js';

export interface FakeOptions {
  /** What the root offers (root's cgroup.controllers). */
  controllers?: string[];
  /** Already enabled in the root's cgroup.subtree_control, as systemd would leave it. */
  rootSubtree?: string[];
  /** Swap accounting: memory.swap.max exists. */
  swap?: boolean;
  /** cgroup.kill exists (Linux 5.14+). */
  cgroupKill?: boolean;
}

const CONTROLLER_FILES: Record<string, Record<string, string>> = {
  pids: { 'pids.max': 'max', 'pids.current': '0', 'pids.events': 'max 0' },
  memory: { 'memory.max': 'max', 'memory.current': '0', 'memory.peak': '0', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0' },
  cpu: { 'cpu.max': 'max 100000', 'cpu.weight': '100' },
};
/** The kernel accepts these values; anything else is EINVAL. */
const VALID: Record<string, RegExp> = {
  'pids.max': /^(max|\d+)$/,
  'memory.max': /^(max|\d+)$/,
  'memory.swap.max': /^(max|\d+)$/,
  'cpu.max': /^(max|\d+)( \d+)?$/,
  'cpu.weight': /^\d+$/,
};
const READ_ONLY = new Set(['cgroup.controllers', 'cgroup.events', 'pids.current', 'pids.events', 'memory.current', 'memory.peak', 'memory.events', 'cpu.stat']);

function fail(syscall: string, code: string, path: string): never {
  throw new SyscallError(syscall, errnoValue(code), [path]);
}

export class FakeCgroup2 implements CgroupFs {
  readonly root: string;
  /** Every write, in order, for asserting what our code touched. */
  readonly writes: { path: string; value: string }[] = [];
  readonly killed: number[] = [];
  /** The pid "0" stands for in a cgroup.procs write. */
  selfPid = 4242;
  /** Pids that come back after a kill, as if they had forked just before it: pid -> times. */
  readonly respawn = new Map<number, number>();
  /** Pids that never die (a process stuck in D state). */
  readonly unkillable = new Set<number>();
  private nextPid = 10_000;
  private readonly opts: Required<FakeOptions>;

  constructor(opts: FakeOptions = {}) {
    this.opts = { controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'], rootSubtree: [], swap: true, cgroupKill: true, ...opts };
    this.root = mkdtempSync(join(tmpdir(), 'hull-fake-cgroup2-'));
    writeFileSync(join(this.root, 'cgroup.controllers'), this.opts.controllers.join(' '));
    writeFileSync(join(this.root, 'cgroup.subtree_control'), this.opts.rootSubtree.join(' '));
    writeFileSync(join(this.root, 'cgroup.procs'), '1\n');
    writeFileSync(join(this.root, 'cpu.stat'), 'usage_usec 0\n');
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  // ------------------------------------------------------------ CgroupFs

  exists(path: string): boolean {
    return existsSync(this.inside(path));
  }

  read(path: string): string {
    const p = this.inside(path);
    if (!existsSync(p)) fail('read', 'ENOENT', path);
    return readFileSync(p, 'utf8');
  }

  write(path: string, value: string): void {
    const p = this.inside(path);
    const dir = dirname(p);
    const file = basename(p);
    // cgroupfs has no create: open(O_CREAT) of a missing file is EACCES.
    if (!existsSync(p)) fail('write', existsSync(dir) ? 'EACCES' : 'ENOENT', path);
    if (READ_ONLY.has(file)) fail('write', 'EINVAL', path);
    this.writes.push({ path, value });
    const v = value.trim();
    if (file === 'cgroup.subtree_control') return this.writeSubtree(dir, v, path);
    if (file === 'cgroup.procs') return this.attach(dir, v === '0' ? this.selfPid : Number(v), path);
    if (file === 'cgroup.kill') {
      if (v !== '1') fail('write', 'EINVAL', path);
      // The kernel kills forks racing with cgroup.kill too: no respawn here.
      for (const d of this.subtree(dir)) for (const pid of this.procs(d)) this.killIn(pid, d, false);
      return;
    }
    if (VALID[file] && !VALID[file].test(v)) fail('write', 'EINVAL', path);
    writeFileSync(p, v);
  }

  mkdir(path: string): void {
    const p = this.inside(path);
    const parent = dirname(p);
    if (!existsSync(join(parent, 'cgroup.procs'))) fail('mkdir', 'ENOENT', path);
    if (existsSync(p)) fail('mkdir', 'EEXIST', path);
    mkdirSync(p);
    const inherited = this.words(join(parent, 'cgroup.subtree_control'));
    writeFileSync(join(p, 'cgroup.controllers'), inherited.join(' '));
    writeFileSync(join(p, 'cgroup.subtree_control'), '');
    writeFileSync(join(p, 'cgroup.procs'), '');
    writeFileSync(join(p, 'cgroup.events'), 'populated 0\nfrozen 0');
    // cpu.stat is a core file: every cgroup has it, cpu controller or not.
    writeFileSync(join(p, 'cpu.stat'), 'usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0');
    if (this.opts.cgroupKill) writeFileSync(join(p, 'cgroup.kill'), '');
    for (const c of inherited) this.addControllerFiles(p, c);
  }

  rmdir(path: string): void {
    const p = this.inside(path);
    if (!existsSync(p)) fail('rmdir', 'ENOENT', path);
    if (p === this.root) fail('rmdir', 'EBUSY', path);
    if (this.procs(p).length > 0 || this.children(p).length > 0) fail('rmdir', 'EBUSY', path);
    rmSync(p, { recursive: true });
  }

  /** Device programs attached, by cgroup directory; `deviceProgramError` makes the next attach fail as the kernel would. */
  readonly devicePrograms = new Map<string, readonly BpfInsn[]>();
  deviceProgramError: string | null = null;

  attachDeviceProgram(dir: string, program: readonly BpfInsn[]): void {
    if (!existsSync(join(this.inside(dir), 'cgroup.procs'))) fail('bpf', 'EBADF', dir);
    if (this.deviceProgramError) fail('bpf', this.deviceProgramError, dir);
    this.devicePrograms.set(dir, program);
  }

  killMember(pid: number, dir: string): void {
    const d = this.inside(dir);
    if (this.procs(d).includes(pid)) this.killIn(pid, d, true);
  }

  // ------------------------------------------------------- test controls

  /** Start a fake process in the cgroup at `path` (through cgroup.procs, so the rules apply). */
  spawnIn(path: string): number {
    const pid = this.nextPid++;
    this.write(join(path, 'cgroup.procs'), String(pid));
    return pid;
  }

  /** Set a read-only statistic, as the kernel would update it. */
  setStat(path: string, text: string): void {
    writeFileSync(this.inside(path), text);
  }

  /** Every cgroup directory under the root, relative to it. */
  cgroups(): string[] {
    return this.subtree(this.root)
      .filter((d) => d !== this.root)
      .map((d) => relative(this.root, d))
      .sort();
  }

  // ------------------------------------------------------------ internals

  private inside(path: string): string {
    const rel = relative(this.root, path);
    if (rel.startsWith('..')) throw new Error(`fake cgroupfs: ${path} is outside ${this.root}: our code touched a real path`);
    return path;
  }

  private words(file: string): string[] {
    return readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  }

  private procs(dir: string): number[] {
    return parsePids(readFileSync(join(dir, 'cgroup.procs'), 'utf8'));
  }

  private children(dir: string): string[] {
    return readdirSync(dir)
      .map((e) => join(dir, e))
      .filter((e) => statSync(e).isDirectory());
  }

  private subtree(dir: string): string[] {
    return [dir, ...this.children(dir).flatMap((c) => this.subtree(c))];
  }

  private addControllerFiles(dir: string, controller: string): void {
    for (const [file, value] of Object.entries(CONTROLLER_FILES[controller] ?? {})) writeFileSync(join(dir, file), value);
    if (controller === 'memory' && this.opts.swap) writeFileSync(join(dir, 'memory.swap.max'), 'max');
  }

  private removeControllerFiles(dir: string, controller: string): void {
    for (const file of Object.keys(CONTROLLER_FILES[controller] ?? {})) rmSync(join(dir, file), { force: true });
    if (controller === 'memory') rmSync(join(dir, 'memory.swap.max'), { force: true });
  }

  private writeSubtree(dir: string, value: string, path: string): void {
    const available = this.words(join(dir, 'cgroup.controllers'));
    let enabled = this.words(join(dir, 'cgroup.subtree_control'));
    for (const token of value.split(/\s+/)) {
      const op = token[0];
      const c = token.slice(1);
      if ((op !== '+' && op !== '-') || !c) fail('write', 'EINVAL', path);
      // The kernel answers ENOENT for a controller this cgroup does not have.
      if (!available.includes(c)) fail('write', 'ENOENT', path);
      if (op === '+') {
        // No internal processes; the root is exempt.
        if (dir !== this.root && this.procs(dir).length > 0) fail('write', 'EBUSY', path);
        if (!enabled.includes(c)) enabled = [...enabled, c];
      } else {
        if (this.children(dir).some((child) => this.words(join(child, 'cgroup.subtree_control')).includes(c))) fail('write', 'EBUSY', path);
        enabled = enabled.filter((e) => e !== c);
      }
    }
    const before = this.words(join(dir, 'cgroup.subtree_control'));
    writeFileSync(join(dir, 'cgroup.subtree_control'), enabled.join(' '));
    for (const child of this.children(dir)) {
      writeFileSync(join(child, 'cgroup.controllers'), enabled.join(' '));
      for (const c of enabled.filter((e) => !before.includes(e))) this.addControllerFiles(child, c);
      for (const c of before.filter((e) => !enabled.includes(e))) this.removeControllerFiles(child, c);
    }
  }

  private attach(dir: string, pid: number, path: string): void {
    if (!Number.isInteger(pid) || pid <= 0) fail('write', 'EINVAL', path);
    // No internal processes: a cgroup that hands controllers down cannot hold processes.
    if (dir !== this.root && this.words(join(dir, 'cgroup.subtree_control')).length > 0) fail('write', 'EBUSY', path);
    for (const d of this.subtree(this.root)) {
      const procs = this.procs(d);
      if (procs.includes(pid)) this.setProcs(d, procs.filter((p) => p !== pid));
    }
    this.setProcs(dir, [...this.procs(dir), pid]);
  }

  private killIn(pid: number, dir: string, mayRespawn: boolean): void {
    if (this.unkillable.has(pid)) return;
    this.killed.push(pid);
    const left = this.procs(dir).filter((p) => p !== pid);
    const again = mayRespawn ? (this.respawn.get(pid) ?? 0) : 0;
    if (again > 0) {
      // It forked just before it died: the child is a new pid in the same cgroup.
      const child = this.nextPid++;
      this.respawn.delete(pid);
      this.respawn.set(child, again - 1);
      left.push(child);
    }
    this.setProcs(dir, left);
  }

  private setProcs(dir: string, pids: number[]): void {
    writeFileSync(join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
    if (existsSync(join(dir, 'pids.current'))) writeFileSync(join(dir, 'pids.current'), String(pids.length));
    writeFileSync(join(dir, 'cgroup.events'), `populated ${pids.length > 0 ? 1 : 0}\nfrozen 0`);
  }
}
