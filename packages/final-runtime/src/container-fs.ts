// The container's filesystem as `hull cp`, `export` and friends see it:
// its root (the overlay of its layers and its own upper dir) with its
// volumes mounted where the container has them, as docker's
// containerFSView builds it. Not the container's own mount namespace
// (/proc/PID/root): that one also has /proc, /sys and /dev, which a copy
// must never walk, and its mounts are the container's to change.
//
// The view is built in a mount namespace of the CLI process's own
// (unshare(CLONE_NEWNS), every mount made private first, so nothing
// propagates to the host): a stopped container's overlay is mounted there,
// and the volumes are bound there. When the command ends, or crashes, the
// kernel drops the namespace and every mount in it: nothing is left on the
// host to clean up. DESIGN.md fact 3: only the main thread moves, so
// everything that touches a path from here on is synchronous (koffi calls,
// *Sync fs), never libuv's thread pool, which still sees the host.
import { fstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import { currentCaller, planUserNamespace, toHost, type UserNamespacePlan } from '@hull/05-userns';
import { RESOLVE_AS_CONTAINER } from '@hull/07-oci-pull';
import {
  CLONE_NEWNS,
  close,
  MS_BIND,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  mount,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  open,
  openat2,
  SyscallError,
  unshare,
} from '@hull/sys';
import { mountRootfs, rootfsPaths } from './rootfs.js';
import { type ContainerConfig, type ContainerState, hullRoot, isRunning } from './store.js';
import { namedVolumeDir } from './volumes.js';

let privateNamespace = false;

/** Move this process (its main thread) into a mount namespace of its own whose mounts never propagate. */
function enterPrivateMountNamespace(): void {
  if (privateNamespace) return;
  unshare(CLONE_NEWNS);
  mount(null, '/', null, MS_REC | MS_PRIVATE);
  privateNamespace = true;
}

export class ContainerFs {
  /** Where the view is, in our mount namespace. */
  readonly root: string;
  /** An O_PATH fd of the root: every container path is resolved from it, inside it. */
  readonly rootFd: number;

  private constructor(
    readonly config: ContainerConfig,
    readonly plan: UserNamespacePlan | undefined,
  ) {
    this.root = rootfsPaths(config.id).rootfs;
    this.rootFd = open(this.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  /**
   * The view of a running or stopped container; with `volumes`, its volumes
   * are mounted in it (cp), without, only its own filesystem (export).
   */
  static async open(config: ContainerConfig, state: ContainerState, volumes: boolean): Promise<ContainerFs> {
    enterPrivateMountNamespace();
    const root = hullRoot();
    const plan = config.userns === 'remap' ? planUserNamespace({ caller: currentCaller() }) : undefined;
    const driver = state.rootfsDriver || config.storageDriver;
    // Running: the host has its overlay mounted, and our namespace started as a copy of the host's.
    // Stopped: mount it here. The copy driver's rootfs is a plain directory that stays.
    if (!isRunning(state) && driver === 'overlay') {
      const used = await mountRootfs(config.id, { ...config, storageDriver: 'overlay' }, root, plan);
      if (used !== 'overlay') throw new ContainerError(`container ${config.name}: cannot mount its filesystem (overlayfs unavailable)`);
    }
    const fs = new ContainerFs(config, plan);
    if (volumes) fs.mountVolumes(root);
    return fs;
  }

  /** The container's root, as host ids (the mapped root with --userns remap). */
  rootOwner(): { uid: number; gid: number } {
    return { uid: this.hostUid(0), gid: this.hostGid(0) };
  }

  hostUid(uid: number): number {
    return this.plan ? (toHost(this.plan.uidMap, uid) ?? 65534) : uid;
  }

  hostGid(gid: number): number {
    return this.plan ? (toHost(this.plan.gidMap, gid) ?? 65534) : gid;
  }

  /**
   * An O_PATH fd of `path`, resolved as the container would resolve it:
   * absolute symlinks and ".." stop at its root (openat2 RESOLVE_IN_ROOT),
   * never on the host. The last component is followed only with `follow`.
   * Throws SyscallError (ENOENT, ENOTDIR, ...).
   */
  resolve(path: string, follow: boolean): number {
    // openat2 here never takes "." or ".." as a last component (packages/sys at.ts): resolve what
    // comes before them, then apply them to the path that resolved, where every symlink is gone.
    const parts = path.split('/').filter((p) => p !== '');
    let dots = 0;
    while (parts.length > 0 && (parts[parts.length - 1] === '.' || parts[parts.length - 1] === '..')) {
      parts.pop();
      dots++;
    }
    if (dots > 0) {
      const trailing = path.split('/').filter((p) => p !== '').slice(-dots);
      const fd = this.resolve(`/${parts.join('/')}`, true);
      let resolved: string;
      try {
        resolved = this.pathOf(fd);
      } finally {
        close(fd);
      }
      return this.resolve(posix.join(resolved, ...trailing), follow);
    }
    const relative = path.replace(/^\/+/, '');
    for (let attempt = 0; ; attempt++) {
      try {
        if (relative === '' || relative === '.') return open(`/proc/self/fd/${this.rootFd}`, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return openat2(this.rootFd, relative, { flags: O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), resolve: RESOLVE_AS_CONTAINER });
      } catch (err) {
        // RESOLVE_IN_ROOT answers EAGAIN when a rename raced with a ".." lookup.
        if (err instanceof SyscallError && err.code === 'EAGAIN' && attempt < 8) continue;
        throw err;
      }
    }
  }

  /** The path, inside the container, of what `fd` (from resolve) names: every symlink on the way resolved. */
  pathOf(fd: number): string {
    const host = readlinkSync(`/proc/self/fd/${fd}`);
    if (host === this.root) return '/';
    if (!host.startsWith(`${this.root}/`)) throw new ContainerError(`container ${this.config.name}: ${host} is outside its root`);
    return host.slice(this.root.length);
  }

  isDirectory(fd: number): boolean {
    return fstatSync(fd).isDirectory();
  }

  /**
   * Its volumes where the container has them. The destination is resolved
   * inside the root and the bind made onto the fd's magic link, so a symlink
   * the container planted at a destination cannot move the bind onto the host.
   */
  private mountVolumes(root: string): void {
    for (const v of this.config.volumes) {
      let fd: number;
      try {
        fd = this.resolve(v.destination, false);
      } catch (err) {
        if (err instanceof SyscallError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) continue; // never started: not made yet
        throw err;
      }
      try {
        if (fstatSync(fd).isSymbolicLink()) continue; // the start refuses this too: it is no volume
        const source = v.named ? namedVolumeDir(root, v.source) : v.source;
        mount(source, `/proc/self/fd/${fd}`, null, MS_BIND | MS_REC);
        if (v.readonly) mount(null, this.pathFromFd(fd), null, MS_BIND | MS_REMOUNT | MS_RDONLY);
      } finally {
        close(fd);
      }
    }
  }

  /** After a bind onto `fd`'s path, the new mount is reached by that path, not by the fd (which names the covered dentry). */
  private pathFromFd(fd: number): string {
    return readlinkSync(`/proc/self/fd/${fd}`);
  }

  close(): void {
    close(this.rootFd);
  }
}
