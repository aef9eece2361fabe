// The layer extractor on an edge-case image: every entry type, whiteouts and an
// opaque dir across layers, gzip/zstd/plain layers. The flattened result must
// match `umoci unpack` of the same OCI layout (the oracle), and the overlay-mode
// layers, mounted as overlayfs lowerdirs, must show the same tree.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lgetxattr, lsetxattr } from '@hull/sys';
import { buildImage, compress, descendants, randomToken, repoRoot, requireRoot, run, tarOf, writeOciLayout, type BuiltImage, type BuiltLayer, type LayerEntry } from '@hull/testkit';
import { decompressor, extractLayer } from '../src/extract/index.js';

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

/** Every path below `root` as lstat sees it: what "extracts exactly" means here. */
function treeOf(root: string): Record<string, TreeNode> {
  const out: Record<string, TreeNode> = {};
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
    const node: TreeNode = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
    // A directory's mtime also changes when a later layer writes into it without
    // listing it, which each unpacker handles its own way: compared separately.
    if (type !== 'dir') node.mtime = Math.floor(st.mtimeMs / 1000);
    if (type === 'symlink') node.link = readlinkSync(abs);
    if (type === 'char' || type === 'block') node.rdev = st.rdev;
    if (type === 'file') node.sha = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
    out[rel || '.'] = node;
    if (type === 'dir') for (const child of readdirSync(abs).sort()) walk(rel ? `${rel}/${child}` : child);
  };
  walk('');
  return out;
}

/** Groups of paths that are one inode (hardlinks), sorted. */
function hardlinkGroups(root: string): string[][] {
  const byIno = new Map<number, string[]>();
  for (const rel of Object.keys(treeOf(root))) {
    const st = lstatSync(join(root, rel));
    if (st.isDirectory() || st.nlink < 2) continue;
    byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), rel]);
  }
  return [...byIno.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

function layerStream(layer: BuiltLayer): Readable {
  const decompress = decompressor(layer.mediaType);
  if (!decompress) throw new Error(`no decompressor for ${layer.mediaType}`);
  return Readable.from([layer.bytes]).pipe(decompress);
}

const MTIME = new Date('2023-05-06T07:08:09Z');

function edgeCaseLayers(token: string): LayerEntry[][] {
  const longDir = `long-${'d'.repeat(120)}`;
  const longTarget = `/opt/${'t'.repeat(150)}`;
  const l1: LayerEntry[] = [
    { path: './', type: 'directory', mode: 0o755, mtime: MTIME },
    { path: 'bin/', type: 'directory', mode: 0o755, mtime: MTIME },
    { path: 'bin/tool', content: `tool ${token}`, mode: 0o4755, mtime: MTIME },
    { path: 'bin/tool-link', type: 'link', linkname: 'bin/tool', mtime: MTIME },
    { path: 'bin/sgid', content: 'g', mode: 0o2711, uid: 0, gid: 50, mtime: MTIME },
    { path: 'tmp/', type: 'directory', mode: 0o1777, mtime: MTIME },
    { path: 'shared/', type: 'directory', mode: 0o2775, gid: 1000, mtime: MTIME },
    { path: 'usr/lib/libx.so', content: 'elf', mtime: MTIME },
    { path: 'lib', type: 'symlink', linkname: 'usr/lib', mtime: MTIME },
    { path: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC', mtime: MTIME },
    { path: 'etc/abs-ok', type: 'symlink', linkname: '/etc/passwd', mtime: MTIME },
    { path: 'dev/', type: 'directory', mode: 0o755, mtime: MTIME },
    { path: 'dev/fifo', type: 'fifo', mode: 0o620, mtime: MTIME },
    { path: 'dev/mynull', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: MTIME },
    { path: 'dev/myloop', type: 'block-device', devmajor: 7, devminor: 200, mode: 0o660, gid: 6, mtime: MTIME },
    { path: 'home/user/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: MTIME },
    { path: 'home/user/notes', content: token, mode: 0o600, uid: 1000, gid: 1000, mtime: MTIME },
    { path: `${longDir}/${'f'.repeat(110)}`, content: 'long', mtime: MTIME },
    { path: 'long-link', type: 'symlink', linkname: longTarget, mtime: MTIME },
    { path: 'xattr-file', content: 'x', mtime: MTIME, pax: { 'SCHILY.xattr.user.hull': token } },
    { path: 'opq/', type: 'directory', mode: 0o755, mtime: MTIME },
    { path: 'opq/old1', content: 'old', mtime: MTIME },
    { path: 'opq/sub/old2', content: 'old', mtime: MTIME },
    { path: 'gone/a', content: 'a', mtime: MTIME },
    { path: 'gonefile', content: 'bye', mtime: MTIME },
    { path: 'keep', content: 'v1', mtime: MTIME },
  ];
  const l2: LayerEntry[] = [
    { path: 'opq/', type: 'directory', mode: 0o700, mtime: MTIME },
    { path: 'opq/.wh..wh..opq', content: '', mtime: MTIME },
    { path: 'opq/new', content: `new ${token}`, mtime: MTIME },
    { path: '.wh.gonefile', content: '', mtime: MTIME },
    { path: '.wh.gone', content: '', mtime: MTIME },
    { path: 'keep', content: `v2 ${token}`, mode: 0o640, uid: 1000, gid: 1000, mtime: MTIME },
    { path: 'l2only', content: 'short-lived', mtime: MTIME },
    { path: 'pair/a', content: `pair ${token}`, mtime: MTIME },
    { path: 'pair/b', type: 'link', linkname: 'pair/a', mtime: MTIME },
  ];
  const l3: LayerEntry[] = [
    { path: '.wh.l2only', content: '', mtime: MTIME },
    { path: 'gone/', type: 'directory', mode: 0o711, mtime: MTIME },
    { path: 'gone/fresh', content: `fresh ${token}`, mtime: MTIME },
    { path: 'bin/tool', content: `tool v3 ${token}`, mode: 0o6755, uid: 1000, gid: 1000, mtime: MTIME },
  ];
  return [l1, l2, l3];
}

describe.skipIf(!requireRoot('07-oci-pull extract'))('07-oci-pull: extracting layers', () => {
  let work: string;
  let image: BuiltImage;
  let oracleImage: BuiltImage;
  let token: string;
  let flat: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'hull-extract-'));
    token = randomToken();
    const [l1, l2, l3] = edgeCaseLayers(token);
    image = await buildImage({
      layers: [
        { entries: l1!, compression: 'gzip' },
        { entries: l2!, compression: 'zstd' },
        { entries: l3!, compression: 'none' },
      ],
    });
    // umoci 0.4.7 (Debian 12) reads no zstd: its copy has the same tars, all gzip.
    oracleImage = await buildImage({ layers: [l1!, l2!, l3!].map((entries) => ({ entries, compression: 'gzip' as const })) });
    expect(oracleImage.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
    flat = join(work, 'flat');
    mkdirSync(flat);
    for (const layer of image.layers) {
      const r = await extractLayer(layerStream(layer), flat, { mode: 'flatten' });
      warnings.push(...r.warnings);
    }
  });

  afterAll(() => {
    // Nothing mounted under our dir, no child process left.
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
    expect(descendants()).toEqual([]);
    rmSync(work, { recursive: true, force: true });
  });

  it('flattens every entry type exactly as umoci unpack does', async () => {
    const layout = writeOciLayout(join(work, 'layout'), 'edge', oracleImage);
    const bundle = join(work, 'bundle');
    const r = await run('umoci', ['unpack', '--image', `${layout}:edge`, bundle]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/error/i) });
    const oracle = treeOf(join(bundle, 'rootfs'));
    const ours = treeOf(flat);
    expect(ours).toEqual(oracle);
    expect(hardlinkGroups(flat)).toEqual(hardlinkGroups(join(bundle, 'rootfs')));
    expect(warnings).toEqual([]);
  });

  it('keeps what the edge cases are about: setuid after chown, devices, uid 1000, long names, whiteouts', () => {
    const tree = treeOf(flat);
    expect(tree['bin/tool']).toMatchObject({ type: 'file', mode: '6755', uid: 1000, gid: 1000 });
    expect(readFileSync(join(flat, 'bin/tool'), 'utf8')).toBe(`tool v3 ${token}`);
    // A new bin/tool replaced the old inode; the old hardlink keeps the old content.
    expect(readFileSync(join(flat, 'bin/tool-link'), 'utf8')).toBe(`tool ${token}`);
    expect(tree['pair/a']?.sha).toBe(tree['pair/b']?.sha);
    expect(lstatSync(join(flat, 'pair/a')).ino).toBe(lstatSync(join(flat, 'pair/b')).ino);
    expect(tree['tmp']).toMatchObject({ type: 'dir', mode: '1777' });
    expect(tree['shared']).toMatchObject({ type: 'dir', mode: '2775', gid: 1000 });
    expect(tree['dev/fifo']).toMatchObject({ type: 'fifo', mode: '620' });
    expect(tree['dev/mynull']).toMatchObject({ type: 'char', mode: '666', rdev: lstatSync('/dev/null').rdev });
    expect(tree['dev/myloop']).toMatchObject({ type: 'block', mode: '660', gid: 6 });
    expect(tree['home/user/notes']).toMatchObject({ uid: 1000, gid: 1000, mode: '600' });
    expect(tree['etc/localtime']).toMatchObject({ type: 'symlink', link: '/usr/share/zoneinfo/UTC' });
    expect(tree['long-link']?.link).toBe(`/opt/${'t'.repeat(150)}`);
    expect(tree[`long-${'d'.repeat(120)}/${'f'.repeat(110)}`]).toMatchObject({ type: 'file' });
    expect(lgetxattr(join(flat, 'xattr-file'), 'user.hull')?.toString()).toBe(token);
    // Directory mtimes are set after their content was written.
    for (const dir of ['dev', 'opq', 'tmp', 'home/user']) expect(lstatSync(join(flat, dir)).mtimeMs).toBe(MTIME.getTime());
    expect(tree['keep']?.mtime).toBe(MTIME.getTime() / 1000);
    // Whiteouts and the opaque dir.
    expect(readdirSync(join(flat, 'opq'))).toEqual(['new']);
    expect(tree['opq']?.mode).toBe('700');
    expect(tree['gonefile']).toBeUndefined();
    expect(tree['l2only']).toBeUndefined();
    expect(readdirSync(join(flat, 'gone'))).toEqual(['fresh']);
    expect(readFileSync(join(flat, 'keep'), 'utf8')).toBe(`v2 ${token}`);
    expect(Object.keys(tree).some((p) => p.includes('.wh.'))).toBe(false);
  });

  it('stores overlay layers with whiteout devices and the opaque xattr, and overlayfs merges them into the flattened tree', async () => {
    const lowers: string[] = [];
    for (const [i, layer] of image.layers.entries()) {
      const dir = join(work, `layer${i}`);
      mkdirSync(dir);
      const r = await extractLayer(layerStream(layer), dir, { mode: 'overlay' });
      expect(r.warnings).toEqual([]);
      lowers.push(dir);
    }
    const [, l2, l3] = lowers;
    // .wh.NAME -> a 0:0 char device NAME; .wh..wh..opq -> trusted.overlay.opaque=y.
    for (const [dir, name] of [
      [l2!, 'gonefile'],
      [l2!, 'gone'],
      [l3!, 'l2only'],
    ] as const) {
      const st = lstatSync(join(dir, name));
      expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
    }
    expect(lgetxattr(join(l2!, 'opq'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(lgetxattr(join(lowers[0]!, 'opq'), 'trusted.overlay.opaque')).toBeNull();
    expect(readdirSync(join(l2!, 'opq')).sort()).toEqual(['new']);

    const merged = join(work, 'merged');
    mkdirSync(merged);
    // Only lowerdirs: a read-only overlay, topmost layer first.
    const m = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...lowers].reverse().join(':')}`, merged]);
    expect(m.stderr).toBe('');
    try {
      const mergedTree = treeOf(merged);
      const flatTree = treeOf(flat);
      expect(mergedTree).toEqual(flatTree);
    } finally {
      const u = await run('umount', [merged]);
      expect(u.code).toBe(0);
    }
  });

  it('restores binary xattrs byte for byte, security.capability included, from a GNU tar layer', async () => {
    const src = mkdtempSync(join(work, 'xattr-src-'));
    writeFileSync(join(src, 'ping'), token);
    // vfs_cap_data revision 2, effective: permitted = CAP_NET_RAW (13), as `setcap cap_net_raw+ep` writes it.
    const cap = Buffer.alloc(20);
    cap.writeUInt32LE(0x02000001, 0);
    cap.writeUInt32LE(1 << 13, 4);
    lsetxattr(join(src, 'ping'), 'security.capability', cap);
    const bytes = Buffer.concat([Buffer.from([0xff, 0x00, 0x80, 0xc3]), randomBytes(12)]);
    mkdirSync(join(src, 'dir'));
    lsetxattr(join(src, 'dir'), 'user.blob', bytes);
    symlinkSync('ping', join(src, 'link'));
    const tar = await run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', join(work, 'xattrs.tar'), '.']);
    expect(tar.code).toBe(0);
    const dir = mkdtempSync(join(work, 'xattr-dst-'));
    const r = await extractLayer(Readable.from([readFileSync(join(work, 'xattrs.tar'))]), dir, { mode: 'flatten' });
    expect(r.warnings).toEqual([]);
    expect(lgetxattr(join(dir, 'ping'), 'security.capability')).toEqual(cap);
    expect(lgetxattr(join(dir, 'dir'), 'user.blob')).toEqual(bytes);
    expect(readFileSync(join(dir, 'ping'), 'utf8')).toBe(token);
  });

  it('as non-root: extracts what it can (own uid, FIFOs, whiteouts, user.overlay.opaque), skips devices, warns once each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hull-extract-nonroot-'));
    try {
      chmodSync(dir, 0o755);
      const tarPath = join(dir, 'layer.tar');
      writeFileSync(
        tarPath,
        await tarOf([
          { path: 'a', content: token, uid: 0, gid: 0, mode: 0o4755 },
          { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
          { path: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0 },
          { path: 'fifo', type: 'fifo', mode: 0o640 },
          { path: 'o/.wh..wh..opq', content: '' },
          { path: '.wh.gone', content: '' },
          // Read-only for its owner: its mode is applied last, or writing ro/file would fail.
          { path: 'ro/', type: 'directory', mode: 0o555 },
          { path: 'ro/file', content: token, uid: 1000 },
        ]),
      );
      const target = join(dir, 'target');
      mkdirSync(target);
      chownSync(target, 65534, 65534);
      const home = join(dir, 'home');
      mkdirSync(home);
      chownSync(home, 65534, 65534);
      const script = `(async () => {
        const { createReadStream } = await import('node:fs');
        const { extractLayer } = await import('./src/extract/index.ts');
        const r = await extractLayer(createReadStream(process.argv[1]), process.argv[2], { mode: 'overlay' });
        process.stdout.write(JSON.stringify(r));
      })().catch((e) => { process.stderr.write(e.message); process.exit(1); });`;
      const tsx = join(repoRoot, 'node_modules/.bin/tsx');
      const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', tsx, '--eval', script, tarPath, target], {
        cwd: join(repoRoot, 'packages/07-oci-pull'),
        env: { HOME: home, TMPDIR: home }, // tsx keeps its cache in TMPDIR: ours, removed below
      });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toEqual({
        entries: 8,
        warnings: ["not root: files keep uid 65534 instead of the layer's owners", 'not root: device nodes were skipped (mknod needs CAP_MKNOD)'],
      });
      const tree = treeOf(target);
      expect(tree['a']).toMatchObject({ type: 'file', mode: '4755', uid: 65534 });
      expect(tree['ro/file']).toMatchObject({ type: 'file', uid: 65534 });
      expect(tree['ro']).toMatchObject({ type: 'dir', mode: '555' });
      expect(tree['fifo']).toMatchObject({ type: 'fifo', mode: '640', uid: 65534 });
      expect(tree['gone']).toMatchObject({ type: 'char', rdev: 0 });
      expect(readdirSync(join(target, 'dev'))).toEqual([]);
      expect(lgetxattr(join(target, 'o'), 'user.overlay.opaque')?.toString()).toBe('y');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a layer that makes a name again and then whites it out keeps its own, hides the lower (both modes agree)', async () => {
    const dir = mkdtempSync(join(work, 'again-'));
    const layers = [
      await tarOf([
        { path: 'd/old', content: 'old' },
        { path: 'f', content: 'old' },
      ]),
      // Out of image-spec's recommended order: the whiteouts come after the new entries.
      await tarOf([
        { path: 'd/', type: 'directory', mode: 0o750 },
        { path: 'd/new', content: token },
        { path: 'f', content: token },
        { path: '.wh.d', content: '' },
        { path: '.wh.f', content: '' },
      ]),
    ];
    const flatDir = join(dir, 'flat');
    mkdirSync(flatDir);
    for (const tar of layers) await extractLayer(Readable.from([tar]), flatDir, { mode: 'flatten' });
    expect(readdirSync(join(flatDir, 'd'))).toEqual(['new']);
    expect(readFileSync(join(flatDir, 'f'), 'utf8')).toBe(token);
    const lowers = [join(dir, 'l0'), join(dir, 'l1')];
    for (const [i, tar] of layers.entries()) {
      mkdirSync(lowers[i]!);
      await extractLayer(Readable.from([tar]), lowers[i]!, { mode: 'overlay' });
    }
    expect(lgetxattr(join(lowers[1]!, 'd'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    const merged = join(dir, 'merged');
    mkdirSync(merged);
    expect((await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers[1]}:${lowers[0]}`, merged])).stderr).toBe('');
    try {
      expect(treeOf(merged)).toEqual(treeOf(flatDir));
    } finally {
      expect((await run('umount', [merged])).code).toBe(0);
    }
  });

  it('decompresses by media type, and refuses a truncated zstd layer', async () => {
    const tar = await tarOf([{ path: 'hello', content: token }]);
    const zstd = compress(tar, 'zstd');
    const check = async (mediaType: string, bytes: Buffer): Promise<Buffer> => {
      const d = decompressor(mediaType);
      expect(d).not.toBeNull();
      const chunks: Buffer[] = [];
      for await (const c of Readable.from([bytes]).pipe(d!)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    expect(await check('application/vnd.oci.image.layer.v1.tar+zstd', zstd)).toEqual(tar);
    expect(await check('application/vnd.oci.image.layer.v1.tar+gzip', compress(tar, 'gzip'))).toEqual(tar);
    expect(await check('application/vnd.docker.image.rootfs.diff.tar.gzip', compress(tar, 'gzip'))).toEqual(tar);
    expect(await check('application/vnd.oci.image.layer.v1.tar', tar)).toEqual(tar);
    expect(decompressor('application/vnd.oci.image.layer.v1.tar+lz4')).toBeNull();
    expect(decompressor('text/plain')).toBeNull();
    await expect(check('application/vnd.oci.image.layer.v1.tar+zstd', zstd.subarray(0, zstd.length - 7))).rejects.toThrow();
    // A decompression failure reaches the caller as itself, not as "not a valid tar".
    const dir = mkdtempSync(join(work, 'gunzip-'));
    const gunzip = decompressor('application/vnd.oci.image.layer.v1.tar+gzip')!;
    await expect(extractLayer(Readable.from([Buffer.from(`not gzip ${token}`)]).pipe(gunzip), dir, { mode: 'flatten' })).rejects.toThrow(/^incorrect header check$/);
  });

  it('refuses a truncated tar with one clear message', async () => {
    const tar = await tarOf([{ path: 'big', content: 'x'.repeat(5000) }]);
    const dir = mkdtempSync(join(work, 'trunc-'));
    await expect(extractLayer(Readable.from([tar.subarray(0, 2048)]), dir, { mode: 'flatten' })).rejects.toThrow(/^layer is not a valid tar: /);
  });
});
