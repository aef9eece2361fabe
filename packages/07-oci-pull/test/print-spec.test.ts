// `run --print-spec`: the image config converted to config.json
// (conversion.md, through runtimeConfigFromImage) on top of chapters 04 and
// 06's parts for the same flags; and the same run does what it says.
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxImage, busyboxRootfs, descendants, hostSnapshot, type HostSnapshot, leftovers, printedSpec, pushImage, randomHostname, randomToken, requireRoot, specNotContained } from '@hull/testkit';
import { listDir, registries, removeTempDirs, repo, step, tempDir } from './helpers.js';

const anon = registries.anonymous.host;

describe.skipIf(!requireRoot('07-oci-pull run --print-spec'))('07-oci-pull: run --print-spec', () => {
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => {
    removeTempDirs();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it("prints the image's Env, WorkingDir, User, Labels and the CMD given, chapter 04's limits and 06's network, runs nothing, and keeps no container", async () => {
    const name = repo('spec');
    const value = randomToken(12);
    const workdir = `/w-${randomToken(6)}`;
    const label = `org.example.${randomToken(6)}`;
    const image = await busyboxImage(busyboxRootfs(), {
      // A hostile label: it must not choose the network (org.hull.* is the engine's).
      config: { Env: ['PATH=/bin:/usr/bin', `FOO=${value}`], WorkingDir: workdir, User: 'user', Cmd: ['false'], Labels: { [label]: value, 'org.hull.network.mode': 'host' } },
    });
    await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const hostname = randomHostname();
    const pids = randomInt(5, 500);
    const cmd = ['sh', '-c', `echo ${randomToken(8)}`];
    const r = await step(['run', '--print-spec', '--net', 'none', '--hostname', hostname, '--pids-max', String(pids), `${anon}/${name}:v1`, '--', ...cmd], root);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('image label org.hull.network.mode not converted to an annotation');
    const spec = JSON.parse(r.stdout) as RuntimeSpec;
    expect(spec.ociVersion).toBe('1.1.0');
    expect(spec.process?.args).toEqual(cmd);
    expect(spec.process?.env).toEqual(expect.arrayContaining(['PATH=/bin:/usr/bin', `FOO=${value}`, `HOSTNAME=${hostname}`, 'HOME=/home/user']));
    expect(spec.process?.cwd).toBe(workdir);
    expect(spec.process?.user).toMatchObject({ uid: 1000, gid: 1000 });
    expect(spec.hostname).toBe(hostname);
    expect(spec.annotations?.[label]).toBe(value);
    expect(spec.annotations?.['org.hull.network.mode']).toBe('none');
    expect(spec.linux?.resources).toEqual({ pids: { limit: pids } });

    // Chapters 04 and 06 for the same flags: all of theirs is here, but for what the image decides (root, process).
    const rootfs = busyboxRootfs();
    const [ch04, ch06] = await Promise.all([
      printedSpec<RuntimeSpec>('04-cgroups', ['--rootfs', rootfs, '--hostname', hostname, '--pids-max', String(pids), '--', ...cmd]),
      printedSpec<RuntimeSpec>('06-network', ['--rootfs', rootfs, '--hostname', hostname, '--net', 'none', '--', ...cmd]),
    ]);
    expect(specNotContained(spec, ch04, ['root', 'process', 'linux.cgroupsPath'])).toEqual([]);
    expect(specNotContained(spec, ch06, ['root', 'process'])).toEqual([]);
    expect(spec.linux?.cgroupsPath).toMatch(/^\/hull\/[0-9a-f]{12}$/);

    // Nothing ran, nothing stays: the flattened layers of this preview went with it.
    expect(r.stdout).not.toMatch(/^[0-9a-f]{8}$/m);
    expect(listDir(join(root, 'containers'))).toEqual([]);
  });

  it('the same flags without --print-spec run what it printed: user, cwd, env, hostname, args and the pids limit', async () => {
    const name = repo('spec');
    const value = randomToken(12);
    const workdir = `/w-${randomToken(6)}`;
    await pushImage(anon, name, 'v1', await busyboxImage(busyboxRootfs(), { config: { Env: [`FOO=${value}`], WorkingDir: workdir, User: 'user' } }));
    const root = tempDir('root');
    const script = 'id -u; id -g; pwd; echo "$FOO"; hostname; grep pids /proc/self/cgroup | cut -d: -f3; cat /proc/$$/cmdline | tr "\\0" " "';
    const args = ['run', '--net', 'none', '--hostname', randomHostname(), '--pids-max', String(randomInt(5, 50)), `${anon}/${name}:v1`, '--', 'sh', '-c', script];
    const printed = await step(['run', '--print-spec', ...args.slice(1)], root);
    expect(printed.code).toBe(0);
    const spec = JSON.parse(printed.stdout) as RuntimeSpec;
    const r = await step(args, root);
    expect(r.code).toBe(0);
    const [uid, gid, cwd, foo, hostname, cgroup] = r.stdout.trim().split('\n');
    expect([uid, gid].map(Number)).toEqual([spec.process!.user.uid, spec.process!.user.gid]);
    expect(cwd).toBe(spec.process!.cwd);
    expect(`FOO=${foo}`).toBe(spec.process!.env!.find((e) => e.startsWith('FOO=')));
    expect(hostname).toBe(spec.hostname);
    // Each run has its own container id, so its own cgroup: the same place, /hull/<12 hex>.
    expect(cgroup).toMatch(/^\/hull\/[0-9a-f]{12}$/);
    expect(r.stdout).toContain(spec.process!.args!.join(' '));
    expect(listDir(join(root, 'containers'))).toEqual([]);
  });
});
