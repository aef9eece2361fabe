// Named kernel constants, to be OR-ed together. Values are from the Linux UAPI
// headers (<linux/sched.h>, <linux/mount.h>, <asm-generic/fcntl.h>, <linux/prctl.h>);
// they are the same on x86_64 and aarch64 unless noted.

/** clone(2) / unshare(2) / setns(2) flags. */
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_FS = 0x00000200;
export const CLONE_FILES = 0x00000400;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

/** mount(2) flags. */
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;

/** umount2(2) flags. */
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const MNT_EXPIRE = 4;
export const UMOUNT_NOFOLLOW = 8;

/** open(2) flags. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

/** fcntl(2) commands and flags. */
export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;

/** prctl(2) options. */
export const PR_SET_PDEATHSIG = 1;
export const PR_GET_DUMPABLE = 3;
export const PR_SET_DUMPABLE = 4;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_NAME = 15;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;

/** close_range(2) flags. */
export const CLOSE_RANGE_CLOEXEC = 4;

/** waitpid(2) options. */
export const WNOHANG = 1;
export const WUNTRACED = 2;
export const __WALL = 0x40000000;

/** File type bits for mknod(2). */
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;

/** Every namespace a container can get, by the name /proc/PID/ns uses. */
export const NAMESPACE_FLAGS = {
  user: CLONE_NEWUSER,
  mnt: CLONE_NEWNS,
  pid: CLONE_NEWPID,
  net: CLONE_NEWNET,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  cgroup: CLONE_NEWCGROUP,
} as const;
export type Namespace = keyof typeof NAMESPACE_FLAGS;

/** OR the CLONE_NEW* flags of a list of namespaces. */
export function namespaceFlags(namespaces: Iterable<Namespace>): number {
  let flags = 0;
  for (const ns of namespaces) flags |= NAMESPACE_FLAGS[ns];
  return flags >>> 0;
}

/** Syscalls glibc 2.36 has no wrapper for, by architecture. */
const SYSCALL_NUMBERS: Record<string, Record<string, number>> = {
  // Since Linux 5.1, new syscalls share one number on every architecture.
  common: { pidfd_send_signal: 424, pidfd_open: 434, close_range: 436, open_tree: 428, move_mount: 429, openat2: 437, mount_setattr: 442 },
  // getcwd: the raw syscall, which marks an unreachable cwd instead of failing as glibc's does.
  x64: { pivot_root: 155, getcwd: 79 },
  arm64: { pivot_root: 41, getcwd: 17 },
};

export function syscallNumber(name: string): number {
  const n = SYSCALL_NUMBERS[process.arch]?.[name] ?? SYSCALL_NUMBERS.common[name];
  if (n === undefined) throw new Error(`hull: no syscall number for ${name} on ${process.arch}`);
  return n;
}
