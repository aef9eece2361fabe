// Our own layer extractor: tar-stream parses, this file writes. Every entry is
// written relative to one directory fd of the target, so nothing in the layer
// (names, symlinks, hardlinks) can make us touch a file outside it:
//
//   1. the entry's parent directory is opened with openat2(rootFd, parent,
//      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): the kernel resolves every
//      component as if rootFd were "/", so an absolute symlink or a ".." in a
//      symlink stops at the target, exactly as a chroot would see it;
//   2. the last component is then created with an *at() call that never
//      follows it (O_CREAT|O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, mknodat,
//      symlinkat), after removing whatever was there.
//
// See README.md next to this file for the rules and the attacks they stop.
import { fchmodSync, fchownSync, fstatSync, futimesSync, readdirSync, writeSync, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Headers } from 'tar-stream';
import { ContainerError } from '@hull/01-uts';
import {
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_WRONLY,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  SyscallError,
  close,
  fchmodat,
  fchownat,
  fsetxattr,
  geteuid,
  linkat,
  lsetxattr,
  makedev,
  mkdirat,
  mknodat,
  open,
  openat,
  openat2,
  symlinkat,
  unlinkat,
  utimensat,
} from '@hull/sys';
import { layerLimits, type LayerLimits } from './limits.js';
import { controlCharacter, entryComponents, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './paths.js';
import { PaxXattrScanner } from './pax.js';

export type ExtractMode = 'overlay' | 'flatten';

/** tar-stream's header, plus the PAX records it keeps (its types omit them). */
type TarHeader = Headers & { pax?: Record<string, string> };

export interface ExtractOptions {
  /**
   * 'overlay': the layer is stored on its own as an overlayfs lowerdir, so
   * whiteouts become what overlayfs reads (a 0:0 char device, an opaque xattr).
   * 'flatten': the layer is applied on top of what is already in the target.
   */
  mode: ExtractMode;
  /** Entry count and PAX header size bounds (limits.ts); the defaults when absent. */
  limits?: Pick<LayerLimits, 'maxEntries' | 'maxPaxHeader'>;
}

export interface ExtractResult {
  entries: number;
  warnings: string[];
}

/** A name as it may be shown: quoted, every control character escaped (JSON leaves DEL raw). */
function quoted(name: string): string {
  return JSON.stringify(name).replace(/\u007f/g, '\\u007f');
}

/** A layer we refuse: one line naming the entry, docker's exit code 125. */
function refuse(name: string, reason: string): ContainerError {
  return new ContainerError(`refused layer entry ${quoted(name)}: ${reason}`);
}

/** A syscall that failed on an entry becomes one line naming the entry. */
function failedEntry(name: string, err: unknown): unknown {
  return err instanceof SyscallError ? new ContainerError(`layer entry ${quoted(name)}: ${err.message}`) : err;
}

const DIR_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/** A directory fd of the target, and everything we need to resolve paths inside it. */
class Target {
  readonly rootFd: number;

  constructor(readonly path: string) {
    // A real fd (not O_PATH): the target's own mode, owner, times and opaque
    // xattr are set on it, since no *at() call may name "." (packages/sys at.ts).
    this.rootFd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }

  /** An O_PATH fd of the directory at `parts`, resolved inside the target. */
  openDir(parts: readonly string[], extraResolve = 0): number {
    // The target itself: a fresh fd of it, through our own fd's /proc link.
    if (parts.length === 0) return open(procPath(this.rootFd), O_PATH | O_DIRECTORY | O_CLOEXEC);
    const path = parts.join('/');
    for (let attempt = 0; ; attempt++) {
      try {
        return openat2(this.rootFd, path, { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, resolve: DIR_RESOLVE | extraResolve });
      } catch (err) {
        // RESOLVE_IN_ROOT answers EAGAIN when a rename raced with a ".." lookup: retry, a few times.
        if (err instanceof SyscallError && err.code === 'EAGAIN' && attempt < 8) continue;
        throw err;
      }
    }
  }

  /** Like openDir, but null when the directory does not exist. */
  openDirIfExists(parts: readonly string[]): number | null {
    try {
      return this.openDir(parts);
    } catch (err) {
      if (err instanceof SyscallError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null;
      throw err;
    }
  }

  /**
   * The directory at `parts`, creating missing ones (0755, like tar and docker
   * do for parents a layer does not list). Each mkdirat happens in a parent
   * resolved inside the target, and mkdirat never follows its last component.
   */
  ensureDir(parts: readonly string[]): number {
    try {
      return this.openDir(parts);
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === 'ENOENT' && parts.length > 0)) throw err;
    }
    const parentFd = this.ensureDir(parts.slice(0, -1));
    const name = parts[parts.length - 1]!;
    try {
      mkdirat(parentFd, name, 0o755);
      fchmodat(parentFd, name, 0o755, AT_SYMLINK_NOFOLLOW); // mkdirat obeys the umask
    } catch (err) {
      // EEXIST: something is there but did not resolve to a directory (a
      // dangling symlink, say); openDir below reports it.
      if (!(err instanceof SyscallError && err.code === 'EEXIST')) throw err;
    } finally {
      close(parentFd);
    }
    return this.openDir(parts);
  }

  close(): void {
    close(this.rootFd);
  }
}

/** lstat of dirFd/name, or null. O_PATH|O_NOFOLLOW opens even a symlink or a device without side effects. */
function lstatAt(dirFd: number, name: string): Stats | null {
  let fd: number;
  try {
    fd = openat(dirFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENOENT') return null;
    throw err;
  }
  try {
    return fstatSync(fd);
  } finally {
    close(fd);
  }
}

/** rm -rf dirFd/name without ever following a symlink. */
function removeAt(dirFd: number, name: string): void {
  try {
    unlinkat(dirFd, name, 0);
    return;
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENOENT') return;
    if (!(err instanceof SyscallError && err.code === 'EISDIR')) throw err;
  }
  const fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const child of readdirSync(procPath(fd))) removeAt(fd, child);
  } finally {
    close(fd);
  }
  unlinkat(dirFd, name, AT_REMOVEDIR);
}

/**
 * A path naming `name` inside the directory open as `dirFd`. The kernel jumps
 * straight to the directory through the /proc magic link; only `name` is then
 * looked up, and the l*() calls we use with it do not follow it.
 */
function procPath(dirFd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`;
}

/** Each xattr by name; null when its value could not be kept byte for byte. */
type Xattrs = Map<string, Buffer | null>;

/**
 * The xattrs of tar-stream's own (UTF-8 decoded) PAX records: the fallback
 * when the raw scanner and tar-stream disagree about which entry this is.
 */
function decodedXattrs(pax: Record<string, string> | undefined): Xattrs {
  const out: Xattrs = new Map();
  for (const [key, value] of Object.entries(pax ?? {})) {
    // A binary value (security.capability) comes back with U+FFFD in it.
    if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), value.includes('\ufffd') ? null : Buffer.from(value, 'utf8'));
  }
  return out;
}

/**
 * The xattrs a layer may put on its files. overlayfs reads trusted.overlay.*
 * (user.overlay.* when rootless) as its own metadata: an image that set
 * trusted.overlay.redirect, .origin, .metacopy or .opaque on a file would
 * steer the kernel's merge of the layers (redirect to a path of another
 * layer, hide or resurrect files). hull writes the opaque marker itself, from
 * ".wh..wh..opq". Other trusted.* and security.* (selinux, ima, evm) are host
 * policy, not image content. security.capability is what `setcap` writes,
 * which real images (ping, ...) need; user.* is free for applications.
 */
function layerMaySet(name: string): boolean {
  if (name === 'security.capability') return true;
  return name.startsWith('user.') && !name.startsWith('user.overlay.');
}

interface DirMetadata {
  parts: string[];
  mode: number;
  mtime: Date;
}

/** One layer's extraction: the state that lives as long as the tar stream. */
class LayerExtraction {
  readonly target: Target;
  readonly root = geteuid() === 0;
  readonly warnings: string[] = [];
  private readonly warned = new Set<string>();
  /** Every path this layer created: whiteouts only apply to lower layers, hardlinks only to these. */
  private readonly created = new Set<string>();
  /** Directories get their mode and mtime last: writing their content would change the mtime. */
  private readonly dirs = new Map<string, DirMetadata>();
  /** Overlay mode: the whiteouts to place once the layer's own entries are in. */
  private readonly whiteouts = new Map<string, { name: string; victim: string[] }>();
  entries = 0;

  constructor(
    targetPath: string,
    readonly mode: ExtractMode,
  ) {
    this.target = new Target(targetPath);
    // A lowerdir's root is what the merged root shows when no layer lists "./":
    // start from the usual 0755, not from whatever mode the caller's mkdtemp gave.
    if (mode === 'overlay') fchmodSync(this.target.rootFd, 0o755);
  }

  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warnings.push(message);
  }

  async entry(header: TarHeader, body: Readable, xattrs: Xattrs): Promise<void> {
    this.entries++;
    const name = header.name;
    const split = entryComponents(name);
    if (!split.ok) throw refuse(name, split.reason);
    // A symlink's target is the container's business, but never a C string cut short.
    const linkProblem = controlCharacter(header.linkname ?? '');
    if (linkProblem) throw refuse(name, `link target ${quoted(header.linkname ?? '')}: ${linkProblem.replace('the name', 'it')}`);
    for (const xattr of xattrs.keys()) {
      const problem = controlCharacter(xattr);
      if (problem || xattr === '') throw refuse(name, `xattr name ${quoted(xattr)}: ${problem ?? 'empty'}`);
    }
    const parts = split.parts;
    const base = parts[parts.length - 1];

    if (base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
      body.resume();
      if (base === OPAQUE_WHITEOUT) return this.opaque(name, parts.slice(0, -1));
      const victim = base.slice(WHITEOUT_PREFIX.length);
      if (victim === '' || victim === '.' || victim === '..' || victim.startsWith(WHITEOUT_PREFIX)) throw refuse(name, 'malformed whiteout');
      return this.whiteout(name, [...parts.slice(0, -1), victim]);
    }

    if (parts.length === 0) {
      body.resume();
      // "./" itself: the layer's root directory; its metadata applies to the target.
      if (header.type !== 'directory') throw refuse(name, `a ${header.type} cannot replace the root directory`);
      try {
        if (this.root) fchownSync(this.target.rootFd, header.uid ?? 0, header.gid ?? 0);
        else this.warnNotRoot();
      } catch (err) {
        throw failedEntry(name, err);
      }
      this.dirs.set('', { parts: [], mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date() });
      return;
    }

    const parentFd = this.parentOf(name, parts);
    try {
      switch (header.type) {
        case 'directory':
          body.resume();
          this.directory(parentFd, parts, header, xattrs);
          break;
        case 'file':
        case 'contiguous-file':
          await this.file(parentFd, base!, header, body, xattrs);
          break;
        case 'symlink':
          body.resume();
          this.symlink(parentFd, base!, header, xattrs);
          break;
        case 'link':
          body.resume();
          this.hardlink(name, parentFd, base!, header);
          break;
        case 'character-device':
        case 'block-device':
        case 'fifo':
          body.resume();
          this.node(parentFd, base!, header, xattrs);
          break;
        default:
          body.resume();
          this.warnOnce(`type:${header.type}`, `skipped ${JSON.stringify(name)}: unsupported tar entry type ${header.type}`);
          return;
      }
    } catch (err) {
      throw failedEntry(name, err);
    } finally {
      close(parentFd);
    }
    this.created.add(parts.join('/'));
  }

  /** The entry's parent directory, created if the layer did not list it. */
  private parentOf(name: string, parts: readonly string[]): number {
    try {
      return this.target.ensureDir(parts.slice(0, -1));
    } catch (err) {
      if (err instanceof SyscallError) {
        throw refuse(name, `its parent ${JSON.stringify(parts.slice(0, -1).join('/'))} is not a directory inside the target (${err.code})`);
      }
      throw err;
    }
  }

  /** Make room for a new entry: a directory over a directory stays (it merges); anything else goes. */
  private clear(parentFd: number, base: string, keepDir: boolean): Stats | null {
    const existing = lstatAt(parentFd, base);
    if (existing && !(keepDir && existing.isDirectory())) {
      removeAt(parentFd, base);
      return null;
    }
    return existing;
  }

  private directory(parentFd: number, parts: string[], header: TarHeader, xattrs: Xattrs): void {
    const base = parts[parts.length - 1]!;
    if (!this.clear(parentFd, base, true)) mkdirat(parentFd, base, 0o700);
    this.ownAt(parentFd, base, header);
    // Open it to set xattrs on a real fd; O_NOFOLLOW because we just made it a directory.
    if (xattrs.size) {
      const fd = openat(parentFd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      try {
        this.xattrs(parts.join('/'), xattrs, (n, v) => fsetxattr(fd, n, v));
      } finally {
        close(fd);
      }
    }
    this.dirs.set(parts.join('/'), { parts, mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date() });
  }

  private async file(parentFd: number, base: string, header: TarHeader, body: Readable, xattrs: Xattrs): Promise<void> {
    this.clear(parentFd, base, false);
    // O_EXCL|O_NOFOLLOW: we write only into a file we have just created ourselves.
    const fd = openat(parentFd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      if (this.root) fchownSync(fd, header.uid ?? 0, header.gid ?? 0);
      else this.warnNotRoot();
      // After chown: chown clears setuid/setgid.
      fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
      this.xattrs(header.name, xattrs, (n, v) => fsetxattr(fd, n, v));
    } finally {
      close(fd);
    }
    this.mtimeAt(parentFd, base, header);
  }

  private symlink(parentFd: number, base: string, header: TarHeader, xattrs: Xattrs): void {
    this.clear(parentFd, base, false);
    // Stored as-is, absolute or not: it is the container's business. We never
    // follow it: later lookups are RESOLVE_IN_ROOT, last components NOFOLLOW.
    symlinkat(header.linkname ?? '', parentFd, base);
    if (this.root) fchownat(parentFd, base, header.uid ?? 0, header.gid ?? 0, AT_SYMLINK_NOFOLLOW);
    else this.warnNotRoot();
    this.xattrs(header.name, xattrs, (n, v) => lsetxattr(procPath(parentFd, base), n, v));
    this.mtimeAt(parentFd, base, header);
  }

  /**
   * A hardlink must name an earlier entry of this same layer (that is what a
   * tar link means), reached without crossing a symlink. So it cannot reach a
   * host file, nor a file of a lower layer (see README.md for why).
   */
  private hardlink(name: string, parentFd: number, base: string, header: TarHeader): void {
    const linkname = header.linkname ?? '';
    const split = entryComponents(linkname);
    if (!split.ok) throw refuse(name, `hardlink to ${JSON.stringify(linkname)}: ${split.reason}`);
    const source = split.parts;
    const sourceKey = source.join('/');
    if (source.length === 0 || !this.created.has(sourceKey)) {
      throw refuse(name, `hardlink to ${JSON.stringify(linkname)}, which is not an earlier entry of this layer`);
    }
    let sourceParentFd: number;
    try {
      sourceParentFd = this.target.openDir(source.slice(0, -1), RESOLVE_NO_SYMLINKS);
    } catch (err) {
      if (err instanceof SyscallError) throw refuse(name, `hardlink to ${JSON.stringify(linkname)} through a symlink or a missing directory (${err.code})`);
      throw err;
    }
    try {
      const sourceStat = lstatAt(sourceParentFd, source[source.length - 1]!);
      if (!sourceStat) throw refuse(name, `hardlink to ${JSON.stringify(linkname)}, which no longer exists`);
      if (sourceStat.isDirectory()) throw refuse(name, `hardlink to ${JSON.stringify(linkname)}, a directory`);
      const existing = lstatAt(parentFd, base);
      if (existing && existing.ino === sourceStat.ino && existing.dev === sourceStat.dev) return; // already that file
      this.clear(parentFd, base, false);
      // flags 0: if the source is a symlink, link the symlink itself, never its target.
      linkat(sourceParentFd, source[source.length - 1]!, parentFd, base, 0);
    } finally {
      close(sourceParentFd);
    }
  }

  private node(parentFd: number, base: string, header: TarHeader, xattrs: Xattrs): void {
    const type = header.type === 'fifo' ? S_IFIFO : header.type === 'block-device' ? S_IFBLK : S_IFCHR;
    if (type !== S_IFIFO && !this.root) {
      this.warnOnce('devices', 'not root: device nodes were skipped (mknod needs CAP_MKNOD)');
      return;
    }
    this.clear(parentFd, base, false);
    const perm = (header.mode ?? 0o644) & 0o7777;
    mknodat(parentFd, base, type | perm, makedev(header.devmajor ?? 0, header.devminor ?? 0));
    this.ownAt(parentFd, base, header);
    fchmodat(parentFd, base, perm, AT_SYMLINK_NOFOLLOW); // mknodat obeys the umask; chown cleared setuid
    this.xattrs(header.name, xattrs, (n, v) => lsetxattr(procPath(parentFd, base), n, v));
    this.mtimeAt(parentFd, base, header);
  }

  /**
   * ".wh.NAME" hides NAME of the layers below. Flattened, we delete it now. As
   * an overlay layer, we write the 0:0 char device overlayfs reads as
   * "deleted" at the end of the layer, because image-spec lets the same layer
   * create NAME again (only the lower NAME is hidden): then a directory NAME is
   * made opaque instead, and a file NAME hides the lower one by itself.
   */
  private whiteout(name: string, victim: string[]): void {
    const key = victim.join('/');
    if (this.mode === 'overlay') {
      // Make (or refuse) its directory now, so a hostile path fails at its own entry.
      close(this.parentOf(name, victim));
      this.whiteouts.set(key, { name, victim });
      return;
    }
    const parentFd = this.target.openDirIfExists(victim.slice(0, -1));
    if (parentFd === null) return; // nothing below to delete
    const base = victim[victim.length - 1]!;
    try {
      if (!this.created.has(key)) removeAt(parentFd, base);
      // This layer made NAME before whiting it out (image-spec says it SHOULD not):
      // NAME stays, but, as with overlayfs, nothing of the lower NAME shows through.
      else if (lstatAt(parentFd, base)?.isDirectory()) this.emptyOfLower(victim);
    } catch (err) {
      throw failedEntry(name, err);
    } finally {
      close(parentFd);
    }
  }

  /** The overlay whiteouts, once the layer's own entries are all in place. */
  private placeWhiteouts(): void {
    for (const { name, victim } of this.whiteouts.values()) {
      const base = victim[victim.length - 1]!;
      const parentFd = this.parentOf(name, victim);
      try {
        const existing = lstatAt(parentFd, base);
        if (existing === null) mknodat(parentFd, base, S_IFCHR, 0);
        else if (existing.isDirectory()) this.markOpaque(parentFd, base);
      } catch (err) {
        if (err instanceof SyscallError && err.code === 'EPERM') {
          this.warnOnce('whiteouts', `cannot create overlay whiteouts (${err.message}): deleted files of lower layers stay visible`);
          continue;
        }
        throw failedEntry(name, err);
      } finally {
        close(parentFd);
      }
    }
  }

  /** ".wh..wh..opq": the directory hides everything below it in lower layers. */
  private opaque(name: string, dir: string[]): void {
    if (this.mode === 'overlay') {
      const dirFd = this.parentOf(name, [...dir, OPAQUE_WHITEOUT]);
      try {
        // A real fd of that same directory (dirFd is O_PATH), to set the xattr on.
        const fd = open(procPath(dirFd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        try {
          this.setOpaque(fd);
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
      this.emptyOfLower(dir);
    } catch (err) {
      throw failedEntry(name, err);
    }
  }

  /** The overlayfs xattr that makes the directory dirFd/base opaque. */
  private markOpaque(dirFd: number, base: string): void {
    // A real fd (not O_PATH) to set the xattr on.
    const fd = openat(dirFd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      this.setOpaque(fd);
    } finally {
      close(fd);
    }
  }

  private setOpaque(fd: number): void {
    // Rootful overlayfs reads trusted.overlay.*; trusted.* needs CAP_SYS_ADMIN, so
    // rootless mounts use the "userxattr" option, which reads user.overlay.* instead.
    fsetxattr(fd, this.root ? 'trusted.overlay.opaque' : 'user.overlay.opaque', Buffer.from('y'));
  }

  /** Flattened opaque dir: delete what lower layers put in `dir`, keep what this layer made. */
  private emptyOfLower(dir: string[]): void {
    const dirFd = this.target.openDirIfExists(dir);
    if (dirFd === null) return;
    const prefix = dir.length ? `${dir.join('/')}/` : '';
    try {
      for (const child of readdirSync(procPath(dirFd))) {
        if (!this.created.has(prefix + child)) removeAt(dirFd, child);
      }
    } finally {
      close(dirFd);
    }
  }

  private ownAt(parentFd: number, base: string, header: TarHeader): void {
    if (this.root) fchownat(parentFd, base, header.uid ?? 0, header.gid ?? 0, AT_SYMLINK_NOFOLLOW);
    else this.warnNotRoot();
  }

  private warnNotRoot(): void {
    this.warnOnce('owner', `not root: files keep uid ${geteuid()} instead of the layer's owners`);
  }

  private mtimeAt(parentFd: number, base: string, header: TarHeader): void {
    const mtime = header.mtime ?? new Date();
    utimensat(parentFd, base, mtime, mtime, AT_SYMLINK_NOFOLLOW);
  }

  private xattrs(path: string, xattrs: Xattrs, set: (name: string, value: Buffer) => void): void {
    for (const [name, value] of xattrs) {
      if (!layerMaySet(name)) {
        this.warnOnce(`xattr-denied:${name}`, `skipped xattr ${name} (first on ${JSON.stringify(path)}): a layer may set only security.capability and user.* (not user.overlay.*)`);
        continue;
      }
      if (value === null) {
        this.warnOnce(`xattr-binary:${name}`, `skipped xattr ${name} (first on ${JSON.stringify(path)}): its value is not UTF-8, which tar-stream cannot keep`);
        continue;
      }
      try {
        set(name, value);
      } catch (err) {
        if (!(err instanceof SyscallError)) throw err;
        this.warnOnce(`xattr:${name}`, `skipped xattr ${name} (first on ${JSON.stringify(path)}): ${err.code}`);
      }
    }
  }

  /** Overlay whiteouts, then directory modes and mtimes, now that all content is written. */
  finish(): void {
    this.placeWhiteouts();
    for (const { parts, mode, mtime } of this.dirs.values()) {
      if (parts.length === 0) {
        fchmodSync(this.target.rootFd, mode & 0o7777);
        futimesSync(this.target.rootFd, mtime, mtime);
        continue;
      }
      const parentFd = this.target.openDirIfExists(parts.slice(0, -1));
      if (parentFd === null) continue; // removed later in the layer
      const base = parts[parts.length - 1]!;
      try {
        const st = lstatAt(parentFd, base);
        if (!st?.isDirectory()) continue;
        fchmodat(parentFd, base, mode & 0o7777, AT_SYMLINK_NOFOLLOW);
        utimensat(parentFd, base, mtime, mtime, AT_SYMLINK_NOFOLLOW);
      } catch (err) {
        throw failedEntry(parts.join('/') || './', err);
      } finally {
        close(parentFd);
      }
    }
  }
}

/**
 * Extract one uncompressed layer tar stream into `target`, confined to it.
 * mode 'overlay': the layer is stored on its own as an overlayfs lowerdir
 * (whiteout .wh.NAME -> 0:0 char device NAME, opaque dir .wh..wh..opq ->
 * xattr trusted.overlay.opaque=y on the dir); mode 'flatten': applied on top of
 * what is already in target (whiteouts delete the lower entry, opaque empties
 * the dir first). A refused entry rejects with a ContainerError naming it; the
 * target is then partly written and the caller should discard it.
 */
export async function extractLayer(tar: Readable, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  const layer = new LayerExtraction(target, opts.mode);
  const parser = tarExtract();
  const scanner = new PaxXattrScanner(opts.limits ?? layerLimits(0));
  let sourceError: Error | null = null;
  const onSourceError = (err: Error): void => {
    sourceError = err;
    parser.destroy(err);
  };
  tar.on('error', onSourceError);
  // The scanner refuses an oversized header or one entry too many: that ends the parse too.
  scanner.on('error', onSourceError);
  tar.pipe(scanner).pipe(parser);
  try {
    let index = 0;
    for await (const entry of parser) {
      const header: TarHeader = entry.header;
      // The scanner is upstream of the parser, so it has always seen this entry's header.
      const raw = scanner.entries[index++];
      let xattrs: Xattrs;
      if (raw?.name === header.name) xattrs = raw.xattrs;
      else {
        layer.warnOnce('pax-scanner', `PAX scanner out of step at ${JSON.stringify(header.name)}: binary xattrs may be lost`);
        xattrs = decodedXattrs(header.pax);
      }
      await layer.entry(header, entry, xattrs);
    }
    layer.finish();
    return { entries: layer.entries, warnings: layer.warnings };
  } catch (err) {
    tar.unpipe(scanner);
    scanner.unpipe(parser);
    tar.destroy();
    // A failure upstream (decompression, download) is the caller's to name, not a bad tar.
    if (err instanceof ContainerError || err instanceof SyscallError || (sourceError !== null && err === sourceError)) throw err;
    throw new ContainerError(`layer is not a valid tar: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    tar.off('error', onSourceError);
    scanner.off('error', onSourceError);
    layer.target.close();
  }
}
