// Layers from the store onto disk: each layer once into layers/<hex> (an
// overlayfs lowerdir), or all of them flattened into one directory (the copy
// storage driver). Apart from pull.ts so that a `hull run`, which unpacks but
// never talks to a registry, does not load the registry client.
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { finished, pipeline } from 'node:stream/promises';
import { ContainerError } from '@hull/01-uts';
import { Digester } from './digester.js';
import { decompressor, extractLayer, layerLimits, type LayerLimits, SizeLimit } from './extract/index.js';
import { type Descriptor, isIndex, parseConfig, parseManifest } from './manifest.js';
import { shortId } from './progress.js';
import type { Store } from './store.js';

/** The uncompressed tar of a stored layer blob, hashed on the way (for the diff_id check). */
function layerTar(store: Store, layer: Descriptor): { tar: Digester; done: Promise<void>; limits: LayerLimits } {
  const decompress = decompressor(layer.mediaType);
  if (!decompress) throw new ContainerError(`unsupported layer media type ${layer.mediaType}`);
  const limits = layerLimits(layer.size);
  const tar = new Digester(Number.MAX_SAFE_INTEGER);
  const fuse = new SizeLimit(limits.maxSize, `layer ${shortId(layer.digest)}`);
  const done = pipeline(createReadStream(store.blobPath(layer.digest)), decompress, fuse, tar).catch((err: Error) => {
    if (err instanceof ContainerError) throw err;
    throw new ContainerError(`layer ${shortId(layer.digest)}: cannot decompress: ${err.message}`);
  });
  return { tar, done, limits };
}

/** Read the tar to its end (extractors may stop at the end-of-archive blocks) and check its diff_id. */
async function checkDiffId(tar: Digester, done: Promise<void>, layer: Descriptor, diffId: string): Promise<void> {
  if (!tar.readableEnded) {
    tar.resume();
    await finished(tar);
  }
  await done;
  const got = tar.digest();
  if (got !== diffId) throw new ContainerError(`layer ${shortId(layer.digest)}: diff_id mismatch: config says ${diffId}, the tar is ${got}`);
}

/** Extract a layer once, into tmp/ and then layers/<hex>: an overlayfs lowerdir for later. */
export async function extractToStore(store: Store, layer: Descriptor, diffId: string, warn: (w: string) => void): Promise<void> {
  const temp = store.tempPath(`layer-${shortId(diffId)}`);
  mkdirSync(temp, { mode: 0o755 });
  const { tar, done, limits } = layerTar(store, layer);
  try {
    const [result] = await Promise.all([extractLayer(tar, temp, { mode: 'overlay', limits }), done.catch(() => undefined)]);
    await checkDiffId(tar, done, layer, diffId);
    for (const w of new Set(result.warnings)) warn(w);
    store.commit(temp, store.layerPath(diffId));
  } catch (err) {
    tar.destroy();
    rmSync(temp, { recursive: true, force: true });
    throw err;
  }
}

/** Apply the layers, bottom first, onto DIR: whiteouts delete what lower layers put there. */
export async function flatten(store: Store, manifestDigest: string, dest: string, warn: (w: string) => void): Promise<void> {
  const manifest = parseManifest(store.readBlob(manifestDigest), null);
  if (isIndex(manifest)) throw new ContainerError('bad store: an index where a manifest should be');
  const config = parseConfig(store.readBlob(manifest.config.digest), manifest.layers.length);
  mkdirSync(dest, { recursive: true });
  for (const [i, layer] of manifest.layers.entries()) {
    const { tar, done, limits } = layerTar(store, layer);
    try {
      const [result] = await Promise.all([extractLayer(tar, dest, { mode: 'flatten', limits }), done.catch(() => undefined)]);
      await checkDiffId(tar, done, layer, config.rootfs.diff_ids[i]!);
      for (const w of new Set(result.warnings)) warn(w);
    } catch (err) {
      tar.destroy();
      throw err;
    }
  }
}
