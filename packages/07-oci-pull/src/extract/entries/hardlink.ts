// A hardlink entry: only to an earlier entry of the same layer.
import { RESOLVE_NO_SYMLINKS, SyscallError, close, linkat } from '@hull/sys';
import { refuse } from '../entry-errors.js';
import { entryComponents } from '../paths.js';
import { lstatAt } from '../target.js';
import type { LayerExtraction, TarHeader } from '../layer.js';

/**
 * A hardlink must name an earlier entry of this same layer (that is what a
 * tar link means), reached without crossing a symlink. So it cannot reach a
 * host file, nor a file of a lower layer (see README.md for why).
 */
export function hardlink(layer: LayerExtraction, name: string, parentFd: number, base: string, header: TarHeader): void {
  const linkname = header.linkname ?? '';
  const split = entryComponents(linkname);
  if (!split.ok) throw refuse(name, `hardlink to ${JSON.stringify(linkname)}: ${split.reason}`);
  const source = [...layer.under, ...split.parts];
  const sourceKey = source.join('/');
  if (source.length === 0 || !layer.created.has(sourceKey)) {
    throw refuse(name, `hardlink to ${JSON.stringify(linkname)}, which is not an earlier entry of this layer`);
  }
  let sourceParentFd: number;
  try {
    sourceParentFd = layer.target.openDir(source.slice(0, -1), RESOLVE_NO_SYMLINKS);
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
    layer.clear(parentFd, base, false);
    // flags 0: if the source is a symlink, link the symlink itself, never its target.
    linkat(sourceParentFd, source[source.length - 1]!, parentFd, base, 0);
  } finally {
    close(sourceParentFd);
  }
}
