// Random images, so nothing can be tuned to one fixture: each run builds
// multi-layer images from a fresh seed (printed on failure) the way image
// builders write layers (parents listed, whiteouts and opaque dirs against
// lower layers, hardlinks within a layer, type changes), then checks
//   flattened by us == `umoci unpack` (the oracle)
//   overlay layers by us, merged by overlayfs == flattened by us.
import { createHash, randomInt } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, descendants, requireRoot, run, writeOciLayout, type BuiltLayer, type Compression, type LayerEntry } from '@hull/testkit';
import { decompressor, extractLayer } from '../src/extract/index.js';

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'file' | 'dir' | 'symlink' | 'fifo' | 'char';

/** What the generator believes the merged tree holds after each layer. */
type Model = Map<string, Kind>;

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function ancestors(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

function randomLayers(seed: number, count: number): LayerEntry[][] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const name = (): string => pick(['a', 'b', 'c', 'etc', 'usr', 'lib', 'x']) + Math.floor(rnd() * 6).toString();
  const owner = (): number => pick([0, 0, 0, 1000, 1000 + Math.floor(rnd() * 50000)]);
  const mtime = (): Date => new Date(Date.UTC(2020, 0, 1) + Math.floor(rnd() * 1e9) * 1000);
  const model: Model = new Map([['', 'dir']]);
  const dirMeta = new Map<string, { mode: number; uid: number; gid: number; mtime: Date }>([['', { mode: 0o755, uid: 0, gid: 0, mtime: mtime() }]]);
  const layers: LayerEntry[][] = [];

  for (let l = 0; l < count; l++) {
    const entries: LayerEntry[] = [];
    const touched = new Set<string>();
    const filesThisLayer: string[] = [];
    /** Paths this layer deleted: a layer never deletes and then writes below the same path. */
    const deleted = new Set<string>();
    const under = (p: string, q: string): boolean => q === p || q.startsWith(`${p}/`);
    /** List the parents of `path`, as docker's diff does, with what the tree holds for them. */
    const listParents = (path: string): void => {
      for (const a of ancestors(path)) {
        if (touched.has(a)) continue;
        if (!model.has(a)) {
          model.set(a, 'dir');
          dirMeta.set(a, { mode: pick([0o755, 0o700, 0o1777, 0o2775]), uid: owner(), gid: owner(), mtime: mtime() });
        }
        const m = dirMeta.get(a)!;
        entries.push({ path: `${a}/`, type: 'directory', mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime });
        touched.add(a);
      }
    };
    const removeModel = (p: string): void => {
      for (const k of [...model.keys()]) if (under(p, k)) model.delete(k);
    };
    /** A new path below an existing directory (maybe a new directory first). */
    const newPath = (): string | null => {
      const dirs = [...model.entries()].filter(([, k]) => k === 'dir').map(([p]) => p);
      let dir = pick(dirs);
      if (rnd() < 0.3) dir = dir ? `${dir}/${name()}` : name();
      if (model.has(dir) && model.get(dir) !== 'dir') return null;
      const path = dir ? `${dir}/${name()}` : name();
      if (model.has(path) || touched.has(path)) return null;
      if (ancestors(path).some((a) => deleted.has(a) || (model.has(a) && model.get(a) !== 'dir'))) return null;
      return path;
    };
    const lowerPath = (kind?: Kind): string | null => {
      const candidates = [...model.entries()].filter(([p, k]) => p !== '' && (!kind || k === kind) && !touched.has(p) && ![...touched].some((t) => under(p, t)));
      return candidates.length ? pick(candidates)[0] : null;
    };

    for (let op = 0; op < 24; op++) {
      const r = rnd();
      if (r < 0.3) {
        const p = newPath();
        if (!p) continue;
        listParents(p);
        entries.push({ path: p, content: `${seed} ${l} ${p} ${rnd()}`, mode: pick([0o644, 0o600, 0o755, 0o4755, 0o2711, 0o444]), uid: owner(), gid: owner(), mtime: mtime() });
        model.set(p, 'file');
        touched.add(p);
        filesThisLayer.push(p);
      } else if (r < 0.42) {
        const p = newPath();
        if (!p) continue;
        listParents(p);
        const meta = { mode: pick([0o755, 0o700, 0o1777, 0o2775, 0o555]), uid: owner(), gid: owner(), mtime: mtime() };
        entries.push({ path: `${p}/`, type: 'directory', ...meta });
        model.set(p, 'dir');
        dirMeta.set(p, meta);
        touched.add(p);
      } else if (r < 0.52) {
        const p = newPath();
        if (!p) continue;
        listParents(p);
        entries.push({ path: p, type: 'symlink', linkname: pick(['../up', '/etc/passwd', 'sib', `/abs/${seed}`, '.']), uid: owner(), gid: owner(), mtime: mtime() });
        model.set(p, 'symlink');
        touched.add(p);
      } else if (r < 0.58) {
        const p = newPath();
        if (!p) continue;
        listParents(p);
        const fifo = rnd() < 0.5;
        entries.push({ path: p, type: fifo ? 'fifo' : 'character-device', devmajor: 1, devminor: pick([3, 5, 7]), mode: pick([0o600, 0o666]), uid: owner(), gid: owner(), mtime: mtime() });
        model.set(p, fifo ? 'fifo' : 'char');
        touched.add(p);
      } else if (r < 0.66) {
        if (!filesThisLayer.length) continue;
        const p = newPath();
        if (!p) continue;
        listParents(p);
        entries.push({ path: p, type: 'link', linkname: pick(filesThisLayer), mtime: mtime() });
        model.set(p, 'file');
        touched.add(p);
      } else if (r < 0.76) {
        // Change a lower file: new content, mode and owner (a new inode).
        const p = lowerPath('file');
        if (!p) continue;
        listParents(p);
        entries.push({ path: p, content: `changed ${seed} ${l} ${rnd()}`, mode: pick([0o640, 0o4755]), uid: owner(), gid: owner(), mtime: mtime() });
        touched.add(p);
        filesThisLayer.push(p);
      } else if (r < 0.86) {
        const p = lowerPath();
        if (!p) continue;
        listParents(p);
        const base = p.slice(parentOf(p).length ? parentOf(p).length + 1 : 0);
        entries.push({ path: parentOf(p) ? `${parentOf(p)}/.wh.${base}` : `.wh.${base}`, content: '' });
        removeModel(p);
        touched.add(p);
        deleted.add(p);
      } else if (r < 0.89) {
        // Whiteout, then the same name again in the same layer: only the lower one is hidden.
        const p = lowerPath();
        if (!p) continue;
        listParents(p);
        const base = p.slice(parentOf(p).length ? parentOf(p).length + 1 : 0);
        entries.push({ path: parentOf(p) ? `${parentOf(p)}/.wh.${base}` : `.wh.${base}`, content: '' });
        removeModel(p);
        if (rnd() < 0.6) {
          const meta = { mode: pick([0o755, 0o700]), uid: owner(), gid: owner(), mtime: mtime() };
          entries.push({ path: `${p}/`, type: 'directory', ...meta });
          model.set(p, 'dir');
          dirMeta.set(p, meta);
        } else {
          entries.push({ path: p, content: `again ${seed} ${rnd()}`, mode: 0o644, uid: owner(), gid: owner(), mtime: mtime() });
          model.set(p, 'file');
          filesThisLayer.push(p);
        }
        touched.add(p);
      } else if (r < 0.94) {
        const p = lowerPath('dir');
        if (!p) continue;
        listParents(p);
        const m = dirMeta.get(p)!;
        entries.push({ path: `${p}/`, type: 'directory', mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime });
        entries.push({ path: `${p}/.wh..wh..opq`, content: '' });
        removeModel(p);
        model.set(p, 'dir');
        touched.add(p);
      } else {
        // A type change: a lower file becomes a directory, or a lower directory a file.
        const p = lowerPath(rnd() < 0.5 ? 'file' : 'dir');
        if (!p) continue;
        listParents(p);
        if (model.get(p) === 'file') {
          const meta = { mode: 0o751, uid: owner(), gid: owner(), mtime: mtime() };
          entries.push({ path: `${p}/`, type: 'directory', ...meta });
          model.set(p, 'dir');
          dirMeta.set(p, meta);
        } else {
          entries.push({ path: p, content: `was a dir ${seed}`, mode: 0o600, mtime: mtime() });
          removeModel(p);
          model.set(p, 'file');
          filesThisLayer.push(p);
        }
        touched.add(p);
      }
    }
    layers.push(entries);
  }
  return layers;
}

interface TreeNode {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  mtime?: number;
  link?: string;
  rdev?: number;
  sha?: string;
}

function treeOf(root: string): Record<string, TreeNode> {
  const out: Record<string, TreeNode> = {};
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isFIFO() ? 'fifo' : 'other';
    const node: TreeNode = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
    // Directory mtimes move when a later layer writes into them: each unpacker does its own thing.
    if (type !== 'dir') node.mtime = Math.floor(st.mtimeMs / 1000);
    if (type === 'symlink') node.link = readlinkSync(abs);
    if (type === 'char') node.rdev = st.rdev;
    if (type === 'file') node.sha = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
    if (rel) out[rel] = node;
    if (type === 'dir') for (const child of readdirSync(abs).sort()) walk(rel ? `${rel}/${child}` : child);
  };
  walk('');
  return out;
}

function hardlinkGroups(root: string): string[][] {
  const byIno = new Map<number, string[]>();
  for (const [rel, node] of Object.entries(treeOf(root))) {
    if (node.type === 'dir') continue;
    const st = lstatSync(join(root, rel));
    if (st.nlink > 1) byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), rel]);
  }
  return [...byIno.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

function layerStream(layer: BuiltLayer): Readable {
  return Readable.from([layer.bytes]).pipe(decompressor(layer.mediaType)!);
}

describe.skipIf(!requireRoot('07-oci-pull extract random'))('07-oci-pull: random images extract like umoci, and like overlayfs', () => {
  const work = mkdtempSync(join(tmpdir(), 'hull-extract-random-'));

  afterAll(() => {
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
    expect(descendants()).toEqual([]);
    rmSync(work, { recursive: true, force: true });
  });

  const seeds = Array.from({ length: 4 }, () => randomInt(1, 2 ** 31));
  it.each(seeds)('seed %i', async (seed) => {
    const dir = join(work, String(seed));
    mkdirSync(dir);
    const layers = randomLayers(seed, 4);
    const compressions: Compression[] = ['gzip', 'zstd', 'none'];
    const ours = await buildImage({ layers: layers.map((entries, i) => ({ entries, compression: compressions[(seed + i) % 3]! })) });
    // umoci 0.4.7 reads no zstd: same tars, all gzip.
    const oracle = await buildImage({ layers: layers.map((entries) => ({ entries, compression: 'gzip' as const })) });
    expect(oracle.layers.map((l) => l.diffId)).toEqual(ours.layers.map((l) => l.diffId));

    const flat = join(dir, 'flat');
    mkdirSync(flat);
    for (const layer of ours.layers) expect((await extractLayer(layerStream(layer), flat, { mode: 'flatten' })).warnings).toEqual([]);

    const bundle = join(dir, 'bundle');
    const u = await run('umoci', ['unpack', '--image', `${writeOciLayout(join(dir, 'layout'), 'random', oracle)}:random`, bundle]);
    expect({ seed, code: u.code, stderr: u.stderr }).toEqual({ seed, code: 0, stderr: expect.not.stringMatching(/error/i) });
    const flatTree = treeOf(flat);
    expect(Object.keys(flatTree).length).toBeGreaterThan(5);
    expect({ seed, tree: flatTree }).toEqual({ seed, tree: treeOf(join(bundle, 'rootfs')) });
    expect({ seed, links: hardlinkGroups(flat) }).toEqual({ seed, links: hardlinkGroups(join(bundle, 'rootfs')) });

    const lowers: string[] = [];
    for (const [i, layer] of ours.layers.entries()) {
      const lower = join(dir, `layer${i}`);
      mkdirSync(lower);
      expect((await extractLayer(layerStream(layer), lower, { mode: 'overlay' })).warnings).toEqual([]);
      lowers.push(lower);
    }
    const merged = join(dir, 'merged');
    mkdirSync(merged);
    const m = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...lowers].reverse().join(':')}`, merged]);
    expect(m.stderr).toBe('');
    try {
      expect({ seed, tree: treeOf(merged) }).toEqual({ seed, tree: flatTree });
    } finally {
      expect((await run('umount', [merged])).code).toBe(0);
    }
  });
});
