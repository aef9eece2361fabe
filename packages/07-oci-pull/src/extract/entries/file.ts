// A regular file entry: created by us (O_EXCL|O_NOFOLLOW), written, then owned and given its mode.
import { fchmodSync, fchownSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { O_CLOEXEC, O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY, close, fsetxattr, openat } from '@hull/sys';
import type { LayerExtraction, TarHeader } from '../layer.js';
import type { Xattrs } from '../xattrs.js';

export async function file(layer: LayerExtraction, parentFd: number, base: string, header: TarHeader, body: Readable, xattrs: Xattrs): Promise<void> {
  layer.clear(parentFd, base, false);
  // O_EXCL|O_NOFOLLOW: we write only into a file we have just created ourselves.
  const fd = openat(parentFd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
    }
    if (layer.root) fchownSync(fd, header.uid ?? 0, header.gid ?? 0);
    else layer.warnNotRoot();
    // After chown: chown clears setuid/setgid.
    fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
    layer.xattrs(header.name, xattrs, (n, v) => fsetxattr(fd, n, v));
  } finally {
    close(fd);
  }
  layer.mtimeAt(parentFd, base, header);
}
