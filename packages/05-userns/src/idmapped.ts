// An idmapped mount of the rootfs (mount_setattr(2), MOUNT_ATTR_IDMAP):
// the same files, seen through the container's uid/gid map. On disk, /bin
// stays owned by 0 and /home/user by 1000; through this mount, the
// container's root (host uid 100000) owns /bin and container uid 1000 (host
// 101000) owns /home/user. Nothing on disk is chowned, so one rootfs can
// serve containers with different maps, and the rootfs still works without
// a user namespace.
//
// WHERE the mount is made matters:
//   - Only the host can make it: mount_setattr needs CAP_SYS_ADMIN over the
//     filesystem (ext4 is owned by the initial user namespace), which the
//     container's root does not have.
//   - The container's mount namespace is a copy made by clone(), so the
//     mount must exist before the clone, or reach the copy by propagation.
//   - It must exist before the clone anyway: chapter 03's host side reads the
//     rootfs (mount points, /etc) before it spawns.
//   - The idmap is taken from a user namespace, but only its maps count. So
//     we make a throwaway user namespace with the container's maps (a child
//     that execs `node --version`), keep an fd to it, and make the mount
//     before the container exists.
// The mount sits in a private per-run directory; the container's mount
// namespace gets a copy at clone time, so the host copy is detached as soon
// as the child exists.
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_RECURSIVE,
  close,
  exitCodeOf,
  MNT_DETACH,
  mount,
  MOUNT_ATTR_IDMAP,
  mountSetattr,
  MOVE_MOUNT_F_EMPTY_PATH,
  moveMount,
  MS_BIND,
  MS_PRIVATE,
  O_CLOEXEC,
  O_RDONLY,
  open,
  OPEN_TREE_CLOEXEC,
  OPEN_TREE_CLONE,
  openTree,
  spawn,
  SyscallError,
  umount2,
} from '@hull/sys';
import { type UserNamespacePlan, writeIdMaps } from './userns.js';

/**
 * An fd of a new user namespace that carries `plan`'s maps. Its only process
 * execs `node --version` and exits; the fd keeps the namespace alive.
 */
export async function userNamespaceWithMaps(plan: UserNamespacePlan): Promise<number> {
  let fd = -1;
  const devNull = openSync('/dev/null', 'r+');
  try {
    const child = await spawn({
      argv: [process.execPath, '--version'],
      env: {},
      namespaces: ['user'],
      stdio: [devNull, devNull, devNull],
      beforeStart: (pid) => {
        writeIdMaps(pid, plan);
        fd = open(`/proc/${pid}/ns/user`, O_RDONLY | O_CLOEXEC);
      },
    });
    const code = exitCodeOf(await child.exited);
    if (code !== 0) throw new ContainerError(`the user namespace for the idmapped rootfs: ${process.execPath} --version exited with ${code}`);
    return fd;
  } catch (err) {
    if (fd >= 0) close(fd);
    throw err;
  } finally {
    closeSync(devNull);
  }
}

export class IdmappedRootfs {
  /** Where the container's rootfs is now: give this path to runInRootfs. */
  readonly path: string;
  private mounted: string[] = [];

  private constructor(
    readonly source: string,
    private readonly dir: string,
  ) {
    this.path = join(dir, 'rootfs');
  }

  /** Mount `source` (an absolute rootfs path) idmapped with `plan`'s maps on a new per-run directory. */
  static async create(source: string, plan: UserNamespacePlan): Promise<IdmappedRootfs> {
    // 0711: the container's root (host uid 100000) must walk through it to the rootfs during setup.
    const dir = mkdtempSync(join(tmpdir(), 'hull-idmap-'));
    chmodSync(dir, 0o711);
    const rootfs = new IdmappedRootfs(source, dir);
    try {
      mkdirSync(rootfs.path, { mode: 0o755 });
      // A private mount of our own: the idmapped mount attached under it must
      // not propagate into other mount namespaces (on systemd hosts "/" is shared).
      mount(dir, dir, null, MS_BIND);
      rootfs.mounted.push(dir);
      mount(null, dir, null, MS_PRIVATE);
      await rootfs.attach(plan);
      return rootfs;
    } catch (err) {
      rootfs.release();
      throw err;
    }
  }

  private async attach(plan: UserNamespacePlan): Promise<void> {
    const userns = await userNamespaceWithMaps(plan);
    let tree = -1;
    try {
      // A detached recursive copy of the rootfs mount(s): only a mount that is
      // not attached anywhere yet may be given an idmap.
      tree = openTree(AT_FDCWD, this.source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      try {
        mountSetattr(tree, '', AT_EMPTY_PATH | AT_RECURSIVE, { attrSet: MOUNT_ATTR_IDMAP, usernsFd: userns });
      } catch (err) {
        if (err instanceof SyscallError && (err.code === 'EINVAL' || err.code === 'EOPNOTSUPP')) {
          throw new ContainerError(
            `rootfs ${this.source}: its filesystem cannot be idmapped (${err.message}); use ext4, xfs, btrfs, tmpfs (Linux 6.3+) or overlayfs (5.19+)`,
          );
        }
        throw err;
      }
      moveMount(tree, '', AT_FDCWD, this.path, MOVE_MOUNT_F_EMPTY_PATH);
      this.mounted.push(this.path);
    } finally {
      if (tree >= 0) close(tree);
      close(userns);
    }
  }

  /**
   * Detach the host's copy. Safe as soon as the container's child exists: its
   * mount namespace holds its own copy, which this does not touch (ours is
   * private, so the unmount does not propagate).
   */
  detach(): void {
    for (const point of this.mounted.reverse()) {
      try {
        umount2(point, MNT_DETACH);
      } catch (err) {
        if (!(err instanceof SyscallError && err.code === 'EINVAL')) throw err;
      }
    }
    this.mounted = [];
  }

  /**
   * Detach, and remove the directories. Only once the container has left
   * them (pivot_root done): since Linux 3.18, removing a directory that is a
   * mount point in ANOTHER mount namespace silently detaches that mount there.
   * Safe to call twice.
   */
  release(): void {
    this.detach();
    for (const d of [this.path, this.dir]) {
      try {
        rmdirSync(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}
