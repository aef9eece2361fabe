// volume create|ls|rm|inspect|prune, `-v NAME:/path` with them, and system
// df / prune, through the real CLI on a store of its own: every listing is
// checked against the store's directories, every removal on disk.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, randomToken, requireRoot, settledLeftovers } from '@hull/testkit';
import { HullRoot, loadBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime volume'))('hull volume / system', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const image = `localhost/vol-${randomToken(6)}:t`;
  const volumeDir = (name: string) => join(root.dir, 'volumes', name, '_data');

  beforeAll(async () => {
    requireBuild();
    await loadBusybox(root, image, { Cmd: ['sleep', '600'] });
  });

  afterAll(async () => {
    for (const id of root.containers()) await root.hull(['rm', '-f', id]);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    // The supervisor leaves, and a killed init is reaped, a moment after the last container goes.
    expect(await settledLeftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('create, ls, inspect; -v NAME:/path writes into it; rm refuses while a container has it, then removes it', async () => {
    const name = `v${randomToken(8)}`;
    const label = randomToken(6);
    expect(await root.hull(['volume', 'create', '--label', `k=${label}`, name])).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect(existsSync(volumeDir(name))).toBe(true);
    // Creating it again is no error: docker answers the name.
    expect(await root.hull(['volume', 'create', name])).toMatchObject({ code: 0, stdout: `${name}\n` });
    const ls = await root.hull(['volume', 'ls']);
    expect(ls.stdout.split('\n')[0]).toBe('DRIVER    VOLUME NAME');
    expect(ls.stdout).toContain(`local     ${name}\n`);
    expect((await root.hull(['volume', 'ls', '-q'])).stdout.split('\n')).toContain(name);
    const [info] = JSON.parse((await root.hull(['volume', 'inspect', name])).stdout) as Record<string, unknown>[];
    expect(info).toMatchObject({ Name: name, Driver: 'local', Scope: 'local', Mountpoint: volumeDir(name), Labels: { k: label }, Options: {} });
    expect(Date.parse(info!.CreatedAt as string)).toBeGreaterThan(Date.now() - 120_000);

    const content = randomToken(16);
    const c = `user-${randomToken(6)}`;
    expect((await root.hull(['run', '--name', c, '-v', `${name}:/data`, image, 'sh', '-c', `echo ${content} > /data/f`])).code).toBe(0);
    expect(readFileSync(join(volumeDir(name), 'f'), 'utf8')).toBe(`${content}\n`);
    const id = root.containers()[0]!;
    // docker counts a stopped container as a user too.
    expect(await root.hull(['volume', 'rm', name])).toMatchObject({ code: 1, stdout: '', stderr: `hull: remove ${name}: volume is in use - [${id}]\n` });
    expect(existsSync(join(volumeDir(name), 'f'))).toBe(true);
    expect((await root.hull(['rm', c])).code).toBe(0);
    expect(await root.hull(['volume', 'rm', name])).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect(existsSync(join(root.dir, 'volumes', name))).toBe(false);
  });

  it("bad input: docker's words, exit 1, nothing made", async () => {
    const ghost = `ghost${randomToken(6)}`;
    expect(await root.hull(['volume', 'rm', ghost])).toMatchObject({ code: 1, stderr: `hull: no such volume: ${ghost}\n` });
    expect(await root.hull(['volume', 'rm', '-f', ghost])).toMatchObject({ code: 0, stderr: '' });
    const inspect = await root.hull(['volume', 'inspect', ghost]);
    expect(inspect).toMatchObject({ code: 1, stdout: '[]\n', stderr: `hull: no such volume: ${ghost}\n` });
    const bad = await root.hull(['volume', 'create', '../escape']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^hull: create \.\.\/escape: "\.\.\/escape" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed/);
    expect(existsSync(join(root.dir, 'escape'))).toBe(false);
    expect((await root.hull(['volume', 'frobnicate'])).code).toBe(125);
  });

  it('prune takes unused anonymous volumes (-a: every unused one), asks first unless -f, and keeps those in use', async () => {
    const anon = (await root.hull(['volume', 'create'])).stdout.trim();
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    const named = `keep${randomToken(6)}`;
    const used = `used${randomToken(6)}`;
    for (const v of [named, used]) expect((await root.hull(['volume', 'create', v])).code).toBe(0);
    const holder = await root.hull(['run', '-d', '-v', `${used}:/u`, image]);
    expect(holder.code).toBe(0);
    // Anything but y is a no.
    const asked = await root.hull(['volume', 'prune'], { input: 'n\n' });
    expect(asked.stdout).toBe('WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ');
    expect(existsSync(volumeDir(anon))).toBe(true);
    expect(await root.hull(['volume', 'prune', '-f'])).toMatchObject({ code: 0, stdout: `Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 0B\n` });
    expect(existsSync(volumeDir(anon))).toBe(false);
    expect(existsSync(volumeDir(named))).toBe(true);
    const all = await root.hull(['volume', 'prune', '-a'], { input: 'y\n' });
    expect(all.stdout).toContain(`Deleted Volumes:\n${named}\n`);
    expect(existsSync(volumeDir(named))).toBe(false);
    expect(existsSync(volumeDir(used))).toBe(true);
    expect((await root.hull(['rm', '-f', holder.stdout.trim()])).code).toBe(0);
    expect((await root.hull(['volume', 'rm', used])).code).toBe(0);
  });

  it("system df: docker's table, with counts and sizes from the store", async () => {
    const name = `df${randomToken(6)}`;
    const bytes = 1000 + Math.floor(Math.random() * 5000);
    expect((await root.hull(['run', '--name', name, '-v', `${name}:/v`, image, 'sh', '-c', `head -c ${bytes} /dev/zero > /v/z; head -c ${bytes} /dev/zero > /z`])).code).toBe(0);
    const running = await root.hull(['run', '-d', image]);
    const r = await root.hull(['system', 'df']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE');
    const row = (type: string) => lines.find((l) => l.startsWith(`${type}  `))!.slice(16).split(/\s{2,}/);
    expect(row('Images').slice(0, 2)).toEqual(['1', '1']);
    expect(row('Images')[2]).toMatch(/^\d+(\.\d+)?MB$/); // busybox, unpacked
    const kb = (n: number) => `${Number((n / 1000).toPrecision(4))}kB`;
    // The stopped container wrote /z (its upper dir); the running one nothing yet.
    expect(row('Containers')).toEqual(['2', '1', kb(bytes), `${kb(bytes)} (100%)`]);
    expect(row('Local Volumes')).toEqual(['1', '1', kb(bytes), '0B (0%)']);
    expect(lines[4]).toBe('Build Cache     0         0         0B        0B');
    expect((await root.hull(['rm', '-f', running.stdout.trim()])).code).toBe(0);
    expect((await root.hull(['rm', name])).code).toBe(0);
    expect((await root.hull(['volume', 'rm', name])).code).toBe(0);
  });

  it('system prune: stopped containers go, running ones and images in use stay; --volumes and -a take more', async () => {
    const stoppedIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      expect((await root.hull(['run', image, 'true'])).code).toBe(0);
    }
    for (const id of root.containers()) stoppedIds.push(id);
    const up = (await root.hull(['run', '-d', image])).stdout.trim();
    const anon = (await root.hull(['volume', 'create'])).stdout.trim();
    const r = await root.hull(['system', 'prune', '-f', '--volumes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Deleted Containers:\n([0-9a-f]{64}\n){2}\nDeleted Volumes:\n[0-9a-f]{64}\n\nTotal reclaimed space: \S+\n$/);
    for (const id of stoppedIds) expect(r.stdout).toContain(`${id}\n`);
    expect(r.stdout).toContain(`${anon}\n`);
    expect(root.containers()).toEqual([up]);
    // The image is used by the running container: even -a keeps it.
    expect((await root.hull(['system', 'prune', '-a', '-f'])).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await root.hull(['images', '-q'])).stdout.trim()).not.toBe('');
    expect((await root.hull(['rm', '-f', up])).code).toBe(0);
    const asked = await root.hull(['system', 'prune', '-a'], { input: '\n' });
    expect(asked.stdout).toMatch(/^WARNING! This will remove:\n {2}- all stopped containers\n {2}- all images without at least one container associated to them\n\nAre you sure you want to continue\? \[y\/N\] $/);
    expect((await root.hull(['images', '-q'])).stdout.trim()).not.toBe('');
    const all = await root.hull(['system', 'prune', '-a', '-f']);
    expect(all.stdout).toMatch(new RegExp(`^Deleted Images:\\nuntagged: ${image.replace(/[.:/]/g, '\\$&')}\\n\\nTotal reclaimed space: \\d+(\\.\\d+)?MB\\n$`));
    expect((await root.hull(['images', '-q'])).stdout).toBe('');
    expect(existsSync(join(root.dir, 'layers')) ? (await import('node:fs')).readdirSync(join(root.dir, 'layers')) : []).toEqual([]);
  });
});
