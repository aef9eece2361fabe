// The content store (docs/architecture.md "Storage"):
//   <root>/blobs/sha256/<hex>   every blob, named by its digest, verified before it gets that name
//   <root>/layers/<hex>/        each layer extracted once (hex of its diff_id), an overlayfs lowerdir
//   <root>/images.json          reference -> digests
//   <root>/tmp/<pid>.<start>-<rand>-...  work in progress; renamed into place when complete
// Everything becomes visible by rename(2), which is atomic within one file
// system, so a crash leaves only tmp/ entries of a dead process, removed by the
// next command. images.json is rewritten under a flock (@hull/sys's withLock), so
// concurrent pulls never lose each other's entries.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, randomId } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { procStat, withLock } from '@hull/sys';

export interface ImageRecord {
  /** what the reference resolved to: a manifest, or the multi-arch index */
  digest: string;
  /** the platform's manifest (equal to digest when there is no index) */
  manifest: string;
  config: string;
  /** diff_ids, bottom layer first: the names of layers/<hex> */
  layers: string[];
  platform: string;
}

/** HULL_ROOT, else /var/lib/hull as root, else $XDG_DATA_HOME/hull (~/.local/share/hull). */
export function storeRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HULL_ROOT) return env.HULL_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/hull';
  // An empty XDG_DATA_HOME counts as unset (XDG base directory spec).
  return join(env.XDG_DATA_HOME || join(env.HOME || '/', '.local', 'share'), 'hull');
}

/**
 * The store is root-equivalent: whoever can write it can plant a container's
 * config.json (its argv, mounts and capabilities) or a layer that the next
 * `hull run` mounts as root. So refuse a root that someone else could have
 * written, before anything is created in it:
 * - a symlink: whoever owns the link chooses where the store is (lstat, not stat);
 * - group- or other-writable: anyone could rename our files or plant theirs;
 * - owned by another uid (as root: by a non-root user), who can chmod it back.
 * A root that does not exist yet is fine: it is created 0700 by us.
 * What a docker daemon gets from owning /var/lib/docker, hull checks per command.
 */
export function checkStoreRoot(root: string, euid = process.geteuid?.() ?? 0): void {
  let st;
  try {
    st = lstatSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const refuse = (why: string): never => {
    throw new ContainerError(`store ${root}: ${why}`);
  };
  if (st.isSymbolicLink()) refuse('is a symlink: give its real path in HULL_ROOT');
  if (!st.isDirectory()) refuse('is not a directory');
  const writers = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean);
  if (writers.length) refuse(`is writable by ${writers.join(' and ')} (mode ${(st.mode & 0o7777).toString(8)}): chmod go-w ${root}`);
  if (st.uid !== euid) refuse(`is owned by uid ${st.uid}, not by uid ${euid} who runs hull: chown ${euid} ${root}`);
}

function hex(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/**
 * A process's identity that survives pid reuse: "<pid>.<start time in ticks>"
 * (field 22 of /proc/PID/stat), or null when it is gone or a zombie (a killed
 * pull whose parent has not reaped it yet is just as dead).
 */
function processIdentity(pid: number): string | null {
  const stat = procStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return null;
  return `${pid}.${stat.startTime}`;
}

const SELF = processIdentity(process.pid) ?? `${process.pid}.0`;

export class Store {
  constructor(readonly root: string = storeRoot()) {
    for (const d of ['blobs/sha256', 'layers', 'tmp']) {
      mkdirSync(join(root, d), { recursive: true, mode: 0o700 });
      // mkdir -p is happy with a symlink to a directory; the store is not: an
      // extraction into tmp/ or a blob write must never land outside the root.
      for (const part of [d.split('/')[0]!, d]) {
        const st = lstatSync(join(root, part));
        if (!st.isDirectory()) throw new ContainerError(`store ${root}: ${part} is not a directory (a symlink?)`);
      }
    }
  }

  blobPath(digest: string): string {
    return join(this.root, 'blobs', 'sha256', hex(digest));
  }

  /** Present and of the expected size: it was verified before it got its name. */
  hasBlob(digest: string, size?: number): boolean {
    try {
      const st = statSync(this.blobPath(digest));
      return size === undefined || st.size === size;
    } catch {
      return false;
    }
  }

  readBlob(digest: string): Buffer {
    return readFileSync(this.blobPath(digest));
  }

  layerPath(diffId: string): string {
    return join(this.root, 'layers', hex(diffId));
  }

  hasLayer(diffId: string): boolean {
    return existsSync(this.layerPath(diffId));
  }

  /** A fresh path under tmp/, named after this process (pid and start time) so a later run can tell it is stale. */
  tempPath(what: string): string {
    return join(this.root, 'tmp', `${SELF}-${randomId()}-${what}`);
  }

  /** Move a finished temp file or dir to its final name; if another pull got there first, keep theirs. */
  commit(temp: string, final: string): void {
    try {
      renameSync(temp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      rmSync(temp, { recursive: true, force: true });
    }
  }

  /** Remove what dead pulls left in tmp/ (a kill -9 half-way). */
  removeStaleTemps(): void {
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      const owner = name.split('-')[0]!;
      const pid = Number(owner.split('.')[0]);
      const alive = Number.isInteger(pid) && pid > 0 && processIdentity(pid) === owner;
      if (!alive) rmSync(join(this.root, 'tmp', name), { recursive: true, force: true });
    }
  }

  images(): Record<string, ImageRecord> {
    const file = join(this.root, 'images.json');
    if (!existsSync(file)) return {};
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, ImageRecord>;
    } catch {
      // Written by rename, so it is never half-written; a hand-edited broken file is treated as empty.
      return {};
    }
  }

  image(ref: string): ImageRecord | undefined {
    return this.images()[ref];
  }

  setImage(ref: string, record: ImageRecord): void {
    withLock(join(this.root, 'images.lock'), () => {
      const all = this.images();
      all[ref] = record;
      this.writeImages(all);
    });
  }

  /** Replace images.json; the caller holds images.lock (withLock(join(root, 'images.lock'))). */
  writeImages(all: Record<string, ImageRecord>): void {
    writeFileAtomic(join(this.root, 'images.json'), `${JSON.stringify(all, null, 2)}\n`);
  }
}
