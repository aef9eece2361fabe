// How much one layer may cost us. A layer blob is verified against its digest,
// but the digest only proves the registry sent what the image's author made:
// a hostile author makes a small blob that decompresses to terabytes (deflate
// reaches ~1000:1, zstd far more), a PAX header that claims gigabytes (it is
// metadata: tar parsers buffer it whole, in the heap), or millions of empty
// entries. Each bound fails the layer with one line that names the knob.
import { Transform, type TransformCallback } from 'node:stream';
import { ContainerError } from '@hull/01-uts';

/**
 * Go's archive/tar caps PAX and GNU long-name headers at 1 MiB (CVE-2022-2879,
 * "maxSpecialFileSize"); real headers are a few hundred bytes, a big
 * security.capability or SELinux label a few KiB.
 */
export const MAX_PAX_HEADER = 1 << 20;

/** Decompressed layer: at most this many times its compressed size (env HULL_MAX_LAYER_SIZE overrides)... */
export const LAYER_RATIO = 100;
/** ...but never less than this (a small layer may hold one big sparse or zeroed file)... */
export const LAYER_FLOOR = 1 << 30;
/** ...and never more than this. */
export const LAYER_CAP = 64 * 2 ** 30;
/** Entries in one layer (env HULL_MAX_LAYER_ENTRIES overrides): real layers hold up to a few hundred thousand. */
export const MAX_ENTRIES = 1 << 20;

export interface LayerLimits {
  /** Bytes of uncompressed tar. */
  maxSize: number;
  /** Tar entries, PAX and GNU long-name headers not counted. */
  maxEntries: number;
  /** Bytes of one PAX ('x', 'g') or GNU long-name ('L', 'K') header. */
  maxPaxHeader: number;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ContainerError(`${name}=${JSON.stringify(text)}: not a positive whole number`);
  return n;
}

/** The limits for a layer whose blob is `compressedSize` bytes. */
export function layerLimits(compressedSize: number, env: NodeJS.ProcessEnv = process.env): LayerLimits {
  return {
    maxSize: positiveInteger(env, 'HULL_MAX_LAYER_SIZE') ?? Math.min(LAYER_CAP, Math.max(LAYER_FLOOR, compressedSize * LAYER_RATIO)),
    maxEntries: positiveInteger(env, 'HULL_MAX_LAYER_ENTRIES') ?? MAX_ENTRIES,
    maxPaxHeader: MAX_PAX_HEADER,
  };
}

/** Passes bytes through and fails once more than `limit` went by: the decompression-bomb fuse. */
export class SizeLimit extends Transform {
  private bytes = 0;

  constructor(
    private readonly limit: number,
    /** names the layer in the error, e.g. "layer 1a2b3c4d5e6f" */
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new ContainerError(`${this.what}: decompresses to more than ${this.limit} bytes (a compression bomb?); HULL_MAX_LAYER_SIZE=BYTES raises the limit`));
      return;
    }
    callback(null, chunk);
  }
}
