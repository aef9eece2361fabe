// Image commands over chapter 07's store: pull, images, rmi, and the image
// half of inspect.
import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, UsageError } from '@hull/01-uts';
import { withLock } from '@hull/sys';
import { createProgress, type ImageRecord, pull, Store } from '@hull/07-oci-pull';
import { boolOption, type OptionSpecs, parseOptions } from '../args.js';
import { findImage, imageShortId } from '../image.js';
import { EXIT_ERROR } from '../names.js';
import { containerIds, hullRoot, readConfig } from '../store.js';
import { eachArgument } from './each-argument.js';

function insecureRegistries(): string[] {
  return (process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean);
}

export async function pullCommand(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull pull [--platform os/arch[/variant]] REF\n\nHULL_INSECURE_REGISTRIES=host:port,... allows plain HTTP (loopback always does).\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, { platform: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError(`"hull pull" requires exactly 1 argument: REF`);
  const store = new Store(hullRoot());
  const progress = createProgress();
  try {
    const platform = values.platform;
    const image = await pull({ ref: positionals[0]!, store, progress, insecure: insecureRegistries(), ...(typeof platform === 'string' ? { platform } : {}) });
    progress.stop();
    progress.line(`Digest: ${image.record.digest}`);
    progress.line(`Status: ${image.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${image.reference}`);
    process.stdout.write(`${image.reference}\n`);
  } finally {
    progress.stop();
  }
  return 0;
}

function layerBytes(store: Store, record: ImageRecord): number {
  // The compressed size as the registry served it is in the manifest; the
  // unpacked size is what the disk holds, which is what users ask about.
  let total = 0;
  for (const diffId of record.layers) total += duBytes(store.layerPath(diffId));
  return total;
}

function duBytes(path: string): number {
  let total = 0;
  // lstat: busybox's hundreds of applet symlinks must not each count the binary.
  const walk = (p: string) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
    else if (st.isFile()) total += st.size;
  };
  try {
    const st = statSync(path);
    if (st.isDirectory()) walk(path);
  } catch {
    return 0;
  }
  return total;
}

function humanSize(n: number): string {
  if (n < 1000) return `${n}B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)}MB`;
  return `${(n / 1e9).toFixed(2)}GB`;
}

function splitRef(ref: string): [repository: string, tag: string] {
  const at = ref.indexOf('@');
  if (at >= 0) return [ref.slice(0, at), '<none>'];
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, '<none>'];
}

export async function images(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull images [-q] [--json]\n');
    return 0;
  }
  const options: OptionSpecs = { json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } };
  const { values, positionals } = parseOptions(args, options);
  if (positionals.length) throw new UsageError(`"hull images" accepts no arguments`);
  const store = new Store(hullRoot());
  const all = Object.entries(store.images()).sort(([a], [b]) => a.localeCompare(b));
  if (boolOption(values, 'json')) {
    const json = all.map(([ref, record]) => {
      const [repository, tag] = splitRef(ref);
      return { Repository: repository, Tag: tag, Id: record.config, Digest: record.digest, Platform: record.platform, Layers: record.layers, Size: layerBytes(store, record) };
    });
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  if (boolOption(values, 'quiet')) {
    process.stdout.write([...new Set(all.map(([, r]) => imageShortId(r)))].map((id) => `${id}\n`).join(''));
    return 0;
  }
  const table = [['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE']];
  for (const [ref, record] of all) table.push([...splitRef(ref), imageShortId(record), humanSize(layerBytes(store, record))]);
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  process.stdout.write(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n');
  return 0;
}

/**
 * Drop a reference from images.json (chapter 07's file, under its lock),
 * then delete the blobs and layers no remaining image and no container uses.
 */
export function removeReference(store: Store, ref: string): void {
  withLock(join(store.root, 'images.lock'), () => {
    const all = store.images();
    delete all[ref];
    store.writeImages(all);
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>();
    for (const r of Object.values(all)) {
      for (const d of [r.digest, r.manifest, r.config]) keepBlobs.add(d.replace(/^sha256:/, ''));
      for (const l of r.layers) keepLayers.add(l.replace(/^sha256:/, ''));
    }
    for (const id of containerIds(store.root)) for (const dir of readConfig(id, store.root).lowerdirs) keepLayers.add(dir.split('/').pop()!);
    const layersDir = join(store.root, 'layers');
    if (existsSync(layersDir)) for (const hex of readdirSync(layersDir)) if (!keepLayers.has(hex)) rmSync(join(layersDir, hex), { recursive: true, force: true });
    // Layer blobs are named by their compressed digest, which only the
    // manifest knows; keep every blob a remaining manifest lists.
    for (const r of Object.values(all)) {
      try {
        const manifest = JSON.parse(store.readBlob(r.manifest).toString('utf8')) as { layers?: { digest: string }[] };
        for (const l of manifest.layers ?? []) keepBlobs.add(l.digest.replace(/^sha256:/, ''));
      } catch {
        // a missing manifest blob: nothing more to keep for it
      }
    }
    const blobsDir = join(store.root, 'blobs', 'sha256');
    if (existsSync(blobsDir)) for (const hex of readdirSync(blobsDir)) if (!keepBlobs.has(hex)) rmSync(join(blobsDir, hex), { force: true });
  });
}

export async function rmi(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull rmi [-f] IMAGE...\n\n  -f, --force  Remove even if a container uses it\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, { force: { type: 'boolean', short: 'f' } });
  if (positionals.length === 0) throw new UsageError(`"hull rmi" requires at least 1 argument: IMAGE`);
  const store = new Store(hullRoot());
  return eachArgument(positionals, async (ref) => {
    const image = findImage(store, ref);
    if (!image) throw new ContainerError(`no such image: ${ref}`, EXIT_ERROR);
    const users = containerIds(store.root)
      .map((id) => readConfig(id, store.root))
      .filter((c) => c.image === image.ref);
    if (users.length && !boolOption(values, 'force'))
      throw new ContainerError(`cannot remove ${image.ref}: container ${users[0]!.id.slice(0, 12)} (${users[0]!.name}) uses it: remove it first or use rmi -f`, EXIT_ERROR);
    removeReference(store, image.ref);
    process.stdout.write(`Untagged: ${image.ref}\n`);
  });
}

export async function inspectImage(ref: string): Promise<Record<string, unknown> | undefined> {
  const store = new Store(hullRoot());
  let image;
  try {
    image = findImage(store, ref);
  } catch {
    return undefined; // not even a valid reference
  }
  if (!image) return undefined;
  return {
    Id: image.record.config,
    RepoTags: [image.ref],
    RepoDigests: [`${splitRef(image.ref)[0]}@${image.record.digest}`],
    Architecture: image.config.architecture,
    Os: image.config.os,
    Config: image.config.config ?? {},
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
    GraphDriver: { Name: 'overlay', Data: { LowerDir: image.lowerdirs.join(':') } },
  };
}
