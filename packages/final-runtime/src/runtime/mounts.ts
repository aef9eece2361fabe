// config.md "Mounts" in the init: each entry's options become mount(2) flags,
// a propagation change, recursive attributes (mount_setattr) and the data
// string, and its destination is resolved *inside* the rootfs: a hostile
// bundle's rootfs may hold a symlink such as /proc -> /host/etc, which a
// naive join would follow out onto the host (runc's CVE-2021-30465 class).
import { lstatSync, mkdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import {
  AT_RECURSIVE,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_DIRSYNC,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_NOSYMFOLLOW,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
  type SpecMount,
  type Syscalls,
} from '@hull/sys';
import { RuntimeError } from './state.js';

/** [set, clear] for each flag option mount(8) knows. */
const FLAG_OPTIONS: Record<string, [set: number, clear: number]> = {
  defaults: [0, 0],
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0],
  async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0],
  mand: [MS_MANDLOCK, 0],
  nomand: [0, MS_MANDLOCK],
  noatime: [MS_NOATIME, 0],
  atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0],
  diratime: [0, MS_NODIRATIME],
  relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME],
  nosymfollow: [MS_NOSYMFOLLOW, 0],
  symfollow: [0, MS_NOSYMFOLLOW],
  bind: [MS_BIND, 0],
  rbind: [MS_BIND | MS_REC, 0],
};

/** mount(8)'s propagation names, for mounts[].options and linux.rootfsPropagation. */
export const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** runc's recursive options (Linux 5.12+ mount_setattr with AT_RECURSIVE). */
const RECURSIVE: Record<string, number> = {
  rro: MOUNT_ATTR_RDONLY,
  rnosuid: MOUNT_ATTR_NOSUID,
  rnodev: MOUNT_ATTR_NODEV,
  rnoexec: MOUNT_ATTR_NOEXEC,
};

export interface ParsedOptions {
  flags: number;
  propagation: number[];
  recursive: number;
  /** What mount(2) passes to the filesystem, e.g. "mode=755,size=65536k". */
  data: string;
}

export function parseMountOptions(options: readonly string[] = []): ParsedOptions {
  let flags = 0;
  let recursive = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const opt of options) {
    const flag = FLAG_OPTIONS[opt];
    if (flag) {
      flags = (flags | flag[0]) & ~flag[1];
    } else if (PROPAGATION[opt] !== undefined) {
      propagation.push(PROPAGATION[opt]);
    } else if (RECURSIVE[opt] !== undefined) {
      recursive |= RECURSIVE[opt];
    } else if (/^(rrw|rsuid|rdev|rexec|ratime|rnoatime|idmap|ridmap|tmpcopyup)$/.test(opt)) {
      throw new RuntimeError(`mount option ${opt} is not supported by hull-runtime`);
    } else {
      // Not a flag: the filesystem's own option. A comma would smuggle in another one.
      if (opt.includes(',')) throw new RuntimeError(`mount option ${JSON.stringify(opt)}: one option per entry`);
      data.push(opt);
    }
  }
  return { flags, propagation, recursive, data: data.join(',') };
}

/**
 * The host path of `path` inside `root`, following symlinks as if `root`
 * were "/": ".." stops at root, an absolute link target restarts at root.
 * Components that do not exist yet are kept as they are (they get created).
 */
export function resolveInRoot(root: string, path: string): string {
  const rest = path.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (rest.length) {
    const part = rest.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      done.push(part, ...rest.filter((p) => p !== '.'));
      if (done.includes('..')) throw new RuntimeError(`mount destination ${path}: ".." after a missing component`);
      return join(root, ...done);
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > 40) throw new RuntimeError(`mount destination ${path}: too many levels of symbolic links`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    rest.unshift(...target.split('/').filter(Boolean));
  }
  return join(root, ...done);
}

/** mkdir -p below an already-resolved path (its missing part has no symlinks to follow: it does not exist). */
function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
}

function ensureFile(path: string): void {
  try {
    lstatSync(path);
  } catch {
    mkdirSync(resolve(path, '..'), { recursive: true, mode: 0o755 });
    writeFileSync(path, '', { mode: 0o644, flag: 'wx' });
  }
}

export interface MountContext {
  rootfs: string;
  /** Relative bind sources resolve against the bundle (runc resolves them against its cwd, which is the bundle for every engine). */
  bundle: string;
  /** For a "cgroup" mount on a v1 host: each hierarchy's mount point -> the container's directory in it. */
  cgroupV1Dirs: Record<string, string>;
  /** The host runs cgroup v2 only: a "cgroup" mount is cgroup2. */
  cgroupV2: boolean;
}

/** Mount one config.json entry into the rootfs (before pivot_root). */
export function applyMount(sys: Syscalls, m: SpecMount, ctx: MountContext): void {
  const dest = resolveInRoot(ctx.rootfs, m.destination);
  const opts = parseMountOptions(m.options);
  const isBind = m.type === 'bind' || (opts.flags & MS_BIND) !== 0;
  if (isBind) {
    if (!m.source) throw new RuntimeError(`mount ${m.destination}: a bind mount needs a source`);
    const source = isAbsolute(m.source) ? m.source : resolve(ctx.bundle, m.source);
    let st;
    try {
      st = statSync(source);
    } catch {
      throw new RuntimeError(`mount ${m.source} to ${m.destination}: source does not exist`);
    }
    if (st.isDirectory()) ensureDir(dest);
    else ensureFile(dest);
    sys.mount(source, dest, null, MS_BIND | (opts.flags & MS_REC));
    // A bind takes ro, nosuid... only on a remount that restates them.
    const perMount = opts.flags & ~(MS_BIND | MS_REC);
    if (perMount) sys.mount(null, dest, null, MS_REMOUNT | MS_BIND | perMount);
  } else if (m.type === 'cgroup') {
    mountCgroup(sys, dest, opts, ctx);
  } else {
    ensureDir(dest);
    sys.mount(m.source ?? m.type ?? 'none', dest, m.type ?? null, opts.flags, opts.data || null);
  }
  for (const p of opts.propagation) sys.mount(null, dest, null, p);
  if (opts.recursive) sys.mountSetattr(dest, AT_RECURSIVE, { attrSet: opts.recursive });
}

/**
 * runc's "cgroup" mount: on cgroup v2 a cgroup2 mount; on v1, a tmpfs with
 * the container's own directory of each hierarchy bound in (read-only when
 * asked), so the container sees its limits and nothing of the host's tree.
 */
function mountCgroup(sys: Syscalls, dest: string, opts: ParsedOptions, ctx: MountContext): void {
  ensureDir(dest);
  if (ctx.cgroupV2) {
    sys.mount('cgroup2', dest, 'cgroup2', opts.flags, null);
    return;
  }
  const readonly = opts.flags & MS_RDONLY;
  sys.mount('tmpfs', dest, 'tmpfs', (opts.flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755');
  for (const [mountPoint, dir] of Object.entries(ctx.cgroupV1Dirs)) {
    const target = join(dest, basename(mountPoint));
    ensureDir(target);
    sys.mount(dir, target, null, MS_BIND);
    sys.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | readonly);
  }
  if (readonly) sys.mount(null, dest, null, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, 'mode=755');
}
