// A symlink entry: stored as it is, never followed.
import { AT_SYMLINK_NOFOLLOW, fchownat, lsetxattr, symlinkat } from '@hull/sys';
import { procPath } from '../target.js';
import type { LayerExtraction, TarHeader } from '../layer.js';
import type { Xattrs } from '../xattrs.js';

export function symlink(layer: LayerExtraction, parentFd: number, base: string, header: TarHeader, xattrs: Xattrs): void {
  layer.clear(parentFd, base, false);
  // Stored as-is, absolute or not: it is the container's business. We never
  // follow it: later lookups are RESOLVE_IN_ROOT, last components NOFOLLOW.
  symlinkat(header.linkname ?? '', parentFd, base);
  if (layer.root) fchownat(parentFd, base, header.uid ?? 0, header.gid ?? 0, AT_SYMLINK_NOFOLLOW);
  else layer.warnNotRoot();
  layer.xattrs(header.name, xattrs, (n, v) => lsetxattr(procPath(parentFd, base), n, v));
  layer.mtimeAt(parentFd, base, header);
}
