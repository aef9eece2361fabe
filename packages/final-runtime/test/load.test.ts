// hull load -i: oci-archive and docker-archive tarballs built from the
// testkit's busybox image, every blob verified; a tampered or bogus archive
// is refused and leaves no image. No registry is involved.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltImage, busyboxImage, busyboxRootfs, randomToken, requireRoot, writeOciLayout } from '@hull/testkit';
import { HullRoot, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime load'))('hull load -i', () => {
  const root = new HullRoot();
  const marker = randomToken(16);
  let image: BuiltImage;

  beforeAll(async () => {
    requireBuild();
    image = await busyboxImage(busyboxRootfs(), { config: { Cmd: ['cat', '/marker'] }, extraLayers: [{ entries: [{ path: 'marker', content: marker }] }] });
  });

  afterAll(() => {
    expect(root.mounts()).toEqual([]);
    root.dispose();
  });

  const images = async (): Promise<string[]> =>
    (JSON.parse((await root.hull(['images', '--json'])).stdout) as { Repository: string; Tag: string }[]).map((i) => `${i.Repository}:${i.Tag}`);

  it('an oci-archive: loaded under its ref.name, and it runs', async () => {
    const name = `hull.test/oci-${randomToken(6)}:v1`;
    const dir = join(root.dir, `oci-${randomToken(4)}`);
    writeOciLayout(dir, name, image);
    const tar = `${dir}.tar`;
    execFileSync('tar', ['-cf', tar, '-C', dir, '.']);
    const r = await root.hull(['load', '-i', tar]);
    expect(r.stdout).toBe(`Loaded image: ${name}\n`);
    expect(await images()).toContain(name);
    const run = await root.hull(['run', '--rm', name]);
    expect(run.stdout).toBe(marker);
  });

  it('a docker-archive (docker save): loaded under its RepoTags, and it runs', async () => {
    const name = `hull.test/docker-${randomToken(6)}:v2`;
    const dir = join(root.dir, `docker-${randomToken(4)}`);
    mkdirSync(dir);
    const hex = (d: string) => d.replace('sha256:', '');
    writeFileSync(join(dir, `${hex(image.config.digest)}.json`), image.config.bytes);
    const layers = image.layers.map((l) => {
      mkdirSync(join(dir, hex(l.digest)));
      // docker save writes each layer as a plain, uncompressed tar.
      writeFileSync(join(dir, hex(l.digest), 'layer.tar'), gunzipSync(l.bytes));
      return `${hex(l.digest)}/layer.tar`;
    });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: `${hex(image.config.digest)}.json`, RepoTags: [name], Layers: layers }]));
    const tar = `${dir}.tar`;
    execFileSync('tar', ['-cf', tar, '-C', dir, '.']);
    const r = await root.hull(['load', '-i', tar]);
    expect(r.stdout).toBe(`Loaded image: ${name}\n`);
    expect((await root.hull(['run', '--rm', name])).stdout).toBe(marker);
  });

  it('a tampered blob, a file that is no tar, a missing file: 125, one line, no image', async () => {
    const before = await images();
    const name = `hull.test/bad-${randomToken(6)}:v1`;
    const dir = join(root.dir, `bad-${randomToken(4)}`);
    writeOciLayout(dir, name, image);
    const blobs = join(dir, 'blobs', 'sha256');
    const layer = readdirSync(blobs).find((b) => `sha256:${b}` === image.layers[0]!.digest)!;
    appendFileSync(join(blobs, layer), 'x');
    execFileSync('tar', ['-cf', `${dir}.tar`, '-C', dir, '.']);
    const tampered = await root.hull(['load', '-i', `${dir}.tar`]);
    expect(tampered.code).toBe(125);
    expect(tampered.stderr).toMatch(/^hull: archive: blob digest mismatch: wanted sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/);
    const junk = join(root.dir, `junk-${randomToken(4)}`);
    writeFileSync(junk, randomToken(64));
    const notTar = await root.hull(['load', '-i', junk]);
    expect(notTar.code).toBe(125);
    expect(notTar.stderr).toBe(`hull: ${junk}: not a tar archive\n`);
    const missing = await root.hull(['load', '-i', `${junk}-missing`]);
    expect(missing.code).toBe(125);
    expect(await images()).toEqual(before);
    expect(readdirSync(join(root.dir, 'tmp'))).toEqual([]);
  });
});
