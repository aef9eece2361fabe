// OCI images as test fixtures, built in memory (no internet, no docker):
// layers are tars made with tar-stream's pack, compressed with gzip (node:zlib),
// zstd (the `zstd` CLI, Debian package zstd) or left plain, then described by a
// config, a manifest and, for multi-arch, an index. `writeOciLayout` stores the
// result as an OCI image layout that `umoci unpack` and `skopeo copy oci:DIR:TAG`
// read; `pushImage` (registry.ts) sends it to a registry.
//
// Spec: https://github.com/opencontainers/image-spec (image-layout.md, manifest.md, config.md)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Headers } from 'tar-stream';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

/** One tar entry. Paths are relative ("etc/passwd"); `linkname` is the target of a symlink or hardlink. */
export interface LayerEntry {
  path: string;
  type?: EntryType;
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
  /** extra PAX records, e.g. {'SCHILY.xattr.user.x': 'y'} */
  pax?: Record<string, string>;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerSpec {
  /** The entries, in order; or `tar`, a raw uncompressed tar (for hostile fixtures). */
  entries?: LayerEntry[];
  tar?: Buffer;
  compression?: Compression;
}

export interface ImageConfigSpec {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  config?: ImageConfigSpec;
  architecture?: string;
  os?: string;
  variant?: string;
  /** 'oci' (default) or 'docker' (schema2 media types; gzip layers only). */
  format?: 'oci' | 'docker';
  /** Hostile fixtures: replace the config's diff_ids with these. */
  diffIds?: string[];
}

export interface Blob {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Buffer;
}

export interface BuiltLayer extends Blob {
  /** sha256 of the uncompressed tar: what rootfs.diff_ids lists. */
  diffId: string;
}

export interface BuiltImage {
  kind: 'image';
  manifest: Blob;
  config: Blob;
  layers: BuiltLayer[];
  platform: { os: string; architecture: string; variant?: string };
}

export interface BuiltIndex {
  kind: 'index';
  index: Blob;
  images: BuiltImage[];
}

/** Fixed mtime, so the same spec always gives the same digests. */
const EPOCH = new Date('2024-01-01T00:00:00Z');

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(bytes: Buffer, mediaType: string): Blob {
  return { digest: sha256(bytes), size: bytes.length, mediaType, bytes };
}

/** The GOARCH name of this machine, as image platforms spell it. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** An uncompressed tar of `entries`, in order. */
export async function tarOf(entries: LayerEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.linkname !== undefined ? 'symlink' : e.content !== undefined ? 'file' : 'directory');
    const body = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    const header: Headers & { pax?: Record<string, string> } = {
      name: e.path,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? EPOCH,
      ...(body ? { size: body.length } : { size: 0 }),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor } : {}),
      ...(e.devminor !== undefined ? { devminor: e.devminor } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) p.entry(header, body, cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function compress(tar: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip') return gzipSync(tar);
  if (compression === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

function layerMediaType(compression: Compression, format: 'oci' | 'docker'): string {
  if (format === 'docker') {
    if (compression !== 'gzip') throw new Error(`docker schema2 layers are gzip only, not ${compression}`);
    return MEDIA.dockerLayerGzip;
  }
  return compression === 'gzip' ? MEDIA.ociLayerGzip : compression === 'zstd' ? MEDIA.ociLayerZstd : MEDIA.ociLayer;
}

/** Build an image: layers, config and manifest, all with their sha256 digests. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const format = spec.format ?? 'oci';
  const layers: BuiltLayer[] = [];
  for (const l of spec.layers) {
    const tar = l.tar ?? (await tarOf(l.entries ?? []));
    const compression = l.compression ?? 'gzip';
    layers.push({ ...blob(compress(tar, compression), layerMediaType(compression, format)), diffId: sha256(tar) });
  }
  const platform = {
    os: spec.os ?? 'linux',
    architecture: spec.architecture ?? hostArchitecture(),
    ...(spec.variant ? { variant: spec.variant } : {}),
  };
  const config = {
    created: EPOCH.toISOString(),
    ...platform,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...spec.config },
    rootfs: { type: 'layers', diff_ids: spec.diffIds ?? layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: EPOCH.toISOString(), created_by: 'hull testkit' })),
  };
  const configBlob = blob(Buffer.from(JSON.stringify(config)), format === 'oci' ? MEDIA.ociConfig : MEDIA.dockerConfig);
  const manifest = {
    schemaVersion: 2,
    mediaType: format === 'oci' ? MEDIA.ociManifest : MEDIA.dockerManifest,
    config: descriptor(configBlob),
    layers: layers.map(descriptor),
  };
  const manifestBlob = blob(Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  return { kind: 'image', manifest: manifestBlob, config: configBlob, layers, platform };
}

function descriptor(b: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** A multi-arch index (OCI) or manifest list (docker) over images built for different platforms. */
export function buildIndex(images: BuiltImage[], format: 'oci' | 'docker' = 'oci'): BuiltIndex {
  const mediaType = format === 'oci' ? MEDIA.ociIndex : MEDIA.dockerList;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((i) => ({ ...descriptor(i.manifest), platform: i.platform })),
  };
  return { kind: 'index', index: blob(Buffer.from(JSON.stringify(index)), mediaType), images };
}

/** Every blob of an image or index, each once. */
export function blobsOf(root: BuiltImage | BuiltIndex): Blob[] {
  const out = new Map<string, Blob>();
  const images = root.kind === 'index' ? root.images : [root];
  if (root.kind === 'index') out.set(root.index.digest, root.index);
  for (const i of images) for (const b of [i.manifest, i.config, ...i.layers]) out.set(b.digest, b);
  return [...out.values()];
}

/** The top-level blob: what a tag points at. */
export function rootOf(root: BuiltImage | BuiltIndex): Blob {
  return root.kind === 'index' ? root.index : root.manifest;
}

/**
 * Write an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) holding
 * `root` under `tag` (org.opencontainers.image.ref.name), for umoci and skopeo.
 */
export function writeOciLayout(dir: string, tag: string, root: BuiltImage | BuiltIndex): string {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const b of blobsOf(root)) writeFileSync(join(dir, 'blobs', 'sha256', b.digest.slice('sha256:'.length)), b.bytes);
  const top = rootOf(root);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [{ ...descriptor(top), annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return dir;
}

/**
 * The entries of a directory tree, as a layer would hold them: types, modes,
 * owners, symlink targets, hardlinks (same inode => a `link` entry), devices.
 * `filter(rel)` keeps a path when true.
 */
export function entriesOfDir(dir: string, filter: (rel: string) => boolean = () => true): LayerEntry[] {
  const out: LayerEntry[] = [];
  const seen = new Map<string, string>();
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const path = join(abs, name);
      const rel = relative(dir, path);
      const st = lstatSync(path);
      const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: EPOCH };
      if (st.isDirectory()) {
        if (filter(rel)) out.push({ ...base, type: 'directory' });
        walk(path);
        continue;
      }
      if (!filter(rel)) continue;
      const inode = `${st.dev}:${st.ino}`;
      if (st.isFile() && st.nlink > 1 && seen.has(inode)) {
        out.push({ ...base, type: 'link', linkname: seen.get(inode)! });
      } else if (st.isFile()) {
        seen.set(inode, rel);
        out.push({ ...base, type: 'file', content: readFileSync(path) });
      } else if (st.isSymbolicLink()) {
        out.push({ ...base, type: 'symlink', linkname: readlinkSync(path) });
      } else if (st.isFIFO()) {
        out.push({ ...base, type: 'fifo' });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        out.push({
          ...base,
          type: st.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Number((BigInt(st.rdev) >> 8n) & 0xfffn),
          devminor: Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n)),
        });
      }
    }
  };
  walk(dir);
  return out;
}

export interface BusyboxImageOptions {
  /** Two layers (busybox itself, then everything else) instead of one. */
  split?: boolean;
  compression?: Compression;
  format?: 'oci' | 'docker';
  config?: ImageConfigSpec;
  architecture?: string;
  variant?: string;
  /** Extra layers on top, e.g. a marker file. */
  extraLayers?: LayerSpec[];
}

/**
 * A busybox image from a rootfs directory, normally `busyboxRootfs()` from
 * @hull/testkit: one layer, or two when `split` (/bin/busybox alone, then the
 * rest), so layer order and dedupe can be tested.
 */
export function busyboxImage(rootfs: string, opts: BusyboxImageOptions = {}): Promise<BuiltImage> {
  const compression = opts.compression ?? 'gzip';
  const layers: LayerSpec[] = opts.split
    ? [
        { entries: entriesOfDir(rootfs, (rel) => rel === 'bin' || rel === 'bin/busybox'), compression },
        { entries: entriesOfDir(rootfs, (rel) => rel !== 'bin' && rel !== 'bin/busybox'), compression },
      ]
    : [{ entries: entriesOfDir(rootfs), compression }];
  return buildImage({
    layers: [...layers, ...(opts.extraLayers ?? [])],
    config: opts.config ?? { Cmd: ['sh'] },
    ...(opts.format ? { format: opts.format } : {}),
    ...(opts.architecture ? { architecture: opts.architecture } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
  });
}
