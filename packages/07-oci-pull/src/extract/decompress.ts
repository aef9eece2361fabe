// Layer blobs come compressed according to their media type. Node 20's zlib
// has gzip but no zstd, so zstd goes through fzstd (pure JS, streaming).
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';

/** OCI and docker layer media types, by compression. */
const TAR = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar',
]);
const GZIP = new Set([
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const ZSTD = new Set([
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);

/** A Transform around fzstd's streaming decoder. */
class ZstdDecompress extends Transform {
  private readonly zstd = new Decompress((data) => {
    // fzstd may hand out views of its own window buffer, which it reuses: copy.
    this.push(Buffer.from(data));
  });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.zstd.push(chunk);
      callback();
    } catch (err) {
      callback(zstdError(err));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      // A truncated frame fails here, on the final push.
      this.zstd.push(new Uint8Array(0), true);
      callback();
    } catch (err) {
      callback(zstdError(err));
    }
  }
}

function zstdError(err: unknown): Error {
  return new Error(`zstd: ${err instanceof Error ? err.message : String(err)}`);
}

/** Decompress by media type (gzip via node:zlib, zstd via fzstd, or plain tar; null if unknown). */
export function decompressor(mediaType: string): Transform | null {
  const type = mediaType.trim().toLowerCase();
  if (TAR.has(type)) return new PassThrough();
  if (GZIP.has(type)) return createGunzip();
  if (ZSTD.has(type)) return new ZstdDecompress();
  return null;
}
