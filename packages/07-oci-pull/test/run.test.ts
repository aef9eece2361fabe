// `run REF`: pull if needed, then run the image with chapter 03's container,
// honouring its config (Env, Entrypoint/Cmd, WorkingDir, User).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busyboxImage,
  busyboxRootfs,
  descendants,
  hostSnapshot,
  type HostSnapshot,
  pushImage,
  randomExitCode,
  randomHostname,
  randomToken,
  requireRoot,
  leftovers,
} from '@hull/testkit';
import { expectOneLine, images, listDir, registries, removeTempDirs, repo, step, tempDir } from './helpers.js';

const anon = registries.anonymous.host;

describe.skipIf(!requireRoot('07-oci-pull run'))('07-oci-pull: run', () => {
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => {
    removeTempDirs();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('pulls the busybox image through token auth and runs its Cmd with its Env, WorkingDir and User', async () => {
    const { host } = registries.token;
    const name = repo('public');
    const value = randomToken(12);
    const workdir = `/w-${randomToken(6)}`;
    const image = await busyboxImage(busyboxRootfs(), {
      config: {
        Env: ['PATH=/bin:/usr/bin', `FOO=${value}`],
        WorkingDir: workdir,
        User: 'user',
        Cmd: ['sh', '-c', 'echo "$FOO"; id -u; id -g; pwd; echo "$HOME"; echo $$'],
      },
    });
    await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const r = await step(['run', '--net', 'none', `${host}/${name}:v1`], root);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([value, '1000', '1000', workdir, '/home/user', '1']);
    expect(r.stderr).toContain(`Unable to find image '${host}/${name}:v1' locally`);
    expect(Object.keys(images(root))).toEqual([`${host}/${name}:v1`]);
    // The container's files went away with it; the layers stay for next time.
    expect(listDir(join(root, 'containers'))).toEqual([]);
    expect(listDir(join(root, 'layers'))).toHaveLength(1);
  });

  it("an image's device node is extracted but cannot be opened in the container: the flattened rootfs is nodev", async () => {
    const name = repo('devnode');
    const node = `node-${randomToken(6)}`;
    // c 1:5 (/dev/zero): harmless if the protection failed, but proof enough that it did.
    const image = await busyboxImage(busyboxRootfs(), {
      config: { Env: ['PATH=/bin:/usr/bin'], Cmd: ['sh', '-c', `ls -l /${node}; head -c 4 /${node} | wc -c; head -c 4 /dev/zero | wc -c`] },
      extraLayers: [{ entries: [{ path: node, type: 'character-device', devmajor: 1, devminor: 5, mode: 0o666 }] }],
    });
    await pushImage(anon, name, 'v1', image);
    const r = await step(['run', '--net', 'none', `${anon}/${name}:v1`], tempDir('root'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^crw-rw-rw- .* 1, +5 .*/${node}$`, 'm'));
    expect(r.stderr).toContain(`/${node}: Permission denied`);
    expect(r.stdout).toMatch(/^0\n4$/m);
  });

  it('puts CMD after the Entrypoint, passes the exit code, and does not pull again', async () => {
    const name = repo();
    const image = await busyboxImage(busyboxRootfs(), { split: true, config: { Entrypoint: ['sh', '-c'], Cmd: ['exit 99'] } });
    await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const code = randomExitCode();
    const first = await step(['run', '--net', 'none', `${anon}/${name}:v1`, '--', `exit ${code}`], root);
    expect(first.code).toBe(code);
    const hostname = randomHostname();
    const second = await step(['run', '--net', 'none', '--hostname', hostname, `${anon}/${name}:v1`, '--', 'hostname; id -u'], root);
    expect(second.code).toBe(0);
    expect(second.stdout.trim().split('\n')).toEqual([hostname, '0']);
    expect(second.stderr).not.toContain('Unable to find image');
    expect(hostSnapshot().hostname).not.toBe(hostname);
  });

  it('resolves a user by name from the image (nobody = 65534) and sees only the image files (docker-style CMD, no --)', async () => {
    const name = repo();
    const marker = randomToken(16);
    const image = await busyboxImage(busyboxRootfs(), {
      config: { User: 'nobody', Cmd: ['sh'] },
      extraLayers: [{ entries: [{ path: 'marker', content: marker }] }],
    });
    await pushImage(anon, name, 'v1', image);
    const r = await step(['run', '--net', 'none', `${anon}/${name}:v1`, 'sh', '-c', 'id -u; cat /marker; echo; ls /'], tempDir('root'));
    expect(r.code).toBe(0);
    const [uid, seen, ...ls] = r.stdout.trim().split('\n');
    expect(uid).toBe('65534');
    expect(seen).toBe(marker);
    expect(ls).not.toContain('work');
    expect(ls).toContain('marker');
  });

  it('refuses a command the image lacks with 127 and one line', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await busyboxImage(busyboxRootfs()));
    const missing = `no-such-${randomToken()}`;
    const root = tempDir('root');
    const r = await step(['run', '--net', 'none', `${anon}/${name}:v1`, '--', missing], root);
    expect(r.code).toBe(127);
    expect(r.stderr.trim().split('\n').pop()).toBe(`hull: exec "${missing}": executable file not found in $PATH`);
    expect(listDir(join(root, 'containers'))).toEqual([]);
  });

  it('refuses an unknown user in one line', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await busyboxImage(busyboxRootfs(), { config: { User: 'ghost', Cmd: ['true'] } }));
    const root = tempDir('root');
    await step(['pull', `${anon}/${name}:v1`], root);
    const r = await step(['run', '--net', 'none', `${anon}/${name}:v1`], root);
    expectOneLine(r, /^hull: unable to find user ghost: no matching entries in passwd file$/);
    expect(listDir(join(root, 'containers'))).toEqual([]);
  });

  it('composes chapter 04: --pids-max bites inside, and the cgroup is gone afterwards', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await busyboxImage(busyboxRootfs()));
    const max = randomInt(4, 8);
    // 20 background sleeps cannot fit under the limit: busybox sh gives up with exit 2.
    const script = 'grep pids /proc/self/cgroup; i=0; while [ $i -lt 20 ]; do sleep 1 & i=$((i+1)); done; echo all-started';
    const r = await step(['run', '--net', 'none', '--pids-max', String(max), `${anon}/${name}:v1`, '--', 'sh', '-c', script], tempDir('root'));
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('all-started');
    const path = /^\d+:pids:(\/hull\/[0-9a-f]{12})$/m.exec(r.stdout)?.[1];
    expect(path, r.stdout).toBeDefined();
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(existsSync(`/sys/fs/cgroup/pids${path}`)).toBe(false);
  });

  it('composes chapter 06: --net none has only lo; the default bridge gives eth0 on our subnet and cleans up', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await busyboxImage(busyboxRootfs()));
    const root = tempDir('root');
    const none = await step(['run', '--net', 'none', `${anon}/${name}:v1`, '--', 'sh', '-c', 'ls /sys/class/net'], root);
    expect(none.code).toBe(0);
    expect(none.stdout.trim().split('\n')).toEqual(['lo']);

    // A bridge and subnet of our own: other tests use theirs at the same time.
    const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' });
    let base = '';
    for (let i = 0; i < 50 && !base; i++) {
      const b = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
      if (!routes.includes(`${b}.`)) base = b;
    }
    const bridge = `hull7${randomToken(5)}`;
    const r = await step(['run', `${anon}/${name}:v1`, '--', 'sh', '-c', 'ls /sys/class/net; ip -4 -o addr show eth0'], root, {
      HULL_BRIDGE: bridge,
      HULL_SUBNET: `${base}.0/24`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^eth0\nlo\n/);
    expect(r.stdout).toContain(`inet ${base}.`);
    // The last container out takes the bridge with it.
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(bridge);
  });
});
