// A device or FIFO entry: mknodat, as root only for devices (CAP_MKNOD).
import { AT_SYMLINK_NOFOLLOW, S_IFBLK, S_IFCHR, S_IFIFO, fchmodat, lsetxattr, makedev, mknodat } from '@hull/sys';
import { procPath } from '../target.js';
import type { LayerExtraction, TarHeader } from '../layer.js';
import type { Xattrs } from '../xattrs.js';

export function node(layer: LayerExtraction, parentFd: number, base: string, header: TarHeader, xattrs: Xattrs): void {
  const type = header.type === 'fifo' ? S_IFIFO : header.type === 'block-device' ? S_IFBLK : S_IFCHR;
  if (type !== S_IFIFO && !layer.root) {
    layer.warnOnce('devices', 'not root: device nodes were skipped (mknod needs CAP_MKNOD)');
    return;
  }
  layer.clear(parentFd, base, false);
  const perm = (header.mode ?? 0o644) & 0o7777;
  mknodat(parentFd, base, type | perm, makedev(header.devmajor ?? 0, header.devminor ?? 0));
  layer.ownAt(parentFd, base, header);
  fchmodat(parentFd, base, perm, AT_SYMLINK_NOFOLLOW); // mknodat obeys the umask; chown cleared setuid
  layer.xattrs(header.name, xattrs, (n, v) => lsetxattr(procPath(parentFd, base), n, v));
  layer.mtimeAt(parentFd, base, header);
}
