// OCI whiteouts (image-spec layer.md): ".wh.NAME" deletes NAME of the layers
// below, ".wh..wh..opq" hides everything below its directory. Flattened, they
// delete now; in an overlay layer, they become what overlayfs reads: a 0:0
// char device, or the opaque xattr on a directory.
import { readdirSync } from 'node:fs';
import { O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, S_IFCHR, SyscallError, close, fsetxattr, mknodat, open, openat } from '@hull/sys';
import { failedEntry } from './entry-errors.js';
import type { LayerExtraction } from './layer.js';
import { OPAQUE_WHITEOUT } from './paths.js';
import { lstatAt, procPath, removeAt } from './target.js';

/**
 * ".wh.NAME" hides NAME of the layers below. Flattened, we delete it now. As
 * an overlay layer, we write the 0:0 char device overlayfs reads as
 * "deleted" at the end of the layer, because image-spec lets the same layer
 * create NAME again (only the lower NAME is hidden): then a directory NAME is
 * made opaque instead, and a file NAME hides the lower one by itself.
 */
export function whiteout(layer: LayerExtraction, name: string, victim: string[]): void {
  const key = victim.join('/');
  if (layer.mode === 'overlay') {
    // Make (or refuse) its directory now, so a hostile path fails at its own entry.
    close(layer.parentOf(name, victim));
    layer.whiteouts.set(key, { name, victim });
    return;
  }
  const parentFd = layer.target.openDirIfExists(victim.slice(0, -1));
  if (parentFd === null) return; // nothing below to delete
  const base = victim[victim.length - 1]!;
  try {
    if (!layer.created.has(key)) removeAt(parentFd, base);
    // This layer made NAME before whiting it out (image-spec says it SHOULD not):
    // NAME stays, but, as with overlayfs, nothing of the lower NAME shows through.
    else if (lstatAt(parentFd, base)?.isDirectory()) emptyOfLower(layer, victim);
  } catch (err) {
    throw failedEntry(name, err);
  } finally {
    close(parentFd);
  }
}

/** The overlay whiteouts, once the layer's own entries are all in place. */
export function placeWhiteouts(layer: LayerExtraction): void {
  for (const { name, victim } of layer.whiteouts.values()) {
    const base = victim[victim.length - 1]!;
    const parentFd = layer.parentOf(name, victim);
    try {
      const existing = lstatAt(parentFd, base);
      if (existing === null) mknodat(parentFd, base, S_IFCHR, 0);
      else if (existing.isDirectory()) markOpaque(layer, parentFd, base);
    } catch (err) {
      if (err instanceof SyscallError && err.code === 'EPERM') {
        layer.warnOnce('whiteouts', `cannot create overlay whiteouts (${err.message}): deleted files of lower layers stay visible`);
        continue;
      }
      throw failedEntry(name, err);
    } finally {
      close(parentFd);
    }
  }
}

/** ".wh..wh..opq": the directory hides everything below it in lower layers. */
export function opaque(layer: LayerExtraction, name: string, dir: string[]): void {
  if (layer.mode === 'overlay') {
    const dirFd = layer.parentOf(name, [...dir, OPAQUE_WHITEOUT]);
    try {
      // A real fd of that same directory (dirFd is O_PATH), to set the xattr on.
      const fd = open(procPath(dirFd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      try {
        setOpaque(layer, fd);
      } finally {
        close(fd);
      }
    } catch (err) {
      throw failedEntry(name, err);
    } finally {
      close(dirFd);
    }
    return;
  }
  try {
    emptyOfLower(layer, dir);
  } catch (err) {
    throw failedEntry(name, err);
  }
}

/** The overlayfs xattr that makes the directory dirFd/base opaque. */
export function markOpaque(layer: LayerExtraction, dirFd: number, base: string): void {
  // A real fd (not O_PATH) to set the xattr on.
  const fd = openat(dirFd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    setOpaque(layer, fd);
  } finally {
    close(fd);
  }
}

export function setOpaque(layer: LayerExtraction, fd: number): void {
  // Rootful overlayfs reads trusted.overlay.*; trusted.* needs CAP_SYS_ADMIN, so
  // rootless mounts use the "userxattr" option, which reads user.overlay.* instead.
  fsetxattr(fd, layer.root ? 'trusted.overlay.opaque' : 'user.overlay.opaque', Buffer.from('y'));
}

/** Flattened opaque dir: delete what lower layers put in `dir`, keep what this layer made. */
export function emptyOfLower(layer: LayerExtraction, dir: string[]): void {
  const dirFd = layer.target.openDirIfExists(dir);
  if (dirFd === null) return;
  const prefix = dir.length ? `${dir.join('/')}/` : '';
  try {
    for (const child of readdirSync(procPath(dirFd))) {
      if (!layer.created.has(prefix + child)) removeAt(dirFd, child);
    }
  } finally {
    close(dirFd);
  }
}
