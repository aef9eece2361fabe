// One layer's extraction: the state that lives as long as the tar stream (what
// this layer created, the directories whose mode and mtime come last, the
// overlay whiteouts still to place), and the dispatch of each entry to the
// file of its kind (entries/) or to whiteouts.ts.
import { fchmodSync, fchownSync, futimesSync, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Headers } from 'tar-stream';
import { AT_SYMLINK_NOFOLLOW, SyscallError, close, fchmodat, fchownat, geteuid, utimensat } from '@hull/sys';
import { directory } from './entries/directory.js';
import { file } from './entries/file.js';
import { hardlink } from './entries/hardlink.js';
import { node } from './entries/node.js';
import { symlink } from './entries/symlink.js';
import { failedEntry, quoted, refuse } from './entry-errors.js';
import type { ExtractMode, OwnerOf } from './extract.js';
import { controlCharacter, entryComponents, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './paths.js';
import { lstatAt, removeAt, Target } from './target.js';
import { opaque, placeWhiteouts, whiteout } from './whiteouts.js';
import { layerMaySet, type Xattrs } from './xattrs.js';

/** tar-stream's header, plus the PAX records it keeps (its types omit them). */
export type TarHeader = Headers & { pax?: Record<string, string> };

interface DirMetadata {
  parts: string[];
  mode: number;
  mtime: Date;
}

/** One layer's extraction: the state that lives as long as the tar stream. */
export class LayerExtraction {
  readonly target: Target;
  readonly root = geteuid() === 0;
  readonly warnings: string[] = [];
  readonly warned = new Set<string>();
  /** Every path this layer created: whiteouts only apply to lower layers, hardlinks only to these. */
  readonly created = new Set<string>();
  /** Directories get their mode and mtime last: writing their content would change the mtime. */
  readonly dirs = new Map<string, DirMetadata>();
  /** Overlay mode: the whiteouts to place once the layer's own entries are in. */
  readonly whiteouts = new Map<string, { name: string; victim: string[] }>();
  entries = 0;

  constructor(
    targetPath: string,
    readonly mode: ExtractMode,
    /** Components every entry is placed under (copy mode's destination directory). */
    readonly under: readonly string[] = [],
    readonly owner?: OwnerOf,
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

  async entry(tarHeader: TarHeader, body: Readable, xattrs: Xattrs): Promise<void> {
    this.entries++;
    let header = tarHeader;
    const name = header.name;
    const split = entryComponents(name);
    if (!split.ok) throw refuse(name, split.reason);
    if (this.owner) header = { ...header, ...this.owner(header.uid ?? 0, header.gid ?? 0) };
    // A symlink's target is the container's business, but never a C string cut short.
    const linkProblem = controlCharacter(header.linkname ?? '');
    if (linkProblem) throw refuse(name, `link target ${quoted(header.linkname ?? '')}: ${linkProblem.replace('the name', 'it')}`);
    for (const xattr of xattrs.keys()) {
      const problem = controlCharacter(xattr);
      if (problem || xattr === '') throw refuse(name, `xattr name ${quoted(xattr)}: ${problem ?? 'empty'}`);
    }
    if (this.mode === 'copy' && split.parts.length === 0) {
      body.resume();
      return;
    }
    const parts = [...this.under, ...split.parts];
    const base = parts[parts.length - 1];

    if (this.mode !== 'copy' && base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
      body.resume();
      if (base === OPAQUE_WHITEOUT) return opaque(this, name, parts.slice(0, -1));
      const victim = base.slice(WHITEOUT_PREFIX.length);
      if (victim === '' || victim === '.' || victim === '..' || victim.startsWith(WHITEOUT_PREFIX)) throw refuse(name, 'malformed whiteout');
      return whiteout(this, name, [...parts.slice(0, -1), victim]);
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
          directory(this, parentFd, parts, header, xattrs);
          break;
        case 'file':
        case 'contiguous-file':
          await file(this, parentFd, base!, header, body, xattrs);
          break;
        case 'symlink':
          body.resume();
          symlink(this, parentFd, base!, header, xattrs);
          break;
        case 'link':
          body.resume();
          hardlink(this, name, parentFd, base!, header);
          break;
        case 'character-device':
        case 'block-device':
        case 'fifo':
          body.resume();
          node(this, parentFd, base!, header, xattrs);
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
  parentOf(name: string, parts: readonly string[]): number {
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
  clear(parentFd: number, base: string, keepDir: boolean): Stats | null {
    const existing = lstatAt(parentFd, base);
    if (existing && !(keepDir && existing.isDirectory())) {
      removeAt(parentFd, base);
      return null;
    }
    return existing;
  }

  ownAt(parentFd: number, base: string, header: TarHeader): void {
    if (this.root) fchownat(parentFd, base, header.uid ?? 0, header.gid ?? 0, AT_SYMLINK_NOFOLLOW);
    else this.warnNotRoot();
  }

  warnNotRoot(): void {
    this.warnOnce('owner', `not root: files keep uid ${geteuid()} instead of the layer's owners`);
  }

  mtimeAt(parentFd: number, base: string, header: TarHeader): void {
    const mtime = header.mtime ?? new Date();
    utimensat(parentFd, base, mtime, mtime, AT_SYMLINK_NOFOLLOW);
  }

  xattrs(path: string, xattrs: Xattrs, set: (name: string, value: Buffer) => void): void {
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
    placeWhiteouts(this);
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
