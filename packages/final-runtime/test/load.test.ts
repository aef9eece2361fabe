// hull load -i FILE and hull load < FILE: oci-archive and docker-archive
// tarballs built from the testkit's busybox image, every blob verified; a
// tampered or bogus archive is refused and leaves no image. No registry is
// involved.
import { execFileSync } from 'node:child_process';
import { appendFileSync, createReadStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltImage, busyboxImage, busyboxRootfs, randomToken, requireRoot, type RunResult, writeOciLayout } from '@hull/testkit';
import { HullRoot, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime load'))('hull load', () => {
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

  /** `hull load < tar`: the file as the CLI's stdin, no -i. */
  const loadStdin = async (tar: string): Promise<Pick<RunResult, 'code' | 'stdout' | 'stderr'>> => {
    const child = root.start(['load']);
    let [stdout, stderr] = ['', ''];
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin!.on('error', () => undefined); // hull may stop reading a bad archive early
    createReadStream(tar).pipe(child.stdin!);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    return { code, stdout, stderr };
  };

  /** Every blob and temp file of the store, for "nothing left behind". */
  const storeFiles = (): string[] =>
    ['blobs/sha256', 'tmp'].flatMap((sub) => (existsSync(join(root.dir, sub)) ? readdirSync(join(root.dir, sub)).map((f) => `${sub}/${f}`) : []));

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

  it('an oci-archive on stdin (no -i): loaded under its ref.name, and it runs', async () => {
    const name = `hull.test/oci-stdin-${randomToken(6)}:v1`;
    const dir = join(root.dir, `oci-stdin-${randomToken(4)}`);
    writeOciLayout(dir, name, image);
    execFileSync('tar', ['-cf', `${dir}.tar`, '-C', dir, '.']);
    const r = await loadStdin(`${dir}.tar`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Loaded image: ${name}\n`);
    expect(await images()).toContain(name);
    expect((await root.hull(['run', '--rm', name])).stdout).toBe(marker);
  });

  it('stdin that is no tar, or empty: 1, one line, nothing new in the store', async () => {
    const before = { images: await images(), files: storeFiles() };
    const junk = join(root.dir, `junk-stdin-${randomToken(4)}`);
    writeFileSync(junk, randomToken(4096));
    const notTar = await loadStdin(junk);
    expect(notTar.code).toBe(1);
    expect(notTar.stderr).toBe('hull: stdin: not a tar archive\n');
    expect(notTar.stdout).toBe('');
    const empty = await root.hull(['load'], { input: '' });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('hull: stdin: not a tar archive\n');
    expect(await images()).toEqual(before.images);
    expect(storeFiles()).toEqual(before.files);
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
    // The same archive renamed, on stdin: docker's `docker load < image.tar`.
    const other = `hull.test/docker-stdin-${randomToken(6)}:v3`;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: `${hex(image.config.digest)}.json`, RepoTags: [other], Layers: layers }]));
    execFileSync('tar', ['-cf', `${dir}-stdin.tar`, '-C', dir, '.']);
    const fromStdin = await loadStdin(`${dir}-stdin.tar`);
    expect(fromStdin.stderr).toBe('');
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toBe(`Loaded image: ${other}\n`);
    expect((await root.hull(['run', '--rm', other])).stdout).toBe(marker);
  });

  it('a tampered blob, a file that is no tar, a missing file: 1 (docker load\'s code), one line, no image', async () => {
    const before = await images();
    const name = `hull.test/bad-${randomToken(6)}:v1`;
    const dir = join(root.dir, `bad-${randomToken(4)}`);
    writeOciLayout(dir, name, image);
    const blobs = join(dir, 'blobs', 'sha256');
    const layer = readdirSync(blobs).find((b) => `sha256:${b}` === image.layers[0]!.digest)!;
    appendFileSync(join(blobs, layer), 'x');
    execFileSync('tar', ['-cf', `${dir}.tar`, '-C', dir, '.']);
    const tampered = await root.hull(['load', '-i', `${dir}.tar`]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/^hull: archive: blob digest mismatch: wanted sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/);
    const junk = join(root.dir, `junk-${randomToken(4)}`);
    writeFileSync(junk, randomToken(64));
    const notTar = await root.hull(['load', '-i', junk]);
    expect(notTar.code).toBe(1);
    expect(notTar.stderr).toBe(`hull: ${junk}: not a tar archive\n`);
    const missing = await root.hull(['load', '-i', `${junk}-missing`]);
    expect(missing.code).toBe(1);
    expect(await images()).toEqual(before);
    expect(readdirSync(join(root.dir, 'tmp'))).toEqual([]);
  });
});
