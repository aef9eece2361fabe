// A pass-through stream that counts and hashes: how a blob is checked against
// its descriptor while it downloads (pull.ts) and a layer's tar against its
// diff_id while it is extracted (unpack.ts).
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ContainerError } from '@hull/01-uts';

/** Counts and hashes what flows through it, and refuses more than `limit` bytes. */
export class Digester extends Transform {
  constructor(
    private readonly limit: number,
    private readonly onBytes?: (n: number) => void,
    /** resuming: the hash of the bytes already on disk, and their count */
    readonly hash: Hash = createHash('sha256'),
    public bytes = 0,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return cb(new ContainerError(`blob larger than its descriptor says (${this.limit} bytes)`));
    this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
