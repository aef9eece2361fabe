// Layer names that lie to C (issue 13, section 1), through the step a learner
// runs: `main.ts pull REF --dest DIR`. Each entry kind, named so that libc
// reads its last component as "..", used to act on the directory above the
// target: the parent of --dest when flattening, the store's tmp/ when
// extracting a layer. Random markers beside and above both must keep their
// mode, owner and contents, and the store must hold nothing of the image.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, nameAttacks, placeMarkers, pushImage, rawTar, requireRoot, treeState } from '@hull/testkit';
import { lgetxattr } from '@hull/sys';
import { expectOneLine, images, listDir, registries, removeTempDirs, repo, step, storeProblems, tempDir } from './helpers.js';

const anon = registries.anonymous.host;

/** A dest and a store, each two levels below `top`, with markers at every level. */
function layout(): { top: string; dest: string; root: string; state: () => string[] } {
  const top = tempDir('names');
  placeMarkers(top);
  const above = join(top, 'above');
  mkdirSync(above);
  placeMarkers(above);
  const storeTop = join(top, 'store-top');
  mkdirSync(storeTop);
  placeMarkers(storeTop, false);
  const root = join(storeTop, 'root');
  // The store's own dirs exist before the attack, so their mode and owner are on record.
  for (const d of ['blobs/sha256', 'layers', 'tmp']) mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
  placeMarkers(root, false);
  const inStore = (rel: string): boolean => ['blobs', 'layers', 'tmp'].some((d) => rel === `store-top/root/${d}`);
  const state = (): string[] => treeState(top, lgetxattr, (rel) => rel === 'above/dest' || inStore(rel)).filter((l) => !l.startsWith('store-top/root/images.json '));
  return { top, dest: join(above, 'dest'), root, state };
}

describe.skipIf(!requireRoot('07-oci-pull hostile names'))('07-oci-pull: layer names with NULs and control characters', () => {
  afterAll(() => removeTempDirs());

  it.each(nameAttacks().map((a) => [a.label, a] as const))('pull --dest refuses %s; nothing beside or above moves', async (_label, attack) => {
    const name = repo('names');
    await pushImage(anon, name, 'v1', await buildImage({ layers: [{ tar: rawTar(attack.entries) }] }));
    const { dest, root, state } = layout();
    const before = state();
    const r = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expectOneLine(r, attack.reason);
    expect(r.stderr.trim(), 'the name is shown escaped').not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(state()).toEqual(before);
    expect(existsSync(dest)).toBe(false);
    expect(listDir(join(root, 'tmp'))).toEqual([]);
    expect(listDir(join(root, 'layers'))).toEqual([]);
    expect(images(root)).toEqual({});
    expect(storeProblems(root)).toEqual([]);
  });
});
