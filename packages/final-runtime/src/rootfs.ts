// A container's root filesystem: an overlay of the image's layers (each
// extracted once by chapter 07, read-only, shared by every container of the
// image) and the container's own upper dir, mounted on the host side before
// the clone and unmounted when it exits. Start time does not grow with the
// image's size, and `rm` deletes exactly what the container wrote.
//
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';
import { IdmappedRootfs, toHost, type UserNamespacePlan } from '@hull/05-userns';
import { flatten, Store } from '@hull/07-oci-pull';
import { join } from 'node:path';
import { MNT_DETACH, mount, MS_NODEV, SyscallError, umount2 } from '@hull/sys';
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

export type RootfsDriver = 'overlay' | 'copy';

/** HULL_STORAGE_DRIVER, read when the container is created: the copy driver can be forced for testing it. */
export function storageDriverFromEnv(): RootfsDriver {
  const value = process.env.HULL_STORAGE_DRIVER ?? 'overlay';
  if (value !== 'overlay' && value !== 'copy') throw new ContainerError(`HULL_STORAGE_DRIVER=${value}: use overlay or copy`);
  return value;
}

/**
 * Make the container's rootfs; returns the driver used.
 *
 * overlay: lowerdirs come top layer first (overlayfs(5): the leftmost lower
 * dir is the top). With a user namespace (--userns remap) the container's
 * root is host uid 100000, and the image's files, owned by 0 on disk, must
 * look like its own. An overlayfs mount cannot itself be idmapped
 * (mount_setattr: EINVAL), but its layers can (Linux 5.19+): each lower dir
 * is mounted idmapped with the container's map (chapter 05's IdmappedRootfs),
 * and the upper and work dirs, which only this container writes, simply
 * belong to its root on disk. The overlay keeps its own references to the
 * idmapped layers, so those mounts are detached right after it is made.
 *
 * copy: where overlayfs is unavailable (or HULL_STORAGE_DRIVER=copy asks for
 * it), chapter 07's flatten applies the layers, whiteouts included, into
 * rootfs/ as a plain directory: correct, but start time grows with the image.
 */
export async function mountRootfs(
  id: string,
  image: { lowerdirs: string[]; manifest: string; storageDriver: RootfsDriver },
  root: string,
  plan?: UserNamespacePlan,
): Promise<RootfsDriver> {
  const p = rootfsPaths(id, root);
  for (const dir of [p.rootfs, p.upper, p.work]) mkdirSync(dir, { recursive: true });
  if (image.lowerdirs.length === 0) throw new ContainerError('image has no layers');
  if (image.storageDriver === 'copy') return copyRootfs(p.rootfs, image.manifest, root, plan, 'HULL_STORAGE_DRIVER=copy');
  const idmapped: IdmappedRootfs[] = [];
  try {
    let lowers = image.lowerdirs;
    if (plan) {
      for (const dir of image.lowerdirs) idmapped.push(await IdmappedRootfs.create(dir, plan));
      lowers = idmapped.map((m) => m.path);
      const uid = toHost(plan.uidMap, 0)!;
      const gid = toHost(plan.gidMap, 0)!;
      for (const dir of [p.upper, p.work]) chownSync(dir, uid, gid);
    }
    const data = `lowerdir=${lowers.join(':')},upperdir=${p.upper},workdir=${p.work}`;
    try {
      // nodev: device nodes the image's layers carry are never opened through it (docs/hardening.md, Device nodes).
      mount('overlay', p.rootfs, 'overlay', MS_NODEV, data);
      return 'overlay';
    } catch (err) {
      if (!(err instanceof SyscallError && (err.code === 'ENODEV' || err.code === 'EINVAL'))) throw err;
      return copyRootfs(p.rootfs, image.manifest, root, plan, `overlayfs unavailable (${err.code})`);
    }
  } finally {
    for (const m of idmapped) m.release();
  }
}

async function copyRootfs(rootfs: string, manifest: string, root: string, plan: UserNamespacePlan | undefined, why: string): Promise<RootfsDriver> {
  // The idmapped-layer trick needs overlayfs; a copy would have to be chowned, which is not done yet.
  if (plan) throw new ContainerError(`${why}: --userns remap needs overlayfs`);
  // Said where it happens: on our stderr, or in supervisor.log and `inspect` (GraphDriver) for -d.
  process.stderr.write(`hull: ${why}: copying the image into ${rootfs} (start time grows with the image size)\n`);
  await flatten(new Store(root), manifest, rootfs, (w) => process.stderr.write(`hull: warning: ${w}\n`));
  return 'copy';
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
