// The init side of chapter 03: turn a directory into the container's "/".
// One step per function, in the order they run (after crun's linux.c); each
// goes through `sys`, so test/rootfs-order.test.ts can check the order
// without root.
import type { BaseSpec } from '@hull/01-uts';
import { makeMountsPrivate } from '@hull/02-pid-mount';
import {
  AT_RECURSIVE,
  makedev,
  MNT_DETACH,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_STRICTATIME,
  S_IFCHR,
  type SpecMount,
  SyscallError,
  type Syscalls,
} from '@hull/sys';

/** A host path bind-mounted over a path of the container before the root switch. */
export interface BindMount {
  /** On the host. */
  source: string;
  /** Inside the container, absolute (e.g. "/etc/hosts"); it must already exist in the rootfs. */
  destination: string;
}

export interface RootfsSpec extends BaseSpec {
  /** Absolute path of the root filesystem on the host. */
  rootfs: string;
  hostname: string;
  /** The generated /etc files (see etc.ts), mounted in this order. */
  binds?: BindMount[];
  /** Mount a tmpfs on /tmp; false when the rootfs has no /tmp directory to mount it on. Default true. */
  tmp?: boolean;
}

/** The character devices every container gets (devices.txt in the kernel docs gives the numbers). */
export const DEVICES = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
] as const;

/** What /dev links to /proc, so `cmd > /dev/stdout` and bash's `<(...)` work. */
export const DEV_LINKS = [
  ['/proc/self/fd', 'fd'],
  ['/proc/self/fd/0', 'stdin'],
  ['/proc/self/fd/1', 'stdout'],
  ['/proc/self/fd/2', 'stderr'],
  ['pts/ptmx', 'ptmx'],
] as const;

const NO_EXEC = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/**
 * The filesystems setupRootfs mounts, in its order, as config.json's
 * `mounts` says them (mount(8) option names). The mount functions below
 * make exactly these calls; test/setup-order.test.ts holds the two together.
 */
export const ROOTFS_MOUNTS: readonly SpecMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro', 'nosuid', 'nodev', 'noexec'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', 'size=65536k'] },
];

/** /tmp, when the rootfs has a directory to mount it on. */
export const TMP_MOUNT: SpecMount = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] };

/**
 * Init side, straight-line through `sys`: private mounts, bind rootfs, /proc,
 * /sys (ro), /dev (tmpfs + nodes + pts + shm + links), /tmp, /etc files,
 * pivot_root, detach old root, sethostname, chdir("/").
 */
export function setupRootfs(sys: Syscalls, spec: RootfsSpec): void {
  const root = spec.rootfs;
  makeMountsPrivate(sys);
  bindRootfs(sys, root);
  mountProc(sys, root);
  mountSys(sys, root);
  mountDev(sys, root);
  if (spec.tmp ?? true) mountTmp(sys, root);
  for (const bind of spec.binds ?? []) bindFile(sys, root, bind);
  pivotInto(sys, root);
  sys.sethostname(spec.hostname);
  sys.chdir('/');
}

/**
 * pivot_root needs the new root to be a mount point; a bind mount of the
 * directory onto itself makes it one. It is then made nodev: an image's
 * layers may carry device nodes (a tar entry can name any major:minor, the
 * host's disk included), and on a nodev mount the kernel refuses to open
 * them (EACCES) whatever the devices cgroup says. /dev is a tmpfs of its own
 * (mountDev), and volumes are mounts of their own, so both keep their nodes.
 * mount_setattr only adds the flag: a remount would have to restate, and in
 * a user namespace could not clear, the flags the mount already has.
 */
export function bindRootfs(sys: Syscalls, root: string): void {
  sys.mount(root, root, null, MS_BIND | MS_REC);
  sys.mountSetattr(root, 0, { attrSet: MOUNT_ATTR_NODEV });
}

/**
 * procfs shows the PID namespace of whoever mounts it, so this must run here,
 * in PID 1 of the new namespace: the host's /proc would show every host process.
 */
export function mountProc(sys: Syscalls, root: string): void {
  sys.mount('proc', `${root}/proc`, 'proc', NO_EXEC);
}

/**
 * A read-only sysfs. The kernel lets you mount sysfs only if your user
 * namespace owns the network namespace you are in (sysfs shows that
 * namespace's devices). As real root that is always true; in a new user
 * namespace without a new network namespace (chapter 05) it fails with
 * EPERM, and we bind the host's /sys instead, read-only.
 */
export function mountSys(sys: Syscalls, root: string): void {
  const target = `${root}/sys`;
  try {
    sys.mount('sysfs', target, 'sysfs', MS_RDONLY | NO_EXEC);
  } catch (err) {
    if (!isEPERM(err)) throw err;
    sys.mount('/sys', target, null, MS_BIND | MS_REC);
    // A bind mount ignores MS_RDONLY on creation, and a remount would change
    // only the top mount, leaving /sys/fs/cgroup/* writable. mount_setattr
    // with AT_RECURSIVE makes the whole tree read-only in one call.
    sys.mountSetattr(target, AT_RECURSIVE, { attrSet: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC });
  }
}

/** A fresh tmpfs /dev with only safe devices: the host's /dev would hand the container every disk. */
export function mountDev(sys: Syscalls, root: string): void {
  const dev = `${root}/dev`;
  sys.mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k');
  for (const device of DEVICES) createDevice(sys, dev, device);
  // A private devpts instance: the container's ptys are numbered from 0 and
  // invisible to the host. ptmxmode=0666 lets anyone open /dev/pts/ptmx.
  sys.mkdir(`${dev}/pts`, 0o755);
  sys.mount('devpts', `${dev}/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620');
  sys.mkdir(`${dev}/shm`, 0o1777);
  sys.mount('shm', `${dev}/shm`, 'tmpfs', NO_EXEC, 'mode=1777,size=65536k');
  for (const [target, name] of DEV_LINKS) sys.symlink(target, `${dev}/${name}`);
}

/**
 * mknod as real root. In a user namespace mknod is refused (EPERM): the
 * kernel never lets a namespace's root create device nodes. There we
 * bind-mount the host's node onto an empty file instead, as runc does.
 */
export function createDevice(sys: Syscalls, dev: string, device: (typeof DEVICES)[number]): void {
  const path = `${dev}/${device.name}`;
  try {
    sys.mknod(path, S_IFCHR | 0o666, makedev(device.major, device.minor));
  } catch (err) {
    if (!isEPERM(err)) throw err;
    sys.writeFile(path, '', 0o666);
    sys.mount(`/dev/${device.name}`, path, null, MS_BIND);
    return;
  }
  sys.chmod(path, 0o666); // mknod's mode passed through our umask
}

export function mountTmp(sys: Syscalls, root: string): void {
  sys.mount('tmpfs', `${root}/tmp`, 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=1777');
}

/** The generated /etc files go over the rootfs's, in our mount namespace only: the directory itself is never written. */
export function bindFile(sys: Syscalls, root: string, bind: BindMount): void {
  sys.mount(bind.source, `${root}${bind.destination}`, null, MS_BIND);
}

/**
 * Make `root` the "/" of this mount namespace and drop the host's tree.
 *
 * pivot_root(".", ".") stacks the old root on top of the new one at "/"
 * (pivot_root(2), NOTES), so the rootfs needs no put_old directory: we never
 * write into the rootfs, which other containers may share. umount2(".",
 * MNT_DETACH) then peels the old root off; MNT_DETACH because our own
 * process still has files open on it (node, its libraries).
 *
 * Why not chroot(2)? chroot changes only the path lookup of this process; the
 * host's tree stays mounted and reachable (see docs/03-chroot-proc.md).
 */
export function pivotInto(sys: Syscalls, root: string): void {
  sys.chdir(root);
  sys.pivotRoot('.', '.');
  sys.umount2('.', MNT_DETACH);
}

function isEPERM(err: unknown): boolean {
  return err instanceof SyscallError && err.code === 'EPERM';
}
