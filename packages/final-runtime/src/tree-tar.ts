// A directory tree (or one file) as a tar stream, read through file
// descriptors only: every entry is opened O_PATH|O_NOFOLLOW relative to its
// parent's fd, so a symlink in the tree is archived as a symlink and never
// followed, and nothing a process in the container renames or re-links
// while we read can make us read outside the tree (CVE-2018-15664 was a
// path checked, then used: here there is no second walk by name). A regular
// file is re-opened through its own fd's magic link, so a FIFO or a device
// planted at its name is archived as what it is, never opened.
import { fstatSync, readdirSync, readSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Writable } from 'node:stream';
import { pack as tarPack, type Headers, type Pack } from 'tar-stream';
import { close, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH, O_RDONLY, open, openat, readlinkat } from '@hull/sys';

const CHUNK = 1 << 16;

/** An entry the packer was told to leave out, by its name in the archive ("proc/1"). */
export type Skip = (name: string) => boolean;

/** The kernel's encoding of a device number (<sys/sysmacros.h>), for the tar header. */
function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}
function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}

export class TreePacker {
  readonly pack: Pack = tarPack();
  /** dev:ino of every multiply-linked file archived so far: the next name of it is a hardlink entry. */
  private readonly linked = new Map<string, string>();
  private aborted = false;
  /** Settles when the pack is closed (consumed or destroyed): a producer waiting for 'drain' must not wait forever. */
  private readonly closed: Promise<void>;

  constructor(private readonly skip: Skip = () => false) {
    this.closed = new Promise((resolve) =>
      this.pack.once('close', () => {
        this.aborted = true;
        resolve();
      }),
    );
  }

  /** Stop producing (the consumer failed). */
  abort(): void {
    this.aborted = true;
    this.pack.destroy();
  }

  /**
   * Archive the file or tree open as `fd` (an O_PATH fd, not consumed) under
   * `name` ('' = its contents at the top of the archive, as `cp SRC/.` wants).
   */
  async add(fd: number, name: string): Promise<void> {
    if (this.aborted) throw new Error('the copy was aborted');
    const st = fstatSync(fd);
    const header: Headers = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) return this.directory(fd, name, header);
    if (name === '') throw new Error('only a directory can be archived as its contents');
    if (st.isSymbolicLink()) return this.entry({ ...header, type: 'symlink', linkname: readlinkat(fd, '') });
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.linked.get(key);
      if (first !== undefined) return this.entry({ ...header, type: 'link', linkname: first });
      this.linked.set(key, name);
    }
    if (st.isFile()) return this.file(fd, header, st);
    if (st.isFIFO()) return this.entry({ ...header, type: 'fifo' });
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      return this.entry({ ...header, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major(st.rdev), devminor: minor(st.rdev) });
    }
    // A socket has no tar form (GNU tar skips it too).
  }

  finalize(): void {
    this.pack.finalize();
  }

  /**
   * Stream the archive to `out` (stdout) until it ends. A reader that goes
   * away (`| head`) stops the packing with one line, not a stack trace.
   */
  toStream(out: NodeJS.WritableStream, source: NodeJS.ReadableStream = this.pack): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      out.once('error', (err: NodeJS.ErrnoException) => {
        this.abort();
        reject(new Error(`writing the archive: ${err.code ?? err.message}`));
      });
      source.once('end', resolve).once('error', reject);
      source.pipe(out);
    });
  }

  private async directory(fd: number, name: string, header: Headers): Promise<void> {
    if (name !== '') await this.entry({ ...header, type: 'directory', name: `${name}/` });
    // A real fd of the same directory (fd is O_PATH), to list it.
    const dirFd = open(`/proc/self/fd/${fd}`, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      for (const child of readdirSync(`/proc/self/fd/${dirFd}`).sort()) {
        const childName = name === '' ? child : posix.join(name, child);
        if (this.skip(childName)) continue;
        let childFd: number;
        try {
          childFd = openat(dirFd, child, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        } catch {
          continue; // removed while we listed: a running container's files come and go
        }
        try {
          await this.add(childFd, childName);
        } finally {
          close(childFd);
        }
      }
    } finally {
      close(dirFd);
    }
  }

  private entry(header: Headers): Promise<void> {
    return new Promise((resolve, reject) => this.pack.entry(header, (err) => (err ? reject(err) : resolve())));
  }

  private async file(fd: number, header: Headers, st: Stats): Promise<void> {
    // The inode we just looked at, through its fd's magic link: no second walk by name.
    const readFd = open(`/proc/self/fd/${fd}`, O_RDONLY | O_CLOEXEC);
    try {
      let done!: (err?: Error | null) => void;
      const finished = new Promise<void>((resolve, reject) => (done = (err) => (err ? reject(err) : resolve())));
      const body: Writable = this.pack.entry({ ...header, type: 'file', size: st.size }, (err) => done(err));
      const buf = Buffer.alloc(CHUNK);
      // The header promised st.size bytes: a file that grows is cut there, one that shrinks is padded.
      let left = st.size;
      while (left > 0) {
        if (this.aborted) throw new Error('the copy was aborted');
        let n = readSync(readFd, buf, 0, Math.min(CHUNK, left), null);
        if (n === 0) {
          buf.fill(0);
          n = Math.min(CHUNK, left);
        }
        left -= n;
        if (!body.write(Buffer.from(buf.subarray(0, n)))) await Promise.race([new Promise((resolve) => body.once('drain', resolve)), this.closed]);
      }
      body.end();
      await finished;
    } finally {
      close(readFd);
    }
  }
}

/** An O_PATH fd of a host path; the last component is followed only with `follow` (cp -L). */
export function openHostPath(path: string, follow: boolean): number {
  return open(path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
}
