// hull run in the foreground: the image config and docker's override rules,
// exit codes, isolation on both sides, and nothing left behind.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, descendants, hostSnapshot, leftovers, randomExitCode, randomHostname, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime run'))('hull run (foreground)', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const imageVar = randomToken(10);
  const workdir = `/srv/${randomToken(6)}`;
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({
      Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `IMAGE_VAR=${imageVar}`, 'OVERRIDDEN=image'],
      Cmd: ['sh', '-c', 'echo "cmd from image in $(pwd)"'],
      WorkingDir: workdir,
    });
  });

  afterAll(() => {
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('pulls a missing image, runs its Cmd in its WorkingDir, and --rm leaves nothing', async () => {
    const r = await root.hull(['run', '--rm', image]);
    expect(r.stderr).toContain(`Unable to find image '${image}' locally`);
    expect(r.stdout).toBe(`cmd from image in ${workdir}\n`);
    expect(r.code).toBe(0);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
  });

  it("returns the command's own exit code", async () => {
    const code = randomExitCode();
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', `exit ${code}`]);
    expect(r.code).toBe(code);
  });

  it('runs the command as PID 1 with its own hostname, /proc and root; the host keeps its name', async () => {
    const hostname = randomHostname();
    const script = `echo $$; hostname; cat /etc/hostname; ls /proc | grep -c "^[0-9]"; test -e ${root.dir} && echo host-visible; ls /bin/busybox`;
    const r = await root.hull(['run', '--rm', '--hostname', hostname, image, 'sh', '-c', script]);
    expect(r.code).toBe(0);
    const [pid, name, etcName, procs, ...rest] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(name).toBe(hostname);
    expect(etcName).toBe(hostname);
    expect(Number(procs)).toBeLessThanOrEqual(3); // sh, ls, grep: no host process
    expect(rest).toEqual(['/bin/busybox']); // the host's files (our HULL_ROOT) are not there
    expect(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()).toBe(before.hostname);
  });

  it('hostname defaults to the short container id, like docker', async () => {
    const name = `c-${randomToken(8)}`;
    const r = await root.hull(['run', '--name', name, image, 'hostname']);
    expect(r.code).toBe(0);
    const inspect = await root.hull(['inspect', name]);
    const [info] = JSON.parse(inspect.stdout) as { Id: string; Config: { Hostname: string } }[];
    expect(r.stdout.trim()).toBe(info!.Id.slice(0, 12));
    expect(info!.Config.Hostname).toBe(info!.Id.slice(0, 12));
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('merges env like docker: image Env, then --env-file, then -e; a bare -e K takes the host value', async () => {
    const fromFile = randomToken(8);
    const fromFlag = randomToken(8);
    const hostValue = randomToken(8);
    const envFile = join(root.dir, `env-${randomToken(4)}`);
    writeFileSync(envFile, `# a comment\n\nFROM_FILE=${fromFile}\nOVERRIDDEN=file\n`);
    const r = await root.hull(
      ['run', '--rm', '--env-file', envFile, '-e', `FROM_FLAG=${fromFlag}`, '-e', 'OVERRIDDEN=flag', '-e', 'FROM_HOST', '-e', 'NOT_ON_HOST', image, 'env'],
      { env: { FROM_HOST: hostValue } },
    );
    expect(r.code).toBe(0);
    const env = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env.get('IMAGE_VAR')).toBe(imageVar);
    expect(env.get('FROM_FILE')).toBe(fromFile);
    expect(env.get('FROM_FLAG')).toBe(fromFlag);
    expect(env.get('OVERRIDDEN')).toBe('flag');
    expect(env.get('FROM_HOST')).toBe(hostValue);
    expect(env.has('NOT_ON_HOST')).toBe(false);
    expect(env.get('PATH')).toBe('/usr/sbin:/usr/bin:/sbin:/bin'); // the image's, not our default
    expect(env.get('HOME')).toBe('/root');
    expect(env.get('HOSTNAME')).toMatch(/^[0-9a-f]{12}$/);
  });

  it('-w replaces WorkingDir (created when missing); -u runs as that uid/gid, by number or name', async () => {
    const dir = `/w/${randomToken(6)}`;
    const w = await root.hull(['run', '--rm', '-w', dir, image, 'pwd']);
    expect(w.stdout).toBe(`${dir}\n`);
    const uid = 1000 + Math.floor(Math.random() * 50000);
    const u = await root.hull(['run', '--rm', '-u', `${uid}:${uid + 1}`, image, 'sh', '-c', 'id -u; id -g']);
    expect(u.stdout).toBe(`${uid}\n${uid + 1}\n`);
    const nobody = await root.hull(['run', '--rm', '--user', 'nobody', image, 'sh', '-c', 'id -u; echo $HOME']);
    expect(nobody.code).toBe(0);
    expect(nobody.stdout.split('\n')[0]).toBe('65534');
  });

  it('--entrypoint replaces the Entrypoint and drops the image Cmd; CMD words replace Cmd', async () => {
    const word = randomToken(8);
    const e = await root.hull(['run', '--rm', '--entrypoint', 'echo', image, word]);
    expect(e.stdout).toBe(`${word}\n`);
    const bare = await root.hull(['run', '--rm', '--entrypoint', 'echo', image]);
    expect(bare.stdout).toBe('\n'); // the image's Cmd is not appended
    const withEntrypoint = await pushBusybox({ Entrypoint: ['echo', 'entry'], Cmd: ['default'] });
    expect((await root.hull(['run', '--rm', withEntrypoint])).stdout).toBe('entry default\n');
    expect((await root.hull(['run', '--rm', withEntrypoint, word])).stdout).toBe(`entry ${word}\n`);
  });

  it('-i passes stdin; without it the container reads /dev/null', async () => {
    const text = randomToken(16);
    const withI = await root.hull(['run', '--rm', '-i', image, 'cat'], { input: text });
    expect(withI.stdout).toBe(text);
    const without = await root.hull(['run', '--rm', image, 'cat'], { input: text });
    expect(without.stdout).toBe('');
    expect(without.code).toBe(0);
  });

  it('writes go to the container, never into the image layers', async () => {
    const name = `w-${randomToken(6)}`;
    const marker = randomToken(12);
    expect((await root.hull(['run', '--name', name, image, 'sh', '-c', `echo ${marker} > /bin/marker; rm /bin/ls`])).code).toBe(0);
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', 'cat /bin/marker; ls / >/dev/null && echo ls-here']);
    expect(r.stdout).toBe('ls-here\n');
    expect(r.stderr).toContain('marker');
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('127 for an unknown command, 126 for one that cannot be executed, one line each', async () => {
    const missing = `nope-${randomToken(6)}`;
    const r = await root.hull(['run', '--rm', image, missing]);
    expect(r.code).toBe(127);
    expect(r.stderr.trim().split('\n')).toEqual([`hull: exec "${missing}": executable file not found in $PATH`]);
    const notExec = await root.hull(['run', '--rm', image, '/etc/passwd']);
    expect(notExec.code).toBe(126);
    expect(notExec.stderr.trim().split('\n')).toHaveLength(1);
    expect(root.containers()).toEqual([]);
  });

  it('SIGTERM and SIGINT to hull reach the container; a PID 1 without a handler is killed (137), a trap decides itself', async () => {
    const sleeper = root.start(['run', '--rm', image, 'sleep', '100']);
    // Sent as soon as the overlay is mounted, i.e. most likely while hull is still setting up: it is held, then forwarded.
    await waitFor(() => root.mounts().length > 0, 20_000, 'the overlay to be mounted');
    sleeper.kill('SIGTERM');
    const done = await collect(sleeper);
    expect(done.code).toBe(137);
    const code = randomExitCode();
    const trapper = root.start(['run', '--rm', image, 'sh', '-c', `trap "exit ${code}" INT; echo ready; while :; do sleep 0.1; done`]);
    let out = '';
    trapper.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('ready'), 20_000, 'the trap');
    trapper.kill('SIGINT');
    const exit = await new Promise<number | null>((r) => trapper.on('close', (c) => r(c)));
    expect(exit).toBe(code);
    await waitFor(() => root.containers().length === 0, 10_000, '--rm');
    expect(root.mounts()).toEqual([]);
  });
});
