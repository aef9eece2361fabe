// Hostile layers through hull's own entry points (issue 13, sections 1 and 7):
// `hull pull`, `hull run` (its implicit pull) and `hull load` of an
// oci-archive or a docker-archive. Every entry kind with a NUL that libc reads
// as "..", and control characters, must be refused with one line and a
// non-zero exit; the store's tmp/ (the layer target's parent) and random
// markers beside and above it keep their mode, owner and contents; nothing of
// the image stays. Then a compression bomb and overlay xattrs through hull pull.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  type BuiltImage,
  descendants,
  nameAttacks,
  placeMarkers,
  pushImage,
  randomToken,
  rawTar,
  requireRoot,
  run,
  type RunResult,
  treeState,
  writeOciLayout,
} from '@hull/testkit';
import { lgetxattr } from '@hull/sys';
import { BIN, registryHost, requireBuild } from './hull.js';

const tops: string[] = [];

/** A store two levels down, with markers at each level, and the `hull` bin run against it. */
function store() {
  const top = mkdtempSync(join(tmpdir(), 'hull-final-names-'));
  tops.push(top);
  placeMarkers(top);
  const root = join(top, 'root');
  // The store's own dirs exist first, so their mode and owner are on record.
  for (const d of ['blobs/sha256', 'layers', 'tmp']) mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
  placeMarkers(root, false);
  const stop = (rel: string): boolean => /^root\/[^/]+$/.test(rel) && !rel.includes('marker-') && !rel.includes('dir-');
  const state = (): string[] => treeState(top, lgetxattr, stop);
  const pathOf = (line: string): string => line.slice(0, line.indexOf(' '));
  const before = state();
  return {
    top,
    root,
    hull: (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> => run('node', [BIN, ...args], { timeoutMs: 120_000, env: { HULL_ROOT: root, ...env } }),
    /** Nothing that was there changed; what is new is only the store's own top-level files. */
    expectUntouched(): void {
      const after = state();
      const known = new Set(before.map(pathOf));
      expect(after.filter((l) => known.has(pathOf(l)))).toEqual(before);
      expect(after.map(pathOf).filter((p) => !known.has(p) && !/^root\/[^/]+$/.test(p))).toEqual([]);
      expect(readdirSync(join(root, 'tmp'))).toEqual([]);
      expect(readdirSync(join(root, 'layers'))).toEqual([]);
      const imagesFile = join(root, 'images.json');
      expect(existsSync(imagesFile) ? (JSON.parse(execFileSync('cat', [imagesFile], { encoding: 'utf8' })) as object) : {}).toEqual({});
    },
  };
}

/** One `hull: ` line, the last; `hull run` may print docker's pull progress before it. */
function expectOneLine(r: RunResult, reason: RegExp, progress = false): void {
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1]!;
  const hullLines = lines.filter((l) => l.startsWith('hull: '));
  if ((!progress && lines.length !== 1) || hullLines.length !== 1 || !last.startsWith('hull: ') || !reason.test(last) || !r.code) {
    throw new Error(`expected one "hull: " line matching ${reason} and a non-zero exit, got code ${r.code}:\n${r.stderr}`);
  }
  // The name is shown escaped: no raw control character reaches the admin's terminal.
  expect(last).not.toMatch(/[\u0000-\u001f\u007f]/);
}

async function push(image: BuiltImage): Promise<string> {
  const name = `final-names-${randomToken(8)}/img`;
  await pushImage(registryHost(), name, 'v1', image);
  return `${registryHost()}/${name}:v1`;
}

/** `docker save` and `skopeo copy oci-archive:` shapes of `image`, as tar files in `dir`. */
function archives(dir: string, image: BuiltImage): { oci: string; docker: string } {
  const name = `hull.test/names-${randomToken(6)}:v1`;
  const oci = join(dir, 'oci');
  writeOciLayout(oci, name, image);
  execFileSync('tar', ['-cf', `${oci}.tar`, '-C', oci, '.']);
  const docker = join(dir, 'docker');
  mkdirSync(docker);
  const hex = (d: string) => d.slice('sha256:'.length);
  writeFileSync(join(docker, `${hex(image.config.digest)}.json`), image.config.bytes);
  const layers = image.layers.map((l) => {
    mkdirSync(join(docker, hex(l.digest)));
    writeFileSync(join(docker, hex(l.digest), 'layer.tar'), gunzipSync(l.bytes));
    return `${hex(l.digest)}/layer.tar`;
  });
  writeFileSync(join(docker, 'manifest.json'), JSON.stringify([{ Config: `${hex(image.config.digest)}.json`, RepoTags: [name], Layers: layers }]));
  execFileSync('tar', ['-cf', `${docker}.tar`, '-C', docker, '.']);
  return { oci: `${oci}.tar`, docker: `${docker}.tar` };
}

describe.skipIf(!requireRoot('final-runtime hostile layers'))('hull pull / run / load: hostile layers', () => {
  beforeAll(() => requireBuild());
  afterAll(() => {
    const mounts = execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' });
    for (const top of tops.splice(0)) {
      expect(mounts).not.toContain(top);
      rmSync(top, { recursive: true, force: true });
    }
    expect(descendants()).toEqual([]);
  });

  it.each(nameAttacks().map((a) => [a.label, a] as const))('refuse %s', async (_label, attack) => {
    const image = await buildImage({ layers: [{ tar: rawTar(attack.entries) }] });
    const ref = await push(image);

    const pulled = store();
    expectOneLine(await pulled.hull(['pull', ref]), attack.reason);
    pulled.expectUntouched();

    const ran = store();
    expectOneLine(await ran.hull(['run', '--rm', '--network', 'none', ref, 'true']), attack.reason, true);
    ran.expectUntouched();

    const loaded = store();
    const files = archives(loaded.top, image);
    expectOneLine(await loaded.hull(['load', '-i', files.oci]), attack.reason);
    expectOneLine(await loaded.hull(['load', '-i', files.docker]), attack.reason);
    rmSync(join(loaded.top, 'oci'), { recursive: true });
    rmSync(join(loaded.top, 'docker'), { recursive: true });
    for (const f of [files.oci, files.docker]) rmSync(f);
    loaded.expectUntouched();
  });

  it('hull pull stops a gzip bomb at HULL_MAX_LAYER_SIZE and keeps none of it', async () => {
    const limit = (8 + Math.floor(Math.random() * 8)) << 20;
    const ref = await push(await buildImage({ layers: [{ tar: rawTar([{ path: 'zeros', content: Buffer.alloc(48 << 20) }]) }] }));
    const s = store();
    expectOneLine(await s.hull(['pull', ref], { HULL_MAX_LAYER_SIZE: String(limit) }), new RegExp(`decompresses to more than ${limit} bytes`));
    s.expectUntouched();
  });

  it('hull pull: an image cannot set trusted.overlay.* xattrs on its files', async () => {
    const token = randomToken();
    const pax = { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.user.ok': token };
    const image = await buildImage({ layers: [{ tar: rawTar([{ path: 'd', typeflag: '5', pax }, { path: 'd/f', content: Buffer.from(token), pax }]) }] });
    const s = store();
    const r = await s.hull(['pull', await push(image)]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain('skipped xattr trusted.overlay.opaque (first on "d")');
    const layer = join(s.root, 'layers', image.layers[0]!.diffId.slice(7));
    for (const path of [join(layer, 'd'), join(layer, 'd/f')]) {
      expect(lgetxattr(path, 'trusted.overlay.opaque')).toBeNull();
      expect(lgetxattr(path, 'trusted.overlay.redirect')).toBeNull();
      expect(lgetxattr(path, 'user.ok')?.toString()).toBe(token);
    }
  });
});
