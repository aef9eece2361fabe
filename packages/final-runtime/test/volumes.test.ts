// -v HOST:CTR[:ro], named volumes and --read-only: both sides see the same
// files, read-only means it, and a missing host path is refused.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime volumes'))('hull run -v / --read-only', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['true'] }, [{ entries: [{ path: 'link', type: 'symlink', linkname: '/etc' }] }]);
    await root.hull(['pull', image]);
  });

  afterAll(() => {
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('a host directory: the container reads the host file and its writes land on the host', async () => {
    const dir = join(root.dir, `vol-${randomToken(6)}`);
    mkdirSync(dir);
    const fromHost = randomToken(16);
    const fromContainer = randomToken(16);
    writeFileSync(join(dir, 'in'), fromHost);
    const dest = `/data/${randomToken(4)}`; // created in the container's layer
    const r = await root.hull(['run', '--rm', '-v', `${dir}:${dest}`, image, 'sh', '-c', `cat ${dest}/in; echo ${fromContainer} > ${dest}/out`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(fromHost);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe(`${fromContainer}\n`);
  });

  it(':ro is read-only inside; the host file is unchanged', async () => {
    const dir = join(root.dir, `ro-${randomToken(6)}`);
    mkdirSync(dir);
    const content = randomToken(16);
    writeFileSync(join(dir, 'f'), content);
    const r = await root.hull(['run', '--rm', '-v', `${dir}:/ro:ro`, image, 'sh', '-c', 'cat /ro/f; echo x > /ro/f; echo x > /ro/new']);
    expect(r.stdout).toBe(content);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.code).not.toBe(0);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe(content);
  });

  it('a named volume outlives the container that wrote it', async () => {
    const name = `v${randomToken(8)}`;
    const content = randomToken(16);
    expect((await root.hull(['run', '--rm', '-v', `${name}:/store`, image, 'sh', '-c', `echo ${content} > /store/f`])).code).toBe(0);
    const r = await root.hull(['run', '--rm', '-v', `${name}:/elsewhere:ro`, image, 'cat', '/elsewhere/f']);
    expect(r.stdout).toBe(`${content}\n`);
    expect(readFileSync(join(root.dir, 'volumes', name, '_data', 'f'), 'utf8')).toBe(`${content}\n`);
  });

  it('--read-only: / refuses writes; volumes, /tmp and /dev/shm still take them', async () => {
    const dir = join(root.dir, `rw-${randomToken(6)}`);
    mkdirSync(dir);
    const r = await root.hull(['run', '--rm', '--read-only', '-v', `${dir}:/rw`, image, 'sh', '-c', 'touch /x || echo root-ro; touch /rw/ok /tmp/ok /dev/shm/ok && echo others-rw']);
    expect(r.stdout).toBe('root-ro\nothers-rw\n');
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it('bad volumes: a missing host path, a symlinked destination, a bad spec: 125, one line, nothing left', async () => {
    const missing = join(root.dir, `missing-${randomToken(6)}`);
    const r = await root.hull(['run', '--rm', '-v', `${missing}:/data`, image]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`hull: volume ${missing}: no such file or directory on the host\n`);
    const link = await root.hull(['run', '--rm', '-v', `${root.dir}:/link/x`, image]);
    expect(link.code).toBe(125);
    expect(link.stderr).toMatch(/^hull: volume destination \/link\/x: \/link is a symlink in the image; hull does not follow it\n$/);
    const spec = await root.hull(['run', '--rm', '-v', 'rel/path:/x', image]);
    expect(spec.code).toBe(125);
    expect(spec.stderr.trim().split('\n')).toHaveLength(1);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
  });
});
