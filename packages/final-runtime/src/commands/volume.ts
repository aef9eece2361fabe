// `hull volume create|ls|rm|inspect|prune`: named volumes, directories of the
// store (HULL_ROOT/volumes/NAME/_data, volumes.ts) that outlive the
// containers mounting them (-v NAME:/path). volume.json beside _data keeps
// what docker's local driver keeps: when it was made, its labels, and
// whether it is anonymous (named by hull, so `volume prune` may take it).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, randomId, UsageError } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { boolOption, listOption, parseOptions, stringOption } from '../args.js';
import { EXIT_ERROR } from '../names.js';
import { containerIds, hullRoot, readConfig, withStoreLock } from '../store.js';
import { isVolumeName, namedVolumeDir, volumesDir } from '../volumes.js';
import { confirm, humanSize, table } from './confirm.js';
import { eachArgument } from './each-argument.js';
import { duBytes } from './images.js';

interface VolumeMeta {
  CreatedAt: string;
  Labels: Record<string, string>;
  Anonymous: boolean;
}

function metaPath(root: string, name: string): string {
  return join(volumesDir(root), name, 'volume.json');
}

export function volumeNames(root = hullRoot()): string[] {
  const dir = volumesDir(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => isVolumeName(n) && existsSync(namedVolumeDir(root, n)))
    .sort();
}

/** A volume made by `run -v NAME:` has no volume.json: its directory's time stands for its creation. */
function readMeta(root: string, name: string): VolumeMeta {
  try {
    return JSON.parse(readFileSync(metaPath(root, name), 'utf8')) as VolumeMeta;
  } catch {
    return { CreatedAt: statSync(join(volumesDir(root), name)).mtime.toISOString(), Labels: {}, Anonymous: false };
  }
}

/** Ids of the containers (in any state, as docker counts) that mount the volume. */
export function volumeUsers(root: string, name: string): string[] {
  return containerIds(root).filter((id) => readConfig(id, root).volumes.some((v) => v.named && v.source === name));
}

function inspectVolume(root: string, name: string): Record<string, unknown> {
  const meta = readMeta(root, name);
  return {
    CreatedAt: meta.CreatedAt,
    Driver: 'local',
    Labels: meta.Labels,
    Mountpoint: namedVolumeDir(root, name),
    Name: name,
    Options: {},
    Scope: 'local',
  };
}

function checkName(name: string): void {
  if (!isVolumeName(name)) {
    throw new ContainerError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`, EXIT_ERROR);
  }
}

function noSuchVolume(name: string): ContainerError {
  return new ContainerError(`no such volume: ${name}`, EXIT_ERROR);
}

/** Remove an unused volume (under the store lock, so no `run -v` takes it meanwhile); returns the bytes freed. */
function removeVolume(root: string, name: string): number {
  return withStoreLock(() => {
    const users = volumeUsers(root, name);
    if (users.length) throw new ContainerError(`remove ${name}: volume is in use - [${users.join(', ')}]`, EXIT_ERROR);
    const size = duBytes(namedVolumeDir(root, name));
    rmSync(join(volumesDir(root), name), { recursive: true, force: true });
    return size;
  }, root);
}

const HELP = `Usage: hull volume COMMAND

Manage volumes.

Commands:
  create [--label K=V] [NAME]   Create a volume (a random name when none is given)
  ls [-q]                       List volumes
  rm [-f] VOLUME...             Remove one or more volumes (not while a container uses them)
  inspect VOLUME...             Display detailed information on one or more volumes
  prune [-a] [-f]               Remove unused anonymous volumes (-a: all unused volumes)
`;

async function create(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { name: { type: 'string' }, label: { type: 'string', short: 'l', multiple: true }, driver: { type: 'string', short: 'd' } });
  if (positionals.length > 1) throw new UsageError(`"hull volume create" requires at most 1 argument: [VOLUME]`);
  const driver = stringOption(values, 'driver') ?? 'local';
  if (driver !== 'local') throw new ContainerError(`create: volume driver "${driver}" is not supported (only local)`, EXIT_ERROR);
  const given = positionals[0] ?? stringOption(values, 'name');
  const name = given ?? randomId(32);
  checkName(name);
  const labels: Record<string, string> = {};
  for (const l of listOption(values, 'label')) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  const root = hullRoot();
  withStoreLock(() => {
    // docker: creating a volume that exists is not an error; it answers its name.
    if (existsSync(namedVolumeDir(root, name))) return;
    mkdirSync(namedVolumeDir(root, name), { recursive: true, mode: 0o755 });
    const meta: VolumeMeta = { CreatedAt: new Date().toISOString(), Labels: labels, Anonymous: given === undefined };
    writeFileAtomic(metaPath(root, name), JSON.stringify(meta, null, 2));
  }, root);
  process.stdout.write(`${name}\n`);
  return 0;
}

async function ls(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { quiet: { type: 'boolean', short: 'q' } });
  if (positionals.length) throw new UsageError(`"hull volume ls" accepts no arguments`);
  const names = volumeNames();
  if (boolOption(values, 'quiet')) process.stdout.write(names.map((n) => `${n}\n`).join(''));
  else process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...names.map((n) => ['local', n])]));
  return 0;
}

async function rm(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { force: { type: 'boolean', short: 'f' } });
  if (positionals.length === 0) throw new UsageError(`"hull volume rm" requires at least 1 argument: VOLUME`);
  const root = hullRoot();
  return eachArgument(positionals, async (name) => {
    if (!isVolumeName(name) || !existsSync(namedVolumeDir(root, name))) {
      // docker: -f is quiet about a volume that is not there.
      if (boolOption(values, 'force')) return;
      throw noSuchVolume(name);
    }
    removeVolume(root, name);
    process.stdout.write(`${name}\n`);
  });
}

async function inspect(args: string[]): Promise<number> {
  const { positionals } = parseOptions(args, {});
  if (positionals.length === 0) throw new UsageError(`"hull volume inspect" requires at least 1 argument: VOLUME`);
  const root = hullRoot();
  const out: Record<string, unknown>[] = [];
  let failed = false;
  for (const name of positionals) {
    if (isVolumeName(name) && existsSync(namedVolumeDir(root, name))) out.push(inspectVolume(root, name));
    else {
      process.stderr.write(`hull: ${noSuchVolume(name).message}\n`);
      failed = true;
    }
  }
  process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
  return failed ? EXIT_ERROR : 0;
}

/** Unused volumes (anonymous ones only, unless `all`), removed; returns [names, bytes]. */
export function pruneVolumes(root: string, all: boolean): [string[], number] {
  const removed: string[] = [];
  let bytes = 0;
  for (const name of volumeNames(root)) {
    if (!all && !readMeta(root, name).Anonymous) continue;
    try {
      bytes += removeVolume(root, name);
      removed.push(name);
    } catch (err) {
      if (!(err instanceof ContainerError)) throw err; // in use: kept
    }
  }
  return [removed, bytes];
}

async function prune(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { all: { type: 'boolean', short: 'a' }, force: { type: 'boolean', short: 'f' } });
  if (positionals.length) throw new UsageError(`"hull volume prune" accepts no arguments`);
  const all = boolOption(values, 'all');
  const warning = `WARNING! This will remove ${all ? 'all' : 'anonymous'} local volumes not used by at least one container.`;
  if (!boolOption(values, 'force') && !(await confirm(warning))) return 0;
  const [removed, bytes] = pruneVolumes(hullRoot(), all);
  if (removed.length) process.stdout.write(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(bytes)}\n`);
  return 0;
}

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<number>> = { create, ls, list: ls, rm, remove: rm, inspect, prune };

export async function volume(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || rest.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const command = SUBCOMMANDS[sub];
  if (!command) throw new UsageError(`unknown volume command "${sub}"`);
  return command(rest);
}
