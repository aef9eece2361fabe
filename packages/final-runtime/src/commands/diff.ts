// `hull diff CONTAINER`: what the container changed in its filesystem,
// read straight from its overlay upper dir (running or not, nothing to
// mount): A added, C changed, D deleted. overlayfs marks a deletion with a
// whiteout, a 0:0 character device (Documentation/filesystems/overlayfs.rst,
// "whiteouts and opaque directories"), and a directory whose lower contents
// were all removed and made anew with the xattr trusted.overlay.opaque=y.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, UsageError } from '@hull/01-uts';
import { lgetxattr } from '@hull/sys';
import { parseOptions } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { rootfsPaths } from '../rootfs.js';
import { observedState } from '../store.js';
import { help } from './help.js';

type Kind = 'A' | 'C' | 'D';

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  return lgetxattr(path, 'trusted.overlay.opaque')?.toString() === 'y';
}

/** Is `rel` in the image, as its layers (top first) merge? A whiteout in a higher layer hides it. */
function inLowers(lowerdirs: string[], rel: string): boolean {
  for (const dir of lowerdirs) {
    const st = lstatSync(join(dir, rel), { throwIfNoEntry: false });
    if (!st) continue;
    return !isWhiteout(st);
  }
  return false;
}

function listing(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every change under upper/rel, in path order. */
function changes(upper: string, lowerdirs: string[], rel: string, out: [Kind, string][]): void {
  for (const name of readdirSync(join(upper, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(upper, path));
    if (isWhiteout(st)) {
      out.push(['D', path]);
      continue;
    }
    const existed = inLowers(lowerdirs, path);
    out.push([existed ? 'C' : 'A', path]);
    if (!st.isDirectory()) continue;
    if (existed && isOpaque(join(upper, path))) {
      // What the image had in it is gone, unless made again in the upper dir.
      const mine = new Set(readdirSync(join(upper, path)));
      const theirs = new Set(lowerdirs.flatMap((d) => listing(join(d, path))).filter((n) => !mine.has(n)));
      for (const gone of theirs) if (inLowers(lowerdirs, `${path}/${gone}`)) out.push(['D', `${path}/${gone}`]);
    }
    changes(upper, lowerdirs, path, out);
  }
}

export async function diff(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull diff CONTAINER', options: {}, about: "Inspect changes to files or directories on a container's filesystem (A added, C changed, D deleted)." })) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length !== 1) throw new UsageError(`"hull diff" requires exactly 1 argument: CONTAINER`);
  const config = findContainer(positionals[0]!);
  const driver = observedState(config.id).rootfsDriver || config.storageDriver;
  if (driver !== 'overlay') throw new ContainerError(`diff: container ${config.name} uses the copy storage driver, which keeps no layer of its own to compare`, EXIT_ERROR);
  const { upper } = rootfsPaths(config.id);
  const out: [Kind, string][] = [];
  if (lstatSync(upper, { throwIfNoEntry: false })?.isDirectory()) changes(upper, config.lowerdirs, '', out);
  // docker sorts by path, byte by byte.
  out.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  process.stdout.write(out.map(([kind, path]) => `${kind} /${path}\n`).join(''));
  return 0;
}
