// `hull system df` and `hull system prune`: disk use of hull's own store
// (HULL_ROOT: images, containers, volumes) and its clean-up. Nothing outside
// the store is counted or touched.
import { ContainerError, UsageError } from '@hull/01-uts';
import { Store } from '@hull/07-oci-pull';
import { boolOption, parseOptions } from '../args.js';
import { rootfsPaths } from '../rootfs.js';
import { containerIds, hullRoot, observedState, readConfig } from '../store.js';
import { namedVolumeDir } from '../volumes.js';
import { confirm, humanSize, table } from './confirm.js';
import { duBytes, layerBytes, removeReference } from './images.js';
import { removeContainer } from './rm.js';
import { pruneVolumes, volumeNames, volumeUsers } from './volume.js';

interface Usage {
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** A container's size is what it wrote: its upper dir (the copy driver: its whole rootfs copy). */
function containerBytes(id: string, driver: string): number {
  const p = rootfsPaths(id);
  return duBytes(driver === 'copy' ? p.rootfs : p.upper);
}

function usage(root: string): { images: Usage; containers: Usage; volumes: Usage } {
  const store = new Store(root);
  const configs = containerIds(root).map((id) => ({ config: readConfig(id, root), state: observedState(id, root) }));
  const usedImages = new Set(configs.map((c) => c.config.image));
  const images: Usage = { total: 0, active: 0, size: 0, reclaimable: 0 };
  // Layers are shared between images: count each once, reclaimable only when no used image has it.
  const layerSize = new Map<string, number>();
  const usedLayers = new Set<string>();
  for (const [ref, record] of Object.entries(store.images())) {
    images.total++;
    if (usedImages.has(ref)) {
      images.active++;
      for (const l of record.layers) usedLayers.add(l);
    }
    for (const l of record.layers) if (!layerSize.has(l)) layerSize.set(l, layerBytes(store, { ...record, layers: [l] }));
  }
  for (const [l, size] of layerSize) {
    images.size += size;
    if (!usedLayers.has(l)) images.reclaimable += size;
  }
  const containers: Usage = { total: configs.length, active: 0, size: 0, reclaimable: 0 };
  for (const { config, state } of configs) {
    const size = containerBytes(config.id, state.rootfsDriver || config.storageDriver);
    containers.size += size;
    if (state.status === 'running') containers.active++;
    else containers.reclaimable += size;
  }
  const volumes: Usage = { total: 0, active: 0, size: 0, reclaimable: 0 };
  for (const name of volumeNames(root)) {
    const size = duBytes(namedVolumeDir(root, name));
    volumes.total++;
    volumes.size += size;
    if (volumeUsers(root, name).length) volumes.active++;
    else volumes.reclaimable += size;
  }
  return { images, containers, volumes };
}

function reclaimable(u: Usage, percent: boolean): string {
  if (!percent) return humanSize(u.reclaimable);
  return `${humanSize(u.reclaimable)} (${u.size > 0 ? Math.round((u.reclaimable * 100) / u.size) : 0}%)`;
}

async function df(args: string[]): Promise<number> {
  const { positionals } = parseOptions(args, {});
  if (positionals.length) throw new UsageError(`"hull system df" accepts no arguments`);
  const { images, containers, volumes } = usage(hullRoot());
  const row = (type: string, u: Usage, percent: boolean) => [type, String(u.total), String(u.active), humanSize(u.size), reclaimable(u, percent)];
  process.stdout.write(
    table([
      ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
      row('Images', images, true),
      row('Containers', containers, true),
      row('Local Volumes', volumes, true),
      // hull builds no images: docker's fourth row, always empty here.
      ['Build Cache', '0', '0', '0B', '0B'],
    ]),
  );
  return 0;
}

async function prune(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { all: { type: 'boolean', short: 'a' }, force: { type: 'boolean', short: 'f' }, volumes: { type: 'boolean' } });
  if (positionals.length) throw new UsageError(`"hull system prune" accepts no arguments`);
  const all = boolOption(values, 'all');
  const withVolumes = boolOption(values, 'volumes');
  const warning = [
    'WARNING! This will remove:',
    '  - all stopped containers',
    ...(withVolumes ? ['  - all anonymous volumes not used by at least one container'] : []),
    all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    '',
  ].join('\n');
  if (!boolOption(values, 'force') && !(await confirm(warning))) return 0;
  const root = hullRoot();
  let bytes = 0;
  const deleted: string[] = [];
  for (const id of containerIds(root)) {
    const state = observedState(id, root);
    if (state.status === 'running') continue;
    bytes += containerBytes(id, state.rootfsDriver || readConfig(id, root).storageDriver);
    try {
      await removeContainer(id);
      deleted.push(id);
    } catch (err) {
      if (!(err instanceof ContainerError)) throw err;
      process.stderr.write(`hull: ${err.message}\n`);
    }
  }
  if (deleted.length) process.stdout.write(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
  if (withVolumes) {
    const [removed, freed] = pruneVolumes(root, false);
    bytes += freed;
    if (removed.length) process.stdout.write(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n`);
  }
  // hull keeps no untagged ("dangling") images: `rmi` deletes what no reference needs. -a takes every image no container uses.
  if (all) {
    const store = new Store(root);
    const used = new Set(containerIds(root).map((id) => readConfig(id, root).image));
    const untagged: string[] = [];
    for (const [ref, record] of Object.entries(store.images())) {
      if (used.has(ref)) continue;
      bytes += layerBytes(store, record);
      removeReference(store, ref);
      untagged.push(ref);
    }
    if (untagged.length) process.stdout.write(`Deleted Images:\n${untagged.map((r) => `untagged: ${r}\n`).join('')}\n`);
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

const HELP = `Usage: hull system COMMAND

Manage hull's store (HULL_ROOT).

Commands:
  df                              Show disk usage
  prune [-a] [-f] [--volumes]     Remove stopped containers (-a: and unused images; --volumes: and unused anonymous volumes)
`;

export async function system(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || rest.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub === 'df') return df(rest);
  if (sub === 'prune') return prune(rest);
  throw new UsageError(`unknown system command "${sub}"`);
}
