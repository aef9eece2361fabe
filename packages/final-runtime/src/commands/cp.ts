// hull cp [-a] [-L] CONTAINER:SRC DEST|-  and  hull cp [-a] [-L] SRC|- CONTAINER:DEST
//
// Both directions are one tar stream: the source tree is packed by
// tree-tar.ts (fds only, symlinks archived, never followed) and unpacked by
// chapter 07's extractor in its copy mode, which resolves every parent
// inside its target (openat2 RESOLVE_IN_ROOT) and never follows a last
// component. Inside the container the target is the container's root (with
// its volumes, container-fs.ts), so a symlink the container planted, `..`
// or an absolute link, resolves as the container would see it, never onto
// the host: the CVE-2018-15664 (a symlink swapped in between check and use)
// and CVE-2019-14271 (host code loaded from the container) class. No code
// from the container is ever loaded: the copy runs in this process.
import { fstatSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ContainerError, UsageError } from '@hull/01-uts';
import { extractLayer, type OwnerOf } from '@hull/07-oci-pull';
import { close, getegid, geteuid, SyscallError } from '@hull/sys';
import { boolOption, type OptionSpecs, parseOptions } from '../args.js';
import { ContainerFs } from '../container-fs.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { observedState } from '../store.js';
import { openHostPath, TreePacker } from '../tree-tar.js';
import { type CommandHelp, help } from './help.js';

const OPTIONS: OptionSpecs = {
  archive: { type: 'boolean', short: 'a', help: 'Archive mode (copy all uid/gid information)' },
  'follow-link': { type: 'boolean', short: 'L', help: 'Always follow symbol link in SRC_PATH' },
};

const HELP: CommandHelp = {
  usage: 'hull cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       hull cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  options: OPTIONS,
  about:
    "Copy files/folders between a container and the local filesystem.\n\nUse '-' as the source to read a tar archive from stdin and extract it to a\ndirectory destination in a container. Use '-' as the destination to stream a\ntar archive of a container source to stdout.",
};

interface Location {
  container?: string;
  path: string;
}

/** docker's split: a local path is "-", absolute, or starts with "."; else CONTAINER:PATH at the first colon. */
function location(arg: string): Location {
  if (arg === '-' || arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** docker follows the source's last symlink with -L, or when the path says "the directory" (a trailing / or /.). */
function followSource(path: string, followLink: boolean): boolean {
  return followLink || path.endsWith('/') || path.endsWith('/.');
}

/** Where the source lands: the directory to unpack into, and the name its top entry takes there ('' = its contents). */
interface Placement {
  dir: string;
  name: string;
}

/**
 * docker cp's rules for DEST_PATH. `dest` is what DEST_PATH resolves to
 * (undefined when nothing is there), `srcName` the source's own name.
 */
function place(destPath: string, dest: { isDirectory: boolean } | undefined, src: { isDirectory: boolean; contentsOnly: boolean; name: string }): Placement {
  const destDir = posix.dirname(destPath.replace(/\/+$/, '') || '/');
  const destBase = posix.basename(destPath.replace(/\/+$/, ''));
  if (!src.isDirectory) {
    if (!dest) {
      if (destPath.endsWith('/')) throw new ContainerError(`cp: destination directory ${destPath} must exist`, EXIT_ERROR);
      return { dir: destDir, name: destBase };
    }
    return dest.isDirectory ? { dir: destPath, name: src.name } : { dir: destDir, name: destBase };
  }
  if (!dest) return { dir: destDir, name: destBase };
  if (!dest.isDirectory) throw new ContainerError(`cp: cannot copy a directory to a file: ${destPath}`, EXIT_ERROR);
  return src.contentsOnly ? { dir: destPath, name: '' } : { dir: destPath, name: src.name };
}

function missing(err: unknown): boolean {
  return err instanceof SyscallError && (err.code === 'ENOENT' || err.code === 'ENOTDIR');
}

/**
 * Chapter 07's extractor, in its copy mode, reporting in cp's words: it is
 * an archive, not a layer, and a refused or failed copy is docker's exit 1.
 */
async function extractCopy(tar: Readable, target: string, options: { under?: string[]; owner?: OwnerOf }): Promise<void> {
  try {
    await extractLayer(tar, target, { mode: 'copy', ...options });
  } catch (err) {
    if (!(err instanceof ContainerError)) throw err;
    throw new ContainerError(err.message.replace(/^refused layer entry/, 'refused archive entry').replace(/^layer entry/, 'archive entry').replace(/^layer is not/, 'the archive is not'), EXIT_ERROR);
  }
}

/** Pack `fd` as `name` into a stream that `consume` reads; either side failing stops both. */
async function pipeTree(fd: number, name: string, consume: (tar: Readable, packer: TreePacker) => Promise<unknown>): Promise<void> {
  const packer = new TreePacker();
  // A Node stream in front of tar-stream's (streamx) one: the extractor unpipes and destroys what it reads on failure.
  const stream = packer.pack.pipe(new PassThrough());
  const produced = (async () => {
    await packer.add(fd, name);
    packer.finalize();
  })();
  const consumed = consume(stream, packer).catch((err: unknown) => {
    packer.abort();
    throw err;
  });
  const [p, c] = await Promise.allSettled([produced, consumed]);
  if (c.status === 'rejected') throw c.reason;
  if (p.status === 'rejected') throw p.reason;
}

async function fromContainer(ref: string, srcPath: string, destPath: string, archive: boolean, followLink: boolean): Promise<void> {
  const config = findContainer(ref);
  const fs = await ContainerFs.open(config, observedState(config.id), true);
  let srcFd: number;
  try {
    srcFd = fs.resolve(srcPath, followSource(srcPath, followLink));
  } catch (err) {
    if (missing(err)) throw new ContainerError(`could not find the file ${srcPath} in container ${ref}`, EXIT_ERROR);
    throw err;
  }
  try {
    const isDirectory = fs.isDirectory(srcFd);
    const inside = fs.pathOf(srcFd);
    const contentsOnly = isDirectory && (srcPath.endsWith('/.') || inside === '/');
    const srcName = contentsOnly ? '' : posix.basename(inside);
    if (destPath === '-') {
      await pipeTree(srcFd, srcName, (tar, packer) => packer.toStream(process.stdout, tar));
      return;
    }
    let dest: { isDirectory: boolean } | undefined;
    try {
      dest = { isDirectory: statSync(destPath).isDirectory() };
    } catch {
      dest = undefined;
    }
    const at = place(destPath, dest, { isDirectory, contentsOnly, name: srcName });
    try {
      if (!statSync(at.dir).isDirectory()) throw new Error();
    } catch {
      throw new ContainerError(`cp: ${at.dir}: no such directory`, EXIT_ERROR);
    }
    // docker: files copied to the local machine belong to whoever ran cp, unless -a.
    const owner: OwnerOf | undefined = archive ? undefined : () => ({ uid: geteuid(), gid: getegid() });
    await pipeTree(srcFd, at.name, (tar) => extractCopy(tar, at.dir, owner ? { owner } : {}));
  } finally {
    close(srcFd);
    fs.close();
  }
}

async function intoContainer(srcPath: string, ref: string, destPath: string, archive: boolean, followLink: boolean): Promise<void> {
  const config = findContainer(ref);
  let srcFd = -1;
  if (srcPath !== '-') {
    try {
      srcFd = openHostPath(srcPath, followSource(srcPath, followLink));
    } catch (err) {
      if (missing(err)) throw new ContainerError(`cp: ${srcPath}: no such file or directory`, EXIT_ERROR);
      throw err;
    }
  }
  try {
    const fs = await ContainerFs.open(config, observedState(config.id), true);
    try {
      let dest: { isDirectory: boolean; inside: string } | undefined;
      try {
        const fd = fs.resolve(destPath, true);
        try {
          dest = { isDirectory: fs.isDirectory(fd), inside: fs.pathOf(fd) };
        } finally {
          close(fd);
        }
      } catch (err) {
        if (!missing(err)) throw err;
      }
      const components = (p: string) => p.split('/').filter(Boolean);
      if (srcPath === '-') {
        if (!dest?.isDirectory) throw new ContainerError(`cp: destination ${destPath} in container ${ref} must be a directory when copying from stdin`, EXIT_ERROR);
        // A tar of the user's: its owners stand (as on the container's side of the map), like -a.
        const owner: OwnerOf = (uid, gid) => ({ uid: fs.hostUid(uid), gid: fs.hostGid(gid) });
        await extractCopy(process.stdin, fs.root, { under: components(dest.inside), owner });
        return;
      }
      const st = fstatSync(srcFd);
      const isDirectory = st.isDirectory();
      const contentsOnly = isDirectory && srcPath.endsWith('/.');
      const srcName = basename(srcPath.replace(/\/\.?$/, '').replace(/\/+$/, '')) || '';
      // The destination's parent, resolved inside the container, when the destination itself is not there yet.
      let destIn = dest ? { isDirectory: dest.isDirectory } : undefined;
      let destCanonical = dest ? dest.inside : destPath;
      if (!dest) {
        const parent = posix.dirname(destPath.replace(/\/+$/, '') || '/');
        let parentFd: number;
        try {
          parentFd = fs.resolve(parent, true);
        } catch (err) {
          if (missing(err)) throw new ContainerError(`could not find the file ${parent} in container ${ref}`, EXIT_ERROR);
          throw err;
        }
        try {
          if (!fs.isDirectory(parentFd)) throw new ContainerError(`cp: ${parent} in container ${ref} is not a directory`, EXIT_ERROR);
          destCanonical = posix.join(fs.pathOf(parentFd), posix.basename(destPath.replace(/\/+$/, '')));
          if (destPath.endsWith('/')) destCanonical += '/';
        } finally {
          close(parentFd);
        }
        destIn = undefined;
      }
      const at = place(destCanonical, destIn, { isDirectory, contentsOnly, name: srcName });
      const root = fs.rootOwner();
      // docker: files copied into a container belong to its root, unless -a keeps the source's owners.
      const owner: OwnerOf = archive ? (uid, gid) => ({ uid: fs.hostUid(uid), gid: fs.hostGid(gid) }) : () => root;
      await pipeTree(srcFd, at.name, (tar) => extractCopy(tar, fs.root, { under: components(at.dir), owner }));
    } finally {
      fs.close();
    }
  } finally {
    if (srcFd >= 0) close(srcFd);
  }
}

export async function cp(args: string[]): Promise<number> {
  if (help(args, HELP)) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length !== 2) throw new UsageError(`"hull cp" requires exactly 2 arguments`);
  const src = location(positionals[0]!);
  const dest = location(positionals[1]!);
  const archive = boolOption(values, 'archive');
  const followLink = boolOption(values, 'follow-link');
  if (src.container !== undefined && dest.container !== undefined) throw new UsageError('copying between containers is not supported');
  if (src.container === undefined && dest.container === undefined) throw new UsageError('must specify at least one container source');
  if ((src.container !== undefined && src.path === '') || (dest.container !== undefined && dest.path === '')) throw new UsageError('the container path must not be empty');
  if (src.container !== undefined) await fromContainer(src.container, src.path, dest.path, archive, followLink);
  else await intoContainer(src.path, dest.container!, dest.path, archive, followLink);
  return 0;
}
