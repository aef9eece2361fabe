// -v/--volume: HOST:CTR[:ro] binds a host path; NAME:CTR[:ro] a named volume,
// a directory of the store (HULL_ROOT/volumes/NAME/_data) that outlives the
// containers using it. Chapter 05 checks a volume and chapter 03 mounts it;
// what we add is the overlay's privilege: a missing destination is created
// in the container's own layer (never through a symlink), as docker does.
import { closeSync, lstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { ContainerError, UsageError } from '@hull/01-uts';
import type { BindMount } from '@hull/03-chroot-proc';
import { checkVolume } from '@hull/05-userns';

export interface VolumeSpec {
  /** A host path, or the name of a named volume. */
  source: string;
  named: boolean;
  destination: string;
  readonly: boolean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** docker's rule for a local volume's name (it is a directory name under volumes/, so never `..` nor `/`). */
export function isVolumeName(name: string): boolean {
  return VOLUME_NAME.test(name);
}

export function parseVolume(text: string): VolumeSpec {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) throw new UsageError(`-v ${text}: expected HOST-PATH:CONTAINER-PATH[:ro] or NAME:CONTAINER-PATH[:ro]`);
  const [source = '', destination = '', mode] = parts;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new UsageError(`-v ${text}: the mode must be ro or rw, not ${JSON.stringify(mode)}`);
  if (!destination.startsWith('/')) throw new UsageError(`-v ${text}: the container path must be absolute`);
  if (posix.normalize(destination) === '/') throw new UsageError(`-v ${text}: cannot mount over the container's /`);
  const named = !isAbsolute(source);
  if (named && !VOLUME_NAME.test(source)) throw new UsageError(`-v ${text}: "${source}" is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)`);
  return { source, named, destination: posix.normalize(destination), readonly: mode === 'ro' };
}

export function volumesDir(root: string): string {
  return join(root, 'volumes');
}

export function namedVolumeDir(root: string, name: string): string {
  return join(volumesDir(root), name, '_data');
}

/**
 * The host path to bind, made real: a named volume's directory is created on
 * first use; a host path must exist (docker would create it, silently
 * turning a typo into an empty directory; we say so instead).
 */
function hostSource(root: string, v: VolumeSpec): string {
  if (v.named) {
    const dir = namedVolumeDir(root, v.source);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return dir;
  }
  try {
    statSync(v.source);
  } catch {
    throw new ContainerError(`volume ${v.source}: no such file or directory on the host`);
  }
  return v.source;
}

/** Create the destination's missing components in the rootfs, refusing to walk through a symlink. */
function createDestination(rootfs: string, destination: string, isDirectory: boolean): void {
  const parts = destination.split('/').filter(Boolean);
  let path = rootfs;
  parts.forEach((part, i) => {
    path = join(path, part);
    const last = i === parts.length - 1;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      if (last && !isDirectory) closeSync(openSync(path, 'wx', 0o644));
      else mkdirSync(path, { mode: 0o755 });
      return;
    }
    if (st.isSymbolicLink()) throw new ContainerError(`volume destination ${destination}: ${path.slice(rootfs.length)} is a symlink in the image; hull does not follow it`);
  });
}

/** Host side, after the overlay is mounted: the binds to add to chapter 03's spec. */
export function prepareVolumes(root: string, rootfs: string, volumes: VolumeSpec[]): BindMount[] {
  return volumes.map((v) => {
    const source = hostSource(root, v);
    createDestination(rootfs, v.destination, statSync(source).isDirectory());
    return checkVolume(rootfs, { source, destination: v.destination });
  });
}
