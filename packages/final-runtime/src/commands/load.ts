// hull load [-i FILE]: an image from a tarball (FILE, or stdin as in
// `hull load < image.tar`), for machines without a registry. Two formats:
//   oci-archive     an OCI image layout (oci-layout, index.json, blobs/sha256/...),
//                   named by the io.containerd.image.name or
//                   org.opencontainers.image.ref.name annotation;
//   docker-archive  `docker save` (manifest.json: [{Config, RepoTags, Layers}]).
// Every blob is hashed before it enters chapter 07's store, and each layer is
// extracted by chapter 07's extractToStore, exactly as a pull does; the
// archive is trusted no more than a registry.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, existsSync, fstatSync, mkdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { isatty } from 'node:tty';
import { join, normalize } from 'node:path';
import { ContainerError, UsageError } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import {
  type Descriptor,
  extractToStore,
  formatPlatform,
  formatReference,
  hostPlatform,
  type ImageRecord,
  isIndex,
  MediaType,
  openRegularInRoot,
  parseConfig,
  parseManifest,
  parseReference,
  RESOLVE_STRICTLY_BENEATH,
  selectPlatform,
  Store,
} from '@hull/07-oci-pull';
import { parseOptions, stringOption } from '../args.js';
import { hullRoot } from '../store.js';

/** A regular file of the unpacked archive, open: read through this fd, never again by its name. */
interface Member {
  name: string;
  fd: number;
  size: number;
}

/**
 * Open a file of the unpacked archive as the archive names it. The kernel
 * walks the name (in-root.ts, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): never
 * absolute, never above the archive, and no symlink on the way, so a member
 * `blobs -> /etc` cannot make us read, hash and store a host file.
 */
function openMember(dir: string, name: string): Member {
  const rel = normalize(name);
  if (rel.startsWith('/') || rel === '..' || rel.startsWith('../')) throw new ContainerError(`archive: bad path ${JSON.stringify(name)}`);
  const fd = openRegularInRoot(dir, rel, RESOLVE_STRICTLY_BENEATH);
  if (typeof fd === 'string') throw new ContainerError(`archive: ${name} is ${fd}`);
  return { name, fd, size: fstatSync(fd).size };
}

async function withMember<T>(dir: string, name: string, use: (m: Member) => Promise<T> | T): Promise<T> {
  const member = openMember(dir, name);
  try {
    return await use(member);
  } finally {
    closeSync(member.fd);
  }
}

function readMember(m: Member): Buffer {
  return readFileSync(m.fd);
}

async function sha256Of(m: Member): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream('', { fd: m.fd, start: 0, autoClose: false })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Copy a verified member into blobs/ under its digest (temp + rename, like every store write). */
async function importBlob(store: Store, m: Member, digest: string, size?: number): Promise<void> {
  const got = await sha256Of(m);
  if (got !== digest) throw new ContainerError(`archive: blob digest mismatch: wanted ${digest}, got ${got}`);
  if (size !== undefined && m.size !== size) throw new ContainerError(`archive: blob ${digest} has the wrong size`);
  if (store.hasBlob(digest)) return;
  const temp = store.tempPath('blob');
  // The very inode we hashed, through its fd: the name is not walked again.
  copyFileSync(`/proc/self/fd/${m.fd}`, temp);
  store.commit(temp, store.blobPath(digest));
}

function warn(w: string): void {
  process.stderr.write(`hull: warning: ${w}\n`);
}

/** The manifest's layers into the store (blobs verified, then extracted once), then the name. */
async function storeImage(store: Store, names: string[], topDigest: string, manifestDigest: string, layers: Descriptor[], configDigest: string): Promise<string[]> {
  const config = parseConfig(store.readBlob(configDigest), layers.length);
  const diffIds = config.rootfs.diff_ids;
  for (const [i, layer] of layers.entries()) if (!store.hasLayer(diffIds[i]!)) await extractToStore(store, layer, diffIds[i]!, warn);
  const record: ImageRecord = {
    digest: topDigest,
    manifest: manifestDigest,
    config: configDigest,
    layers: diffIds,
    platform: formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }),
  };
  const refs = names.map((n) => formatReference(parseReference(n)));
  for (const ref of refs) store.setImage(ref, record);
  return refs;
}

async function loadOciLayout(store: Store, dir: string): Promise<string[]> {
  const index = parseManifest(await withMember(dir, 'index.json', readMember), MediaType.ociIndex);
  if (!isIndex(index)) throw new ContainerError('archive: index.json is not an index');
  const blob = (d: Descriptor): Promise<Buffer> =>
    withMember(dir, `blobs/sha256/${d.digest.slice('sha256:'.length)}`, async (m) => {
      await importBlob(store, m, d.digest, d.size);
      return store.readBlob(d.digest);
    });
  const loaded: string[] = [];
  for (const top of index.manifests) {
    const annotations = (top as Descriptor & { annotations?: Record<string, string> }).annotations ?? {};
    const name = annotations['io.containerd.image.name'] ?? annotations['org.opencontainers.image.ref.name'];
    if (!name) throw new ContainerError(`archive: the image ${top.digest} has no name (org.opencontainers.image.ref.name)`);
    let doc = parseManifest(await blob(top), top.mediaType);
    let manifestDigest = top.digest;
    if (isIndex(doc)) {
      const chosen = selectPlatform(doc, hostPlatform());
      doc = parseManifest(await blob(chosen), chosen.mediaType);
      manifestDigest = chosen.digest;
      if (isIndex(doc)) throw new ContainerError('archive: an index inside an index');
    }
    await blob(doc.config);
    for (const layer of doc.layers) await blob(layer);
    loaded.push(...(await storeImage(store, [name], top.digest, manifestDigest, doc.layers, doc.config.digest)));
  }
  return loaded;
}

/** docker save writes layers uncompressed, or gzip/zstd in newer versions: tell them by their magic bytes. */
function layerMediaType(m: Member): string {
  const head = Buffer.alloc(4);
  readSync(m.fd, head, 0, 4, 0);
  if (head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return 'application/vnd.oci.image.layer.v1.tar';
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function loadDockerArchive(store: Store, dir: string): Promise<string[]> {
  let entries: DockerManifestEntry[];
  const text = await withMember(dir, 'manifest.json', (m) => readMember(m).toString('utf8'));
  try {
    entries = JSON.parse(text) as DockerManifestEntry[];
  } catch {
    throw new ContainerError('archive: manifest.json is not valid JSON');
  }
  if (!Array.isArray(entries)) throw new ContainerError('archive: manifest.json is not a list');
  const loaded: string[] = [];
  for (const entry of entries) {
    if (!entry.RepoTags?.length) throw new ContainerError(`archive: image ${entry.Config} has no RepoTags`);
    const config = await withMember(dir, entry.Config, async (m) => {
      const digest = await sha256Of(m);
      await importBlob(store, m, digest);
      return { digest, size: m.size };
    });
    const layers: Descriptor[] = [];
    for (const name of entry.Layers) {
      layers.push(
        await withMember(dir, name, async (m) => {
          const digest = await sha256Of(m);
          await importBlob(store, m, digest);
          return { mediaType: layerMediaType(m), digest, size: m.size };
        }),
      );
    }
    // The store keeps images as OCI manifests; a docker archive has none, so we write the one it implies.
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers,
      }),
    );
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    // Content-addressed: a concurrent writer of the same digest writes the same bytes.
    if (!store.hasBlob(manifestDigest)) writeFileAtomic(store.blobPath(manifestDigest), manifest);
    loaded.push(...(await storeImage(store, entry.RepoTags, manifestDigest, manifestDigest, layers, config.digest)));
  }
  return loaded;
}

export async function load(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull load [-i FILE]\n\nLoad an image from a docker-archive (docker save) or an oci-archive tarball, read from FILE or stdin.\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, { input: { type: 'string', short: 'i' } });
  const file = stringOption(values, 'input');
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: give the archive with -i FILE or on stdin`);
  // docker refuses a terminal too: nobody types a tarball.
  if (file === undefined && isatty(0)) throw new UsageError('requested load from stdin, but stdin is a terminal: use -i FILE or `hull load < FILE`');
  // Checked before the try: a store we refuse is hull's failure (125), not the archive's.
  const root = hullRoot();
  try {
    return await loadArchive(file, root);
  } catch (err) {
    // docker load exits 1 when the archive is bad, as hull's other non-run commands do.
    if (err instanceof ContainerError) throw new ContainerError(err.message, 1);
    throw err;
  }
}

/**
 * tar -x of FILE, or of our stdin, into dir; false if tar refused it.
 * GNU tar refuses absolute and ../ names by default; we read only regular
 * files from it anyway. Stdin is piped through us rather than handed to tar
 * as fd 0: when our parent is Node, fd 0 may be a non-blocking socket, and
 * tar's read() would fail with EAGAIN instead of waiting.
 */
async function untar(file: string | undefined, dir: string): Promise<boolean> {
  const tar = spawn('tar', ['-xf', file ?? '-', '-C', dir, '--no-same-owner', '--no-same-permissions'], { stdio: [file === undefined ? 'pipe' : 'ignore', 'ignore', 'ignore'] });
  if (tar.stdin) {
    // tar stops reading at the first bad block: the rest of stdin is not its business (EPIPE).
    tar.stdin.on('error', () => undefined);
    process.stdin.pipe(tar.stdin);
  }
  const code = await new Promise<number | null>((resolve) => tar.on('close', (c) => resolve(c)).on('error', () => resolve(null)));
  if (tar.stdin) {
    process.stdin.unpipe(tar.stdin);
    process.stdin.destroy();
  }
  return code === 0;
}

/** Unpack FILE (or stdin when undefined) into a temp dir of the store, then import what it holds. */
async function loadArchive(file: string | undefined, root: string): Promise<number> {
  const source = file ?? 'stdin';
  if (file !== undefined && !existsSync(file)) throw new ContainerError(`open ${file}: no such file`);
  const store = new Store(root);
  store.removeStaleTemps();
  const dir = store.tempPath('load');
  mkdirSync(dir, { mode: 0o700 });
  try {
    if (!(await untar(file, dir))) throw new ContainerError(`${source}: not a tar archive`);
    let refs: string[];
    if (existsSync(join(dir, 'oci-layout')) && existsSync(join(dir, 'index.json'))) refs = await loadOciLayout(store, dir);
    else if (existsSync(join(dir, 'manifest.json'))) refs = await loadDockerArchive(store, dir);
    else throw new ContainerError(`${source}: neither an oci-archive (oci-layout, index.json) nor a docker-archive (manifest.json)`);
    for (const ref of refs) process.stdout.write(`Loaded image: ${ref}\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
