// The new mount API (Linux 5.2+, idmapped mounts 5.12+): mounts as file
// descriptors. glibc 2.36 has no wrappers, so these go through syscall(2).
// One thin function per syscall, like syscalls.ts; the policy is in chapter 05.
import { checkErrno } from './errors.js';
import { O_CLOEXEC, syscallNumber } from './flags.js';
import { raw } from './libc.js';

/** dirfd meaning "relative to the current directory" (<fcntl.h>). */
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_EMPTY_PATH = 0x1000;
export const AT_RECURSIVE = 0x8000;

/** open_tree(2) flags (<linux/mount.h>). */
export const OPEN_TREE_CLONE = 1;
export const OPEN_TREE_CLOEXEC = O_CLOEXEC;

/** move_mount(2) flags. */
export const MOVE_MOUNT_F_SYMLINKS = 0x1;
export const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
export const MOVE_MOUNT_T_EMPTY_PATH = 0x40;

/** mount_setattr(2) attributes (struct mount_attr.attr_set / attr_clr). */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR_IDMAP = 0x100000;

export interface MountAttr {
  attrSet?: number;
  attrClr?: number;
  /** MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE; 0 leaves it. */
  propagation?: number;
  /** With MOUNT_ATTR_IDMAP: an fd of the user namespace whose maps the mount takes. */
  usernsFd?: number;
}

/** open_tree(2): with OPEN_TREE_CLONE, a detached copy of the mount at path (a bind mount not yet attached anywhere). */
export function openTree(dirfd: number, path: string, flags: number): number {
  return checkErrno(
    raw.syscall(syscallNumber('open_tree'), 'int', dirfd, 'const char *', path, 'unsigned int', flags),
    'open_tree',
    [path, `0x${flags.toString(16)}`],
  );
}

/** mount_setattr(2): change the properties of a mount (or, with AT_RECURSIVE, a tree). */
export function mountSetattr(dirfd: number, path: string, flags: number, attr: MountAttr): void {
  // struct mount_attr { __u64 attr_set, attr_clr, propagation, userns_fd; } = MOUNT_ATTR_SIZE_VER0 (32).
  const buf = Buffer.alloc(32);
  buf.writeBigUInt64LE(BigInt(attr.attrSet ?? 0), 0);
  buf.writeBigUInt64LE(BigInt(attr.attrClr ?? 0), 8);
  buf.writeBigUInt64LE(BigInt(attr.propagation ?? 0), 16);
  buf.writeBigUInt64LE(BigInt(attr.usernsFd ?? 0), 24);
  checkErrno(
    raw.syscall(
      syscallNumber('mount_setattr'),
      'int',
      dirfd,
      'const char *',
      path,
      'unsigned int',
      flags,
      'void *',
      buf,
      'size_t',
      buf.length,
    ),
    'mount_setattr',
    [dirfd, path, `0x${(attr.attrSet ?? 0).toString(16)}`],
  );
}

/** move_mount(2): attach (or move) a mount; with MOVE_MOUNT_F_EMPTY_PATH the source is the fd itself. */
export function moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void {
  checkErrno(
    raw.syscall(
      syscallNumber('move_mount'),
      'int',
      fromDirfd,
      'const char *',
      fromPath,
      'int',
      toDirfd,
      'const char *',
      toPath,
      'unsigned int',
      flags,
    ),
    'move_mount',
    [fromDirfd, toPath],
  );
}
