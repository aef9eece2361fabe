// Detached containers and their lifecycle: run -d, ps, logs, stop, kill,
// rm, inspect; one shared supervisor that goes away when nothing runs; the
// errors docker gives for the wrong order of things.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomExitCode, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { existsSync, readFileSync } from 'node:fs';
import { alive, HullRoot, pushBusybox, requireBuild } from './hull.js';

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

interface PsRow {
  Id: string;
  Names: string;
  State: string;
  Status: string;
  ExitCode: number;
  Pid: number;
}

describe.skipIf(!requireRoot('final-runtime lifecycle'))('hull run -d and the lifecycle commands', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  const ps = async (all = true): Promise<PsRow[]> => JSON.parse((await root.hull(['ps', ...(all ? ['-a'] : []), '--json'])).stdout) as PsRow[];

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    expect((await root.hull(['pull', image])).code).toBe(0);
  });

  afterAll(async () => {
    // The supervisor leaves once nothing runs.
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('run -d prints the id, keeps running after the CLI exits, and ps shows it', async () => {
    const name = `d-${randomToken(6)}`;
    const r = await root.hull(['run', '-d', '--name', name, image]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = r.stdout.trim();
    const rows = await ps(false);
    const row = rows.find((x) => x.Id === id)!;
    expect(row.Names).toBe(name);
    expect(row.State).toBe('running');
    expect(alive(row.Pid)).toBe(true);
    // Its parent is the one supervisor, not a Node process of its own.
    const supervisor = root.supervisorPid()!;
    expect(alive(supervisor)).toBe(true);
    expect(parentOf(row.Pid)).toBe(supervisor);
    const table = await root.hull(['ps']);
    expect(table.stdout).toContain(id.slice(0, 12));
    expect(table.stdout).toMatch(new RegExp(`Up .*${name}`));
    expect((await root.hull(['rm', '-f', name])).stdout).toBe(`${name}\n`);
    expect(alive(row.Pid)).toBe(false);
    expect((await ps()).find((x) => x.Id === id)).toBeUndefined();
  });

  it('logs: stdout and stderr in order, --tail, -t, -f until exit; the exit code is recorded', async () => {
    const name = `l-${randomToken(6)}`;
    const words = [randomToken(6), randomToken(6), randomToken(6)];
    const code = randomExitCode();
    const script = `echo ${words[0]}; echo ${words[1]} >&2; sleep 1; echo ${words[2]}; exit ${code}`;
    expect((await root.hull(['run', '-d', '--name', name, image, 'sh', '-c', script])).code).toBe(0);
    const follow = await root.hull(['logs', '-f', name]);
    expect(follow.stdout).toBe(`${words[0]}\n${words[2]}\n`);
    expect(follow.stderr).toBe(`${words[1]}\n`);
    const tail = await root.hull(['logs', '--tail', '1', name]);
    expect(tail.stdout).toBe(`${words[2]}\n`);
    expect(tail.stderr).toBe('');
    const stamped = await root.hull(['logs', '-t', name]);
    expect(stamped.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z ${words[0]}\\n`));
    const row = (await ps()).find((x) => x.Names === name)!;
    expect(row.State).toBe('exited');
    expect(row.ExitCode).toBe(code);
    expect((await root.hull(['ps'])).stdout).not.toContain(name); // only running ones without -a
    expect((await root.hull(['ps', '-a'])).stdout).toContain(`Exited (${code})`);
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('stop: SIGTERM to a command that handles it, SIGKILL otherwise; exit code 128+N', async () => {
    const trapper = `t-${randomToken(6)}`;
    const code = randomExitCode();
    // A PID 1 that traps SIGTERM exits with its own code.
    await root.hull(['run', '-d', '--name', trapper, image, 'sh', '-c', `trap "exit ${code}" TERM; while true; do sleep 0.1; done`]);
    await waitFor(async () => (await root.hull(['logs', trapper])).code === 0, 5000, 'the trap to be set');
    await new Promise((r) => setTimeout(r, 300));
    expect((await root.hull(['stop', trapper])).stdout).toBe(`${trapper}\n`);
    expect((await ps()).find((x) => x.Names === trapper)!.ExitCode).toBe(code);
    const sleeper = `s-${randomToken(6)}`;
    await root.hull(['run', '-d', '--name', sleeper, image]);
    const started = Date.now();
    expect((await root.hull(['stop', '-t', '30', sleeper])).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(25_000); // no grace wait for a PID 1 that ignores SIGTERM
    expect((await ps()).find((x) => x.Names === sleeper)!.ExitCode).toBe(137);
    expect((await root.hull(['rm', trapper, sleeper])).code).toBe(0);
  });

  it('kill -s sends that signal; kill of a stopped container fails with exit 1', async () => {
    const name = `k-${randomToken(6)}`;
    await root.hull(['run', '-d', '--name', name, image, 'sh', '-c', 'trap "exit 42" USR1; while true; do sleep 0.1; done']);
    await new Promise((r) => setTimeout(r, 500));
    expect((await root.hull(['kill', '-s', 'USR1', name])).code).toBe(0);
    await waitFor(async () => (await ps()).find((x) => x.Names === name)!.State === 'exited', 10_000, 'exit');
    expect((await ps()).find((x) => x.Names === name)!.ExitCode).toBe(42);
    const again = await root.hull(['kill', name]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`hull: cannot kill container ${name}: it is not running\n`);
    await root.hull(['rm', name]);
  });

  it('rm of a running container without -f fails with exit 1 and leaves it running', async () => {
    const name = `r-${randomToken(6)}`;
    await root.hull(['run', '-d', '--name', name, image]);
    const r = await root.hull(['rm', name]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`hull: cannot remove container ${name}: it is running: stop it first or use rm -f\n`);
    expect((await ps(false)).some((x) => x.Names === name)).toBe(true);
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
  });

  it('run -d --rm removes the container once it exits', async () => {
    const name = `rr-${randomToken(6)}`;
    await root.hull(['run', '-d', '--rm', '--name', name, image, 'true']);
    await waitFor(async () => !(await ps()).some((x) => x.Names === name), 10_000, 'auto-removal');
    expect(root.mounts()).toEqual([]);
  });

  it('a duplicate name is refused with 125 and one line; nothing is created', async () => {
    const name = `dup-${randomToken(6)}`;
    await root.hull(['run', '-d', '--name', name, image]);
    const count = root.containers().length;
    const r = await root.hull(['run', '-d', '--name', name, image]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^hull: the container name "${name}" is already in use`));
    expect(root.containers().length).toBe(count);
    await root.hull(['rm', '-f', name]);
  });

  it('inspect gives docker-like JSON for a container and an image; unknown names exit 1', async () => {
    const name = `i-${randomToken(6)}`;
    const env = `V=${randomToken(8)}`;
    const id = (await root.hull(['run', '-d', '--name', name, '-e', env, image])).stdout.trim();
    const [c] = JSON.parse((await root.hull(['inspect', name])).stdout) as {
      Id: string;
      Name: string;
      State: { Running: boolean; Pid: number };
      Config: { Env: string[] };
      GraphDriver: { Name: string; Data: { MergedDir: string } };
    }[];
    expect(c!.Id).toBe(id);
    expect(c!.Name).toBe(`/${name}`);
    expect(c!.State.Running).toBe(true);
    expect(c!.Config.Env).toContain(env);
    expect(c!.GraphDriver.Name).toBe('overlay');
    expect(root.mounts()).toContain(c!.GraphDriver.Data.MergedDir);
    const [img] = JSON.parse((await root.hull(['inspect', image])).stdout) as { RepoTags: string[]; Config: { Cmd: string[] } }[];
    expect(img!.RepoTags).toEqual([image]);
    expect(img!.Config.Cmd).toEqual(['sleep', '300']);
    const missing = await root.hull(['inspect', `nope-${randomToken(6)}`]);
    expect(missing.code).toBe(1);
    await root.hull(['rm', '-f', name]);
  });

  it('20 run -d at once: all start, with unique generated names, under one supervisor', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => root.hull(['run', '-d', image])));
    expect(runs.map((r) => r.code)).toEqual(Array(20).fill(0));
    const ids = runs.map((r) => r.stdout.trim());
    const rows = (await ps(false)).filter((x) => ids.includes(x.Id));
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((x) => x.Names)).size).toBe(20);
    const supervisor = root.supervisorPid()!;
    expect(rows.every((x) => parentOf(x.Pid) === supervisor)).toBe(true);
    const rm = await root.hull(['rm', '-f', ...ids]);
    expect(rm.code).toBe(0);
    expect(rows.some((x) => alive(x.Pid))).toBe(false);
  });

  it('after a crash (the supervisor killed with -9), ps -a shows the truth and rm repairs the leftovers', async () => {
    const name = `crash-${randomToken(6)}`;
    const id = (await root.hull(['run', '-d', '--name', name, '--pids-limit', '50', image])).stdout.trim();
    const row = (await ps()).find((x) => x.Id === id)!;
    const supervisor = root.supervisorPid()!;
    process.kill(supervisor, 'SIGKILL'); // ours: this test's hull started it
    await waitFor(() => !alive(row.Pid), 10_000, 'PID 1 to die with its supervisor (PDEATHSIG)');
    const after = (await ps()).find((x) => x.Id === id)!;
    expect(after.State).toBe('exited');
    expect(after.ExitCode).toBe(-1);
    // What the crash left: the overlay still mounted, the cgroup still there.
    expect(root.mounts().some((m) => m.includes(id))).toBe(true);
    const state = JSON.parse(readFileSync(`${root.dir}/containers/${id}/state.json`, 'utf8')) as { cgroupDirs: string[] };
    expect(state.cgroupDirs.some((d) => existsSync(d))).toBe(true);
    expect((await root.hull(['rm', name])).code).toBe(0);
    expect(root.mounts().some((m) => m.includes(id))).toBe(false);
    expect(state.cgroupDirs.some((d) => existsSync(d))).toBe(false);
    // The next run -d starts a new supervisor.
    const next = await root.hull(['run', '-d', '--rm', image, 'true']);
    expect(next.code).toBe(0);
    expect(root.supervisorPid()).not.toBe(supervisor);
  });

  it('prune removes every stopped container and leaves running ones', async () => {
    const stopped = [`pa-${randomToken(5)}`, `pb-${randomToken(5)}`];
    for (const n of stopped) await root.hull(['run', '--name', n, image, 'true']);
    const live = `pl-${randomToken(5)}`;
    await root.hull(['run', '-d', '--name', live, image]);
    const r = await root.hull(['prune']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Deleted Containers:');
    const names = (await ps()).map((x) => x.Names);
    expect(names).toContain(live);
    for (const n of stopped) expect(names).not.toContain(n);
    await root.hull(['rm', '-f', live]);
  });
});
