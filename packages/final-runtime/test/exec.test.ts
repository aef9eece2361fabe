// hull exec: a new process inside a running container's namespaces (PID and
// mount included) and cgroup, with the container's env, user and workdir
// unless overridden; the errors docker gives.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomExitCode, randomHostname, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime exec'))('hull exec', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const name = `e-${randomToken(6)}`;
  const hostname = randomHostname();
  const value = randomToken(10);
  const workdir = `/srv/${randomToken(5)}`;
  let image = '';
  let id = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    const r = await root.hull(['run', '-d', '--name', name, '--hostname', hostname, '-e', `V=${value}`, '-w', workdir, image]);
    expect(r.code).toBe(0);
    id = r.stdout.trim();
  });

  afterAll(async () => {
    await root.hull(['rm', '-f', name]);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it("joins the container's PID, UTS and mount namespaces, its env, workdir and cgroup", async () => {
    const script = 'echo $$; hostname; pwd; echo $V; cat /proc/1/cmdline | tr "\\0" " "; echo; grep -c . /proc/self/cgroup >/dev/null && cat /proc/self/cgroup';
    const r = await root.hull(['exec', name, 'sh', '-c', script]);
    expect(r.code).toBe(0);
    const [pid, host, pwd, v, cmdline, ...cgroups] = r.stdout.trim().split('\n');
    expect(Number(pid)).toBeGreaterThan(1);
    expect(Number(pid)).toBeLessThan(100); // a pid of the container's namespace, not the host's
    expect(host).toBe(hostname);
    expect(pwd).toBe(workdir);
    expect(v).toBe(value);
    expect(cmdline!.trim()).toBe('sleep 300');
    expect(cgroups.some((l) => l.includes(`/hull/${id}`))).toBe(true);
    // The devices allowlist too (docs/hardening.md), where the v1 devices controller exists.
    if (existsSync('/sys/fs/cgroup/devices')) expect(cgroups.some((l) => /:devices:/.test(l) && l.endsWith(`/hull/${id}`))).toBe(true);
  });

  it('sees and writes the container filesystem, not the host one', async () => {
    const marker = randomToken(12);
    expect((await root.hull(['exec', name, 'sh', '-c', `echo ${marker} > /marker; test -e ${root.dir} || echo no-host`])).stdout).toBe('no-host\n');
    const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { GraphDriver: { Data: { UpperDir: string } } }[];
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${info!.GraphDriver.Data.UpperDir}/marker`, 'utf8')).toBe(`${marker}\n`);
  });

  it('-e, -u, -w override; -i passes stdin; the exit code is the command’s', async () => {
    const w = randomToken(6);
    const h = randomToken(6);
    const r = await root.hull(['exec', '-e', `W=${w}`, '-e', 'FROM_HOST', '-u', '1000', '-w', '/tmp', name, 'sh', '-c', 'echo $W $FROM_HOST; id -u; pwd'], {
      env: { FROM_HOST: h },
    });
    expect(r.stdout).toBe(`${w} ${h}\n1000\n/tmp\n`);
    const input = randomToken(20);
    expect((await root.hull(['exec', '-i', name, 'cat'], { input })).stdout).toBe(input);
    const code = randomExitCode();
    expect((await root.hull(['exec', name, 'sh', '-c', `exit ${code}`])).code).toBe(code);
  });

  it('-t gives the process a pty of its own', async () => {
    const r = await root.hull(['exec', '-t', name, 'sh', '-c', 'test -t 0 && test -t 1 && echo on-a-tty']);
    expect(r.stdout).toBe('on-a-tty\r\n');
    expect(r.code).toBe(0);
  });

  it('an unknown command is 127; a stopped container is 1; one line each', async () => {
    const missing = `nope-${randomToken(5)}`;
    const r = await root.hull(['exec', name, missing]);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe(`hull: exec "${missing}": executable file not found in $PATH\n`);
    const stopped = `x-${randomToken(6)}`;
    await root.hull(['run', '--name', stopped, image, 'true']);
    const s = await root.hull(['exec', stopped, 'true']);
    expect(s.code).toBe(1);
    expect(s.stderr).toBe(`hull: container ${stopped} is not running\n`);
    await root.hull(['rm', stopped]);
  });
});
