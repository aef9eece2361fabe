// `pull`: reference -> manifest (through the index for multi-arch) -> config ->
// layers, into the store. Every byte is checked against a digest before it is
// given a name: blobs against their sha256 as they stream in, each layer's
// uncompressed tar against the config's diff_id as it is extracted.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContainerError } from '@hull/01-uts';
import { RegistryClient, registryError, TransientError } from './client.js';
import { Digester } from './digester.js';
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  isIndex,
  type Manifest,
  MANIFEST_ACCEPT,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseConfig,
  parseManifest,
  parsePlatform,
  type Platform,
  selectPlatform,
} from './manifest.js';
import { type Progress, shortId } from './progress.js';
import { formatReference, parseReference, type Reference } from './reference.js';
import { type ImageRecord, Store } from './store.js';
import { extractToStore } from './unpack.js';

/** Like docker: at most three layers download at once. */
export const PARALLEL_DOWNLOADS = 3;
const BLOB_ATTEMPTS = 3;

export interface PullOptions {
  ref: string;
  platform?: string;
  insecure?: readonly string[];
  store: Store;
  progress: Progress;
  env?: NodeJS.ProcessEnv;
}

export interface PulledImage {
  reference: string;
  record: ImageRecord;
  config: ImageConfig;
  /** true when no layer had to be downloaded */
  upToDate: boolean;
}

/** Pull REF into the store; resolves when every layer is verified and extracted. */
export async function pull(opts: PullOptions): Promise<PulledImage> {
  const ref = parseReference(opts.ref);
  const name = formatReference(ref);
  const want: Platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const { store, progress } = opts;
  store.removeStaleTemps();
  const client = new RegistryClient({ registry: ref.registry, insecure: opts.insecure ?? [], ...(opts.env ? { env: opts.env } : {}) });
  const scope = `repository:${ref.repository}:pull`;

  const top = await fetchManifest(client, ref, ref.digest ?? ref.tag!, scope, store, ref.digest);
  let manifest: Manifest;
  let manifestDigest = top.digest;
  if (isIndex(top.doc)) {
    const chosen: Descriptor = selectPlatform(top.doc, want);
    const child = await fetchManifest(client, ref, chosen.digest, scope, store, chosen.digest);
    if (isIndex(child.doc)) throw new ContainerError('bad manifest: an index inside an index');
    manifest = child.doc;
    manifestDigest = child.digest;
  } else {
    manifest = top.doc;
  }

  if (manifest.config.size > MAX_CONFIG_BYTES) throw new ContainerError(`image config is ${manifest.config.size} bytes, more than the ${MAX_CONFIG_BYTES} we accept`);
  if (!store.hasBlob(manifest.config.digest, manifest.config.size)) {
    await downloadBlob(client, ref, manifest.config, scope, store);
  }
  const config = parseConfig(store.readBlob(manifest.config.digest), manifest.layers.length);
  if (!isIndex(top.doc) && opts.platform && (config.os !== want.os || config.architecture !== want.architecture)) {
    throw new ContainerError(`image ${name} is ${formatPlatform(config)}, not ${formatPlatform(want)}`);
  }

  const diffIds = config.rootfs.diff_ids;
  let downloaded = 0;
  await mapLimit(manifest.layers, PARALLEL_DOWNLOADS, async (layer, i) => {
    const diffId = diffIds[i]!;
    const id = shortId(layer.digest);
    if (store.hasLayer(diffId) && store.hasBlob(layer.digest, layer.size)) {
      progress.layer(id, 'Already exists');
      return;
    }
    if (!store.hasBlob(layer.digest, layer.size)) {
      progress.layer(id, 'Pulling fs layer');
      await downloadBlob(client, ref, layer, scope, store, (n) => progress.layer(id, 'Downloading', n, layer.size));
      progress.layer(id, 'Download complete');
      downloaded++;
    }
    if (!store.hasLayer(diffId)) {
      progress.layer(id, 'Extracting');
      await extractToStore(store, layer, diffId, (w) => progress.warn(w));
    }
    progress.layer(id, 'Pull complete');
  });

  const record: ImageRecord = {
    digest: top.digest,
    manifest: manifestDigest,
    config: manifest.config.digest,
    layers: diffIds,
    platform: formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }),
  };
  // Layers are in place before the name points at them, so a reader never finds a half image.
  store.setImage(name, record);
  return { reference: name, record, config, upToDate: downloaded === 0 };
}

/** A manifest or index, size-bounded and digest-checked, kept as a blob in the store. */
async function fetchManifest(
  client: RegistryClient,
  ref: Reference,
  tagOrDigest: string,
  scope: string,
  store: Store,
  expected?: string,
): Promise<{ digest: string; doc: ReturnType<typeof parseManifest> }> {
  const res = await client.get(`/v2/${ref.repository}/manifests/${tagOrDigest}`, scope, { accept: MANIFEST_ACCEPT });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new ContainerError(`${formatReference(ref)}: not found: manifest unknown`);
  }
  if (!res.ok) throw new ContainerError(`${formatReference(ref)}: ${await registryError(res)}`);
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_MANIFEST_BYTES) {
    await res.body?.cancel();
    throw new ContainerError(`manifest of ${formatReference(ref)} is ${length} bytes, more than the ${MAX_MANIFEST_BYTES} we accept`);
  }
  const body = await readBounded(res, MAX_MANIFEST_BYTES, 'manifest');
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (expected && digest !== expected) throw new ContainerError(`manifest digest mismatch: wanted ${expected}, got ${digest}`);
  const doc = parseManifest(body, res.headers.get('content-type'));
  if (!store.hasBlob(digest)) {
    const temp = store.tempPath('manifest');
    await pipeline(Readable.from([body]), createWriteStream(temp, { mode: 0o600 }));
    store.commit(temp, store.blobPath(digest));
  }
  return { digest, doc };
}

async function readBounded(res: Response, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.length;
    if (total > max) throw new ContainerError(`${what} larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * GET a blob into tmp/ while hashing it; rename it into blobs/ only when size and
 * digest match. A transient failure (network, 5xx) is retried, up to 3 times,
 * resuming with `Range: bytes=N-` from what is already on disk when the
 * registry answers 206 (and starting over when it answers 200).
 */
async function downloadBlob(client: RegistryClient, ref: Reference, d: Descriptor, scope: string, store: Store, onBytes?: (n: number) => void): Promise<void> {
  const temp = store.tempPath(shortId(d.digest));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await downloadAttempt(client, ref, d, scope, temp, onBytes);
        break;
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        if (attempt >= BLOB_ATTEMPTS) throw new ContainerError(err.message);
        await new Promise((r) => setTimeout(r, 300 * attempt));
      }
    }
    store.commit(temp, store.blobPath(d.digest));
  } finally {
    rmSync(temp, { force: true });
  }
}

async function downloadAttempt(client: RegistryClient, ref: Reference, d: Descriptor, scope: string, temp: string, onBytes?: (n: number) => void): Promise<void> {
  // What an earlier attempt wrote is on disk: hash it again rather than trust
  // a hash that may have seen bytes the file never got.
  let offset = existsSync(temp) ? statSync(temp).size : 0;
  if (offset >= d.size) offset = 0;
  const res = await client.get(`/v2/${ref.repository}/blobs/${d.digest}`, scope, offset > 0 ? { range: `bytes=${offset}-` } : {});
  if (res.status === 404) {
    await res.body?.cancel();
    throw new ContainerError(`${formatReference(ref)}: blob ${d.digest} not found in the registry`);
  }
  if (!res.ok || !res.body) throw new ContainerError(`${formatReference(ref)}: blob ${shortId(d.digest)}: ${await registryError(res)}`);
  if (res.status !== 206 || !res.headers.get('content-range')?.startsWith(`bytes ${offset}-`)) offset = 0;
  const hash = createHash('sha256');
  if (offset > 0) {
    for await (const chunk of createReadStream(temp, { end: offset - 1 })) hash.update(chunk as Buffer);
  }
  const digester = new Digester(d.size, onBytes, hash, offset);
  try {
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
      digester,
      createWriteStream(temp, offset > 0 ? { flags: 'r+', start: offset } : { mode: 0o600 }),
    );
  } catch (err) {
    if (err instanceof ContainerError) throw err;
    throw new TransientError(`${formatReference(ref)}: blob ${shortId(d.digest)}: ${(err as Error).message}`);
  }
  if (digester.bytes !== d.size) throw new ContainerError(`blob ${d.digest} is truncated: got ${digester.bytes} of ${d.size} bytes`);
  const got = digester.digest();
  if (got !== d.digest) throw new ContainerError(`blob digest mismatch: wanted ${d.digest}, got ${got}`);
}

/** Run `fn` over `items` with at most `limit` at once; the first failure wins, the rest are awaited. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}
