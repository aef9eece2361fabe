// The v2 implementation against a fake cgroupfs that enforces the kernel's
// rules (fake-cgroup2.ts). Our machines are v1 hybrid, so this is where the v2
// logic runs; docs/04-cgroups.md lists what only a real v2 kernel can show.
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';
import { randomToken } from '@hull/testkit';
import { CgroupV2, createCgroup, enableControllers, openCgroup } from '../src/index.js';
import { FakeCgroup2, type FakeOptions } from './fake-cgroup2.js';

const fakes: FakeCgroup2[] = [];
function fake(opts?: FakeOptions): FakeCgroup2 {
  const f = new FakeCgroup2(opts);
  fakes.push(f);
  return f;
}
afterEach(() => {
  while (fakes.length) fakes.pop()!.cleanup();
});

const id = () => `t-${randomToken(10)}`;

describe('the fake cgroup2 enforces the kernel rules our code must obey', () => {
  it('a child gets a controller only through its parent’s subtree_control', () => {
    const f = fake();
    f.mkdir(join(f.root, 'a'));
    expect(f.exists(join(f.root, 'a', 'pids.max'))).toBe(false);
    expect(() => f.write(join(f.root, 'a', 'pids.max'), '5')).toThrow(/EACCES/);
    f.write(join(f.root, 'cgroup.subtree_control'), '+pids');
    expect(f.read(join(f.root, 'a', 'pids.max'))).toBe('max');
    expect(f.read(join(f.root, 'a', 'cgroup.controllers'))).toBe('pids');
  });

  it('refuses to enable controllers below a cgroup that holds processes (no internal processes)', () => {
    const f = fake({ rootSubtree: ['pids'] });
    const a = join(f.root, 'a');
    f.mkdir(a);
    f.spawnIn(a);
    expect(() => f.write(join(a, 'cgroup.subtree_control'), '+pids')).toThrow(/EBUSY/);
  });

  it('refuses processes in a cgroup that hands controllers down', () => {
    const f = fake({ rootSubtree: ['pids'] });
    const a = join(f.root, 'a');
    f.mkdir(a);
    f.write(join(a, 'cgroup.subtree_control'), '+pids');
    expect(() => f.spawnIn(a)).toThrow(/EBUSY/);
  });

  it('refuses a controller the parent does not have, bad values and busy rmdir', () => {
    const f = fake({ controllers: ['memory'], rootSubtree: ['memory'] });
    const a = join(f.root, 'a');
    f.mkdir(a);
    expect(() => f.write(join(a, 'cgroup.subtree_control'), '+pids')).toThrow(/ENOENT/);
    expect(() => f.write(join(a, 'memory.max'), 'lots')).toThrow(/EINVAL/);
    expect(() => f.write(join(a, 'memory.current'), '1')).toThrow(/EINVAL/);
    f.spawnIn(a);
    expect(() => f.rmdir(a)).toThrow(/EBUSY/);
  });
});

describe('CgroupV2', () => {
  it('enables the controllers down to hull/<id>, writes the limits there and nowhere else', () => {
    const f = fake();
    const pidsMax = randomInt(2, 500);
    const memoryBytes = randomInt(8, 512) * 1024 * 1024;
    const name = id();
    const cg = createCgroup(name, { pidsMax, memoryBytes, cpus: 0.25 }, { layout: { version: 2, root: f.root }, fs: f });
    expect(cg.version).toBe(2);
    expect(cg.name).toBe(`hull/${name}`);
    const dir = join(f.root, 'hull', name);
    expect(cg.dirs).toEqual([dir]);
    expect(cg.procsFiles).toEqual([join(dir, 'cgroup.procs')]);
    expect(f.read(join(f.root, 'cgroup.subtree_control')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    expect(f.read(join(f.root, 'hull', 'cgroup.subtree_control')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    expect(f.read(join(dir, 'pids.max'))).toBe(String(pidsMax));
    expect(f.read(join(dir, 'memory.max'))).toBe(String(memoryBytes));
    expect(f.read(join(dir, 'memory.swap.max'))).toBe('0');
    expect(f.read(join(dir, 'cpu.max'))).toBe('25000 100000');
    // The leaf hands nothing down, so it may hold the container's processes.
    expect(f.read(join(dir, 'cgroup.subtree_control'))).toBe('');
    expect(f.cgroups()).toEqual(['hull', `hull/${name}`]);
    const touched = f.writes.map((w) => w.path.slice(f.root.length));
    expect(touched).toEqual([
      '/cgroup.subtree_control',
      '/hull/cgroup.subtree_control',
      `/hull/${name}/pids.max`,
      `/hull/${name}/memory.max`,
      `/hull/${name}/memory.swap.max`,
      `/hull/${name}/cpu.max`,
    ]);
  });

  it('leaves a parent that already enables the controllers untouched', () => {
    const f = fake({ rootSubtree: ['cpuset', 'cpu', 'io', 'memory', 'pids'] });
    createCgroup(id(), { pidsMax: 3 }, { layout: { version: 2, root: f.root }, fs: f });
    expect(f.writes.map((w) => w.path)).not.toContain(join(f.root, 'cgroup.subtree_control'));
    expect(f.read(join(f.root, 'cgroup.subtree_control'))).toBe('cpuset cpu io memory pids');
  });

  it('shares the hull parent between containers', () => {
    const f = fake();
    const a = CgroupV2.create(f.root, id(), { pidsMax: 5 }, f);
    const b = CgroupV2.create(f.root, id(), { pidsMax: 7 }, f);
    expect(f.cgroups()).toEqual(['hull', a.name, b.name].sort());
  });

  it('skips memory.swap.max when the kernel has no swap accounting', () => {
    const f = fake({ swap: false });
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 4, memoryBytes: 64 << 20 }, f);
    expect(f.exists(join(cg.dir, 'memory.swap.max'))).toBe(false);
    expect(f.read(join(cg.dir, 'memory.max'))).toBe(String(64 << 20));
  });

  it('names the missing controller and the cgroup version, and leaves nothing behind', () => {
    const f = fake({ controllers: ['cpu', 'memory'] });
    const err = (() => {
      try {
        CgroupV2.create(f.root, id(), { pidsMax: 5 }, f);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as Error).message).toMatch(/^cgroup v2: the pids controller is not available \(.*cgroup\.controllers lists: cpu memory\); --pids-max needs it$/);
    expect(f.cgroups()).toEqual([]);
    expect(f.writes).toEqual([]);
  });

  it('does not need a controller no limit asks for', () => {
    const f = fake({ controllers: ['memory'] });
    const cg = CgroupV2.create(f.root, id(), { memoryBytes: 32 << 20 }, f);
    expect(f.read(join(f.root, 'hull', 'cgroup.subtree_control'))).toBe('memory');
    expect(cg.usage().pidsCurrent).toBeNull();
  });

  it('explains the no-internal-processes rule when someone put a process into hull/', () => {
    const f = fake({ rootSubtree: ['pids'] });
    f.mkdir(join(f.root, 'hull'));
    f.spawnIn(join(f.root, 'hull'));
    expect(() => CgroupV2.create(f.root, id(), { pidsMax: 5, memoryBytes: 16 << 20 }, f)).toThrow(
      /^cgroup v2: cannot enable pids, memory, cpu in .*\/hull\/cgroup\.subtree_control: .*\/hull holds processes \(the no-internal-processes rule\)$/,
    );
    expect(f.cgroups()).toEqual(['hull']);
  });

  it('refuses an id that could leave hull/ or is not a plain name', () => {
    const f = fake();
    for (const bad of ['../escape', 'a/../../b', 'a//b', '/abs', 'a/', '', '.hidden', 'a/./b', 'a/b/c/d/e/f/g/h/i']) {
      expect(() => CgroupV2.create(f.root, bad, { pidsMax: 5 }, f)).toThrow(/cgroup id/);
    }
    expect(f.cgroups()).toEqual([]);
  });

  it('nests a path id (an OCI cgroupsPath) under hull/, enabling controllers at every level', () => {
    const f = fake();
    const [a, b] = [id(), id()];
    const cg = CgroupV2.create(f.root, `${a}/${b}`, { pidsMax: 5 }, f);
    expect(cg.name).toBe(`hull/${a}/${b}`);
    expect(f.read(`${f.root}/hull/${a}/cgroup.subtree_control`)).toContain('pids');
    expect(f.read(`${f.root}/hull/${a}/${b}/pids.max`)).toBe('5');
  });

  it('refuses an id already in use', () => {
    const f = fake();
    const name = id();
    CgroupV2.create(f.root, name, { pidsMax: 5 }, f);
    expect(() => CgroupV2.create(f.root, name, { pidsMax: 6 }, f)).toThrow(`cgroup hull/${name} already exists`);
    expect(f.read(join(f.root, 'hull', name, 'pids.max'))).toBe('5');
  });

  it('removes its directory when the kernel refuses a limit', () => {
    const f = fake();
    const name = id();
    expect(() => CgroupV2.create(f.root, name, { pidsMax: -1 }, f)).toThrow(SyscallError);
    expect(f.cgroups()).toEqual(['hull']);
  });

  it('moves processes in and reads usage back', () => {
    const f = fake();
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 10, memoryBytes: 64 << 20, cpus: 0.5 }, f);
    const outside = f.spawnIn(f.root);
    cg.add(outside);
    expect(cg.pids()).toEqual([outside]);
    expect(f.read(join(f.root, 'cgroup.procs'))).not.toContain(String(outside));
    const mem = randomInt(1, 1 << 26);
    const peak = mem + randomInt(1, 1000);
    const usage = randomInt(1, 1e9);
    const throttled = randomInt(1, 1000);
    f.setStat(join(cg.dirs[0]!, 'memory.current'), `${mem}\n`);
    f.setStat(join(cg.dirs[0]!, 'memory.peak'), `${peak}\n`);
    f.setStat(join(cg.dirs[0]!, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n');
    f.setStat(join(cg.dirs[0]!, 'cpu.stat'), `usage_usec ${usage}\nuser_usec 1\nsystem_usec 2\nnr_periods 99\nnr_throttled ${throttled}\nthrottled_usec 1234\n`);
    expect(cg.usage()).toEqual({
      pidsCurrent: 1,
      memoryBytes: mem,
      memoryPeakBytes: peak,
      cpuUsageUsec: usage,
      nrThrottled: throttled,
      throttledUsec: 1234,
      oomKills: 2,
    });
  });

  it('a process joining by writing 0 lands in the leaf', () => {
    const f = fake();
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 10 }, f);
    f.write(cg.procsFiles[0]!, '0');
    expect(cg.pids()).toEqual([f.selfPid]);
  });
});

describe('openCgroup on v2', () => {
  it('finds a cgroup made earlier, reads its limits back, and can remove it', async () => {
    const f = fake();
    const layout = { version: 2 as const, root: f.root };
    const name = id();
    const pidsMax = randomInt(2, 500);
    createCgroup(name, { pidsMax, memoryBytes: 48 << 20, cpus: 0.75 }, { layout, fs: f });
    const again = openCgroup(name, { layout, fs: f })!;
    expect(again.limits).toEqual({ pidsMax, memoryBytes: 48 << 20, cpus: 0.75 });
    f.spawnIn(again.dirs[0]!);
    expect(again.usage().pidsCurrent).toBe(1);
    await again.destroy();
    expect(f.cgroups()).toEqual(['hull']);
    expect(openCgroup(name, { layout, fs: f })).toBeNull();
  });

  it('reads no limit where the files say max', () => {
    const f = fake();
    const layout = { version: 2 as const, root: f.root };
    const name = id();
    createCgroup(name, { memoryBytes: 16 << 20 }, { layout, fs: f });
    expect(openCgroup(name, { layout, fs: f })!.limits).toEqual({ memoryBytes: 16 << 20 });
  });
});

describe('CgroupV2.destroy', () => {
  it('kills everything inside with cgroup.kill and removes only its own directory', async () => {
    const f = fake();
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 10 }, f);
    const other = CgroupV2.create(f.root, id(), { pidsMax: 10 }, f);
    const pids = [f.spawnIn(cg.dirs[0]!), f.spawnIn(cg.dirs[0]!), f.spawnIn(cg.dirs[0]!)];
    const bystander = f.spawnIn(other.dirs[0]!);
    await cg.destroy();
    expect(f.killed.sort()).toEqual(pids.sort());
    expect(f.writes.filter((w) => w.path.endsWith('cgroup.kill')).map((w) => w.path)).toEqual([join(cg.dirs[0]!, 'cgroup.kill')]);
    expect(f.cgroups()).toEqual(['hull', other.name]);
    expect(other.pids()).toEqual([bystander]);
    await cg.destroy(); // twice is fine
  });

  it('without cgroup.kill (before Linux 5.14), SIGKILLs each process until none is left, even if they fork meanwhile', async () => {
    const f = fake({ cgroupKill: false });
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 10 }, f);
    const a = f.spawnIn(cg.dirs[0]!);
    f.respawn.set(a, 3);
    await cg.destroy({ intervalMs: 1 });
    expect(f.killed).toHaveLength(4);
    expect(f.cgroups()).toEqual(['hull']);
  });

  it('gives up after its time limit with one line naming what is stuck', async () => {
    const f = fake();
    const cg = CgroupV2.create(f.root, id(), { pidsMax: 10 }, f);
    const stuck = f.spawnIn(cg.dirs[0]!);
    f.unkillable.add(stuck);
    await expect(cg.destroy({ timeoutMs: 100, intervalMs: 5 })).rejects.toThrow(
      new RegExp(`^cgroup ${cg.name}: could not remove it: processes ${stuck} still inside after 100 ms$`),
    );
    expect(f.cgroups()).toEqual(['hull', cg.name]);
  });
});

describe('enableControllers', () => {
  it('writes only the missing controllers, in one write', () => {
    const f = fake({ rootSubtree: ['memory'] });
    enableControllers(f, f.root, ['pids', 'memory', 'cpu']);
    expect(f.writes).toEqual([{ path: join(f.root, 'cgroup.subtree_control'), value: '+pids +cpu' }]);
  });
});
