// -m/--memory, --cpus, --pids-limit through chapter 04's cgroups: the limits
// bite inside, the host sees them in hull/<id>, and the cgroup is gone after.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, run, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime limits'))('hull run -m / --cpus / --pids-limit', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  const cgroupDirs = (id: string): string[] =>
    (JSON.parse(readFileSync(join(root.dir, 'containers', id, 'state.json'), 'utf8')) as { cgroupDirs: string[] }).cgroupDirs;
  const controllerFile = (dirs: string[], file: string): string => {
    const dir = dirs.find((d) => existsSync(join(d, file)));
    if (!dir) throw new Error(`no ${file} in ${dirs.join(', ')}`);
    return readFileSync(join(dir, file), 'utf8').trim();
  };

  /**
   * The kernel's own count of OOM kills in the cgroup: "oom_kill N" in v2's
   * memory.events, or in v1's memory.oom_control (there since Linux 4.13).
   */
  const oomKills = (dirs: string[]): number => {
    const file = dirs.map((d) => join(d, 'memory.events')).find((f) => existsSync(f)) ?? dirs.map((d) => join(d, 'memory.oom_control')).find((f) => existsSync(f));
    if (!file) throw new Error(`no memory.events or memory.oom_control in ${dirs.join(', ')}`);
    const count = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1];
    if (count === undefined) throw new Error(`${file} has no oom_kill line`);
    return Number(count);
  };

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    await root.hull(['pull', image]);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('--pids-limit: the host cgroup says so, and forks beyond it fail inside', async () => {
    const limit = 6 + Math.floor(Math.random() * 6);
    const name = `p-${randomToken(6)}`;
    // A subshell forks until the limit stops it; PID 1 then execs (no fork needed) and waits.
    const script = '(for i in $(seq 1 40); do sleep 60 & done); exec sleep 60';
    const id = (await root.hull(['run', '-d', '--name', name, '--pids-limit', String(limit), image, 'sh', '-c', script])).stdout.trim();
    const dirs = cgroupDirs(id);
    expect(dirs.every((d) => d.includes(`/hull/${id}`))).toBe(true);
    expect(controllerFile(dirs, 'pids.max')).toBe(String(limit));
    await waitFor(async () => /fork/.test((await root.hull(['logs', name])).stderr), 20_000, 'a failed fork');
    const current = Number(controllerFile(dirs, 'pids.current'));
    expect(current).toBeLessThanOrEqual(limit);
    expect(current).toBeGreaterThanOrEqual(limit - 2); // 40 tries filled it up to the limit
    // The host is not limited meanwhile.
    expect((await run('sh', ['-c', `for i in $(seq 1 ${limit + 10}); do true & done; wait; echo ok`])).stdout).toBe('ok\n');
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    expect(dirs.some((d) => existsSync(d))).toBe(false);
  });

  it('-m: a memory hog is OOM-killed (137) and the host survives', async () => {
    // PID 1 itself doubles a string until the OOM killer ends it.
    const r = await root.hull(['run', '--rm', '-m', '32m', image, 'sh', '-c', 'x=0123456789abcdef; while :; do x=$x$x; done']);
    expect(r.code).toBe(137);
    // 16 bytes doubled 16 times: 1 MiB, well under the limit.
    const ok = await root.hull(['run', '--rm', '-m', '32m', image, 'sh', '-c', 'x=0123456789abcdef; for i in $(seq 1 16); do x=$x$x; done; echo ${#x}']);
    expect(ok.stdout.trim()).toBe(String(16 * 2 ** 16));
    expect(ok.code).toBe(0);
  });

  it('-m: the kernel counts the OOM kill in the container\'s own cgroup (oom_kill), not only an exit code', async () => {
    const name = `o-${randomToken(6)}`;
    // A child hog is OOM-killed; PID 1 (sh, far smaller, so never the victim) says how it
    // ended and stays, so the cgroup is still there to read (hull removes it at exit).
    const script = 'sh -c "x=0123456789abcdef; while :; do x=\\$x\\$x; done"; echo "hog $?"; exec sleep 300';
    const id = (await root.hull(['run', '-d', '--name', name, '-m', '32m', image, 'sh', '-c', script])).stdout.trim();
    const dirs = cgroupDirs(id);
    await waitFor(async () => /hog 137/.test((await root.hull(['logs', name])).stdout), 90_000, 'the hog to be OOM-killed');
    expect(oomKills(dirs)).toBe(1);
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    expect(dirs.some((d) => existsSync(d))).toBe(false);
  });

  it('--cpus: the CFS quota in the host cgroup; inspect reports every limit', async () => {
    const name = `c-${randomToken(6)}`;
    const id = (await root.hull(['run', '-d', '--name', name, '--cpus', '0.5', '-m', '32m', image])).stdout.trim();
    const dirs = cgroupDirs(id);
    const quota = existsSync(join(dirs.find((d) => existsSync(join(d, 'cpu.max'))) ?? '/nonexistent', 'cpu.max'))
      ? controllerFile(dirs, 'cpu.max')
      : controllerFile(dirs, 'cpu.cfs_quota_us');
    expect(quota).toMatch(/^50000\b/);
    const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { HostConfig: { NanoCpus: number; Memory: number } }[];
    expect(info!.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info!.HostConfig.Memory).toBe(32 * 1024 * 1024);
    await root.hull(['rm', '-f', name]);
    expect(dirs.some((d) => existsSync(d))).toBe(false);
  });

  it('bad values are refused with 125 before anything is created', async () => {
    const m = await root.hull(['run', '--rm', '-m', '1k', image]);
    expect(m.code).toBe(125);
    expect(m.stderr).toMatch(/^hull: run: --memory "1k": the minimum is 6m/);
    const p = await root.hull(['run', '--rm', '--pids-limit', '0', image]);
    expect(p.code).toBe(125);
    expect(p.stderr).toMatch(/^hull: run: --pids-limit "0"/);
    expect(root.containers()).toEqual([]);
  });

  it('stats --no-stream: CPU, memory against its limit, pids, from the cgroup', async () => {
    const name = `st-${randomToken(6)}`;
    await root.hull(['run', '-d', '--name', name, '-m', '48m', '--cpus', '0.5', image, 'sh', '-c', 'while :; do :; done']);
    const r = await root.hull(['stats', '--no-stream', '--json', name]);
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout) as { Name: string; CpuPercent: number; MemoryBytes: number; MemoryLimitBytes: number; Pids: number }[];
    expect(row!.Name).toBe(name);
    expect(row!.MemoryLimitBytes).toBe(48 * 1024 * 1024);
    expect(row!.MemoryBytes).toBeGreaterThan(0);
    expect(row!.Pids).toBe(1);
    expect(row!.CpuPercent).toBeGreaterThan(0); // a busy loop, whatever the machine's load
    const table = await root.hull(['stats', '--no-stream']);
    expect(table.stdout).toMatch(new RegExp(`^CONTAINER ID\\s+NAME\\s+CPU %\\s+MEM USAGE / LIMIT\\s+PIDS\\n[0-9a-f]{12}\\s+${name}\\s+[\\d.]+%\\s+[\\d.]+[KM]iB / 48.00MiB\\s+1\\n$`));
    // Without --no-stream: a frame a second until SIGINT, then exit 0.
    const live = root.start(['stats', name]);
    let out = '';
    live.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => (out.match(/^CONTAINER ID/gm) ?? []).length >= 2, 20_000, 'two frames');
    live.kill('SIGINT');
    const code = await new Promise<number | null>((r) => live.on('close', (c) => r(c)));
    expect(code).toBe(0);
    expect(out).toContain(name);
    await root.hull(['rm', '-f', name]);
  });
});
