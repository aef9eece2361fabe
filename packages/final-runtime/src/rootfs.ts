// A container's root filesystem: an overlay of the image's layers (each
// extracted once by chapter 07, read-only, shared by every container of the
// image) and the container's own upper dir, mounted on the host side before
// the clone and unmounted when it exits. Start time does not grow with the
// image's size, and `rm` deletes exactly what the container wrote.
//
import { mkdirSync, readFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';
import { join } from 'node:path';
import { MNT_DETACH, mount, SyscallError, umount2 } from '@hull/sys';
import { containerDir } from './store.js';

export interface RootfsPaths {
  rootfs: string;
  upper: string;
  work: string;
}

export function rootfsPaths(id: string, root?: string): RootfsPaths {
  const dir = containerDir(id, root);
  return { rootfs: join(dir, 'rootfs'), upper: join(dir, 'upper'), work: join(dir, 'work') };
}

/** Is `path` a mount point in our mount namespace? */
export function isMountPoint(path: string): boolean {
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

/**
 * Mount the overlay. lowerdirs come top layer first (overlayfs(5): the
 * leftmost lower dir is the top).
 */
export function mountRootfs(id: string, lowerdirs: string[], root?: string): void {
  const p = rootfsPaths(id, root);
  for (const dir of [p.rootfs, p.upper, p.work]) mkdirSync(dir, { recursive: true });
  if (lowerdirs.length === 0) throw new ContainerError('image has no layers');
  const data = `lowerdir=${lowerdirs.join(':')},upperdir=${p.upper},workdir=${p.work}`;
  try {
    mount('overlay', p.rootfs, 'overlay', 0, data);
  } catch (err) {
    // No copy fallback yet (docs/final-runtime.md, "Not done yet"): say why plainly.
    if (err instanceof SyscallError && (err.code === 'ENODEV' || err.code === 'EINVAL'))
      throw new ContainerError(`overlayfs unavailable for ${p.rootfs} (${err.code}): hull needs overlayfs (modprobe overlay) and a store on ext4/xfs/tmpfs`);
    throw err;
  }
}

/** Unmount the rootfs if mounted; tolerant, because cleanup runs after crashes too. */
export function unmountRootfs(id: string, root?: string): void {
  const { rootfs } = rootfsPaths(id, root);
  if (!isMountPoint(rootfs)) return;
  try {
    umount2(rootfs, MNT_DETACH);
  } catch (err) {
    if (!(err instanceof SyscallError && (err.code === 'EINVAL' || err.code === 'ENOENT'))) throw err;
  }
}
