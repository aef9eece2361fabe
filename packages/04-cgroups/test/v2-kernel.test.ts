// CgroupV2 on a real cgroup2 kernel: what the fake (v2.test.ts) can only
// imitate. Runs where /sys/fs/cgroup is the unified tree: in the guest that
// `npm run test:cgroup2` boots (our machines are v1 hybrid; vitest.config.ts
// leaves this file out there). Every cgroup here lives under a parent of this
// file's own, /sys/fs/cgroup/hull-test-<token>, passed to CgroupV2 as its
// root, so the real hull/ that other files use at the same time is untouched.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { randomToken, requireRoot, waitFor } from '@hull/testkit';
import { CgroupV2, type CgroupFs, detectLayout, enableControllers, hostCgroupFs } from '../src/index.js';

const layout = detectLayout();
const v2 = layout.version === 2;
if (!v2) process.stderr.write('skip: 04-cgroups v2-kernel: this host is not pure cgroup v2 (npm run test:cgroup2 boots one)\n');
const id = () => `t-${randomToken(10)}`;
const read = (path: string) => readFileSync(path, 'utf8').trim();
const keyed = (path: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(read(path))?.[1] ?? NaN);
const subdirs = (dir: string) => readdirSync(dir).filter((f) => statSync(join(dir, f)).isDirectory());

/** `sh` that moves itself into the cgroup (echo 0: "the writing process"), then runs script there. */
function startIn(dir: string, script: string): { child: ChildProcess; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const child = spawn('sh', ['-c', `echo 0 > ${dir}/cgroup.procs || exit 99; ${script}`], { stdio: 'ignore' });
  return { child, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

/** Kill and remove a cgroup tree of ours, deepest first (the cleanup, whatever a test left). */
function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const sub of subdirs(dir)) removeTree(join(dir, sub));
  if (existsSync(join(dir, 'cgroup.kill'))) writeFileSync(join(dir, 'cgroup.kill'), '1');
  for (let i = 0; i < 200; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25); // EBUSY while the killed tasks exit
    }
  }
  rmdirSync(dir);
}

describe.skipIf(!requireRoot('04-cgroups v2-kernel') || !v2)('CgroupV2 on a real cgroup2 kernel', () => {
  const root = v2 ? layout.root : '';
  const base = join(root, `hull-test-${randomToken(8)}`);

  beforeAll(() => {
    mkdirSync(base);
    // Our stand-in for the host root must get the controllers from the real one (the guest's init enables them all there).
    enableControllers(hostCgroupFs, base, ['pids', 'memory', 'cpu']);
  });
  afterAll(() => {
    removeTree(base);
    expect(existsSync(base)).toBe(false);
  });

  it('hands pids, memory and cpu down to hull/<id> and writes the limits there; the kernel keeps processes out of hull/', async () => {
    const pidsMax = randomInt(2, 500);
    const memoryBytes = randomInt(8, 512) * 1024 * 1024;
    const cg = CgroupV2.create(base, id(), { pidsMax, memoryBytes, cpus: 0.25 });
    const parent = join(base, 'hull');
    expect(read(join(base, 'cgroup.subtree_control')).split(' ')).toEqual(expect.arrayContaining(['cpu', 'memory', 'pids']));
    expect(read(join(parent, 'cgroup.subtree_control')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    // What the kernel itself now offers the leaf, and the values it accepted.
    expect(read(join(cg.dir, 'cgroup.controllers')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    expect(read(join(cg.dir, 'pids.max'))).toBe(String(pidsMax));
    expect(read(join(cg.dir, 'memory.max'))).toBe(String(memoryBytes));
    if (existsSync(join(cg.dir, 'memory.swap.max'))) expect(read(join(cg.dir, 'memory.swap.max'))).toBe('0');
    expect(read(join(cg.dir, 'cpu.max'))).toBe('25000 100000');
    expect(read(join(cg.dir, 'cgroup.subtree_control'))).toBe('');
    expect(read(join(cg.dir, 'cgroup.type'))).toBe('domain');

    // The no-internal-processes rule, from the kernel: hull/ hands controllers down, so it may hold no process; the leaf may.
    const s = startIn(parent, 'exec sleep 30');
    expect(await s.exited).toEqual([99, null]);
    const inLeaf = startIn(cg.dir, 'exec sleep 30');
    await waitFor(() => cg.pids().length === 1, 20_000, 'the sleeper to join the leaf');
    expect(read(join(parent, 'cgroup.procs'))).toBe('');
    await cg.destroy();
    expect(await inLeaf.exited).toEqual([null, 'SIGKILL']);
    expect(existsSync(cg.dir)).toBe(false);
    expect(subdirs(parent)).toEqual([]);
  });

  it('names the no-internal-processes rule when hull/ already holds a process, and makes nothing', async () => {
    // A root of its own whose hull/ someone put a process into before any controller was enabled there.
    const other = join(base, `r-${randomToken(6)}`);
    mkdirSync(other);
    mkdirSync(join(other, 'hull'));
    const squatter = startIn(join(other, 'hull'), 'exec sleep 60');
    try {
      await waitFor(() => read(join(other, 'hull', 'cgroup.procs')) !== '', 20_000, 'the squatter to join hull/');
      const name = id();
      let err: unknown;
      try {
        CgroupV2.create(other, name, { pidsMax: 5, memoryBytes: 16 << 20 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ContainerError);
      expect((err as Error).message).toBe(
        `cgroup v2: cannot enable pids, memory, cpu in ${other}/hull/cgroup.subtree_control: ${other}/hull holds processes (the no-internal-processes rule)`,
      );
      expect(subdirs(join(other, 'hull'))).toEqual([]);
      expect(read(join(other, 'hull', 'cgroup.subtree_control'))).toBe('');
      expect(squatter.child.exitCode).toBeNull();
    } finally {
      squatter.child.kill('SIGKILL');
      await squatter.exited;
    }
  });

  it('pids.max bites: forks past it fail, pids.events counts them, the count never passes it', async () => {
    const n = randomInt(4, 10);
    const cg = CgroupV2.create(base, id(), { pidsMax: n });
    const s = startIn(cg.dir, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 60 & done 2>/dev/null; wait');
    try {
      await waitFor(() => keyed(join(cg.dir, 'pids.events'), 'max') > 0, 30_000, 'a fork to be refused');
      // dash gives up at its first failed fork (it may exit itself), so the tree
      // holds n or n-1 tasks: full up to the limit, never past it.
      await waitFor(() => Number(read(join(cg.dir, 'pids.current'))) >= n - 1, 30_000, `pids.current to reach ${n - 1}`);
      for (let i = 0; i < 20; i++) {
        expect(cg.usage().pidsCurrent).toBeLessThanOrEqual(n);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(cg.pids().length).toBeLessThanOrEqual(n);
    } finally {
      await cg.destroy();
    }
    const [code, signal] = await s.exited;
    // dash's "Cannot fork" (a non-zero exit), or still waiting for its sleeps when destroy killed it.
    expect(signal === 'SIGKILL' || (code !== null && code !== 0 && code !== 99)).toBe(true);
  });

  it('memory.max bites: a hog is OOM-killed and memory.events counts one oom_kill', async () => {
    const cg = CgroupV2.create(base, id(), { memoryBytes: 16 << 20 });
    const s = startIn(cg.dir, 'x=0123456789abcdef; while :; do x=$x$x; done');
    expect(await s.exited).toEqual([null, 'SIGKILL']);
    expect(keyed(join(cg.dir, 'memory.events'), 'oom_kill')).toBe(1);
    expect(cg.usage().oomKills).toBe(1);
    expect(cg.usage().memoryPeakBytes).toBeLessThanOrEqual(16 << 20);
    await cg.destroy();
    expect(existsSync(cg.dir)).toBe(false);
  });

  it('cpu.max bites: a busy loop is throttled (cpu.stat nr_throttled, throttled_usec)', async () => {
    const cg = CgroupV2.create(base, id(), { cpus: 0.1 });
    const s = startIn(cg.dir, 'while :; do :; done');
    try {
      await waitFor(() => keyed(join(cg.dir, 'cpu.stat'), 'nr_throttled') > 0, 60_000, 'the loop to be throttled');
      const usage = cg.usage();
      expect(usage.nrThrottled).toBeGreaterThan(0);
      expect(usage.throttledUsec).toBeGreaterThan(0);
      expect(usage.cpuUsageUsec).toBeGreaterThan(0);
    } finally {
      await cg.destroy();
    }
    expect(await s.exited).toEqual([null, 'SIGKILL']);
  });

  it('destroy empties a forking tree through cgroup.kill alone, and spares a sibling', async () => {
    // killMember does nothing here: if the cgroup empties, the kernel's cgroup.kill did it.
    const noKill: CgroupFs = { ...hostCgroupFs, killMember: () => undefined };
    const cg = CgroupV2.create(base, id(), { pidsMax: 50 }, noKill);
    const sibling = CgroupV2.create(base, id(), { pidsMax: 5 });
    const tree = startIn(cg.dir, '(while :; do sleep 5 & sleep 0.2; done) & while :; do sleep 5 & sleep 0.2; done');
    const bystander = startIn(sibling.dir, 'exec sleep 60');
    try {
      expect(existsSync(join(cg.dir, 'cgroup.kill'))).toBe(true);
      await waitFor(() => cg.pids().length >= 4, 30_000, 'the tree to grow');
      await cg.destroy({ timeoutMs: 10_000 });
      expect(await tree.exited).toEqual([null, 'SIGKILL']);
      expect(existsSync(cg.dir)).toBe(false);
      expect(sibling.pids()).toHaveLength(1);
      expect(bystander.child.exitCode).toBeNull();
    } finally {
      await sibling.destroy();
    }
    expect(await bystander.exited).toEqual([null, 'SIGKILL']);
  });
});
