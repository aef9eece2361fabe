// A directory entry: made (or kept, when one is there: directories merge), owned, its xattrs set;
// its mode and mtime wait for LayerExtraction.finish().
import { O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, close, fsetxattr, mkdirat, openat } from '@hull/sys';
import type { LayerExtraction, TarHeader } from '../layer.js';
import type { Xattrs } from '../xattrs.js';

export function directory(layer: LayerExtraction, parentFd: number, parts: string[], header: TarHeader, xattrs: Xattrs): void {
  const base = parts[parts.length - 1]!;
  if (!layer.clear(parentFd, base, true)) mkdirat(parentFd, base, 0o700);
  layer.ownAt(parentFd, base, header);
  // Open it to set xattrs on a real fd; O_NOFOLLOW because we just made it a directory.
  if (xattrs.size) {
    const fd = openat(parentFd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      layer.xattrs(parts.join('/'), xattrs, (n, v) => fsetxattr(fd, n, v));
    } finally {
      close(fd);
    }
  }
  layer.dirs.set(parts.join('/'), { parts, mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date() });
}
