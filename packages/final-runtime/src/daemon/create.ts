// POST /containers/create: the Engine API's Config + HostConfig mapped onto
// hull's ContainerConfig, so the container lands in the same store as `hull
// run`'s (and `hull ps` lists it). The merge with the image config is the
// daemon's (moby daemon/commit.go): an Entrypoint in the request replaces the
// image's and drops its Cmd; a Cmd alone replaces only Cmd.
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import { type CgroupLimits, parseLimits } from '@hull/04-cgroups';
import { parsePublish, publishConflict, publishProblem, type PortMapping, writeFileAtomic } from '@hull/06-network';
import { Store } from '@hull/07-oci-pull';
import { create } from '../commands/run.js';
import { environmentOf, hostnameOf, type ImageRunConfig, workdirOf } from '../container-config.js';
import { findImage } from '../image.js';
import { checkName, newContainerId, randomName } from '../names.js';
import { storageDriverFromEnv } from '../rootfs.js';
import { planSecurity, type SecurityFlags } from '../security/plan.js';
import { type ContainerConfig, containerDir, readJson } from '../store.js';
import { parseVolume } from '../volumes.js';
import { badParameter, notFound } from './api.js';

/** What the Engine API has and ContainerConfig does not: kept beside config.json for inspect and attach. */
export interface DaemonExtras {
  labels: Record<string, string>;
  openStdin: boolean;
  stdinOnce: boolean;
  attachStdin: boolean;
  /** Config.Cmd / Entrypoint / Image as the client sent them, for inspect. */
  cmd: string[] | null;
  entrypoint: string[] | null;
  imageRef: string;
  networkMode: string;
}

export function extrasPath(id: string, root: string): string {
  return join(containerDir(id, root), 'daemon.json');
}

export function readExtras(id: string, root: string): DaemonExtras | undefined {
  try {
    return readJson<DaemonExtras>(extrasPath(id, root));
  } catch {
    return undefined; // made by `hull run`, not by the daemon
  }
}

// ------------------------------------------------------- typed field readers

type Body = Record<string, unknown>;

function object(body: Body, key: string, where: string): Body {
  const v = body[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badParameter(`${where}.${key}: not an object`);
  return v as Body;
}

function strings(body: Body, key: string, where: string): string[] | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  // Cmd and Entrypoint may be one string (docker's StrSlice).
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw badParameter(`${where}.${key}: not a list of strings`);
  return v as string[];
}

function string(body: Body, key: string, where: string): string {
  const v = body[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badParameter(`${where}.${key}: not a string`);
  return v;
}

function bool(body: Body, key: string, where: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw badParameter(`${where}.${key}: not a boolean`);
  return v;
}

function count(body: Body, key: string, where: string): number {
  const v = body[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badParameter(`${where}.${key}: not a non-negative integer`);
  return v;
}

function labels(body: Body): Record<string, string> {
  const v = object(body, 'Labels', 'Config');
  for (const [k, val] of Object.entries(v)) if (typeof val !== 'string') throw badParameter(`Config.Labels.${k}: not a string`);
  return v as Record<string, string>;
}

// -------------------------------------------------------------- the mapping

function argvOf(image: ImageRunConfig, entrypoint: string[] | null, cmd: string[] | null): string[] {
  let argv: string[];
  if (entrypoint && entrypoint.length > 0) argv = [...entrypoint, ...(cmd ?? [])];
  else argv = [...(entrypoint === null ? (image.Entrypoint ?? []) : []), ...(cmd && cmd.length ? cmd : (image.Cmd ?? []))];
  if (argv.length === 0) throw badParameter('no command specified');
  return argv;
}

function limitsOf(host: Body): CgroupLimits {
  const memory = count(host, 'Memory', 'HostConfig');
  const nanoCpus = count(host, 'NanoCpus', 'HostConfig');
  const pids = host.PidsLimit;
  const pidsLimit = typeof pids === 'number' && pids > 0 ? pids : 0;
  try {
    return parseLimits({
      ...(memory ? { memory: String(memory) } : {}),
      ...(nanoCpus ? { cpus: String(nanoCpus / 1e9) } : {}),
      ...(pidsLimit ? { pidsMax: String(pidsLimit) } : {}),
    });
  } catch (err) {
    throw badParameter(err instanceof Error ? err.message : String(err));
  }
}

function networkOf(mode: string, publishing: boolean): ContainerConfig['network'] {
  // docker's "default" is its bridge. hull's own default is none; a request
  // that publishes ports on "default" gets hull's bridge, where -p works.
  if (mode === '' || mode === 'default') return publishing ? 'bridge' : 'none';
  if (mode === 'none' || mode === 'host' || mode === 'bridge') return mode;
  throw badParameter(`network ${mode} not found: hull has none, bridge and host`);
}

function publishOf(host: Body): PortMapping[] {
  const bindings = object(host, 'PortBindings', 'HostConfig');
  const out: PortMapping[] = [];
  for (const [port, list] of Object.entries(bindings)) {
    const [ctr, proto = 'tcp'] = port.split('/');
    if (!Array.isArray(list)) throw badParameter(`HostConfig.PortBindings.${port}: not a list`);
    for (const b of list as unknown[]) {
      const binding = (b ?? {}) as Body;
      const ip = string(binding, 'HostIp', `PortBindings.${port}`);
      const hostPort = string(binding, 'HostPort', `PortBindings.${port}`) || ctr;
      const text = `${ip ? `${ip}:` : ''}${hostPort}:${ctr}/${proto}`;
      const mapping = parsePublish(text);
      if (!mapping) throw badParameter(`invalid port binding ${text}: ${publishProblem(text)}`);
      out.push(mapping);
    }
  }
  const clash = publishConflict(out);
  if (clash) throw badParameter(clash);
  return out;
}

function ulimitsOf(host: Body): string[] {
  const v = host.Ulimits;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badParameter('HostConfig.Ulimits: not a list');
  return (v as unknown[]).map((u) => {
    const l = (u ?? {}) as Body;
    return `${string(l, 'Name', 'Ulimits')}=${count(l, 'Soft', 'Ulimits')}:${count(l, 'Hard', 'Ulimits')}`;
  });
}

export interface Created {
  config: ContainerConfig;
  extras: DaemonExtras;
}

/** Check everything, then write the container (name taken under the store lock); nothing is written when a check fails. */
export function createFromRequest(body: Body, name: string | null, root: string): Created {
  const c = body;
  const host = object(body, 'HostConfig', 'body');
  const imageRef = string(c, 'Image', 'Config');
  if (!imageRef) throw badParameter('Config.Image: no image given');
  if (name !== null && name !== '') {
    const bare = name.replace(/^\//, '');
    try {
      checkName(bare);
    } catch (err) {
      throw badParameter(err instanceof Error ? err.message : String(err));
    }
  }

  const tty = bool(c, 'Tty', 'Config');
  // The client resolves a bare KEY from its own environment; one that reaches us must not take the daemon's.
  const env = (strings(c, 'Env', 'Config') ?? []).filter((e) => e.includes('='));
  const workdir = string(c, 'WorkingDir', 'Config');
  const user = string(c, 'User', 'Config');
  const hostname = string(c, 'Hostname', 'Config');
  const entrypoint = strings(c, 'Entrypoint', 'Config');
  const cmd = strings(c, 'Cmd', 'Config');
  const publish = publishOf(host);
  const networkMode = string(host, 'NetworkMode', 'HostConfig');
  const network = networkOf(networkMode, publish.length > 0);
  if (publish.length && network !== 'bridge') throw badParameter(`port publishing needs the bridge network, not ${network}`);
  const security: SecurityFlags = {
    capAdd: strings(host, 'CapAdd', 'HostConfig') ?? [],
    capDrop: strings(host, 'CapDrop', 'HostConfig') ?? [],
    securityOpt: (strings(host, 'SecurityOpt', 'HostConfig') ?? []).map((o) => o.replace(/^no-new-privileges$/, 'no-new-privileges=true').replace(':', '=')),
    ulimit: ulimitsOf(host),
    privileged: bool(host, 'Privileged', 'HostConfig'),
  };
  let volumes;
  try {
    planSecurity(security);
    volumes = (strings(host, 'Binds', 'HostConfig') ?? []).map(parseVolume);
  } catch (err) {
    throw badParameter(err instanceof Error ? err.message : String(err));
  }
  const store = new Store(root);
  let image;
  try {
    image = findImage(store, imageRef);
  } catch (err) {
    throw badParameter(`invalid reference format: ${imageRef}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // The CLI answers this 404 by pulling (POST /images/create) and creating again.
  if (!image) throw notFound(`No such image: ${imageRef}`);
  const imageConfig = image.config.config ?? {};
  const id = newContainerId();
  const flags = { command: [], env, envFiles: [], tty, ...(workdir ? { workdir } : {}), ...(user ? { user } : {}), ...(hostname ? { hostname } : {}) };
  let config: ContainerConfig;
  try {
    const hn = hostnameOf(flags, id);
    config = {
      id,
      name: name ? name.replace(/^\//, '') : randomName(),
      image: image.ref,
      imageId: image.record.config,
      created: new Date().toISOString(),
      argv: argvOf(imageConfig, entrypoint, cmd),
      env: environmentOf(imageConfig, flags, hn),
      hostname: hn,
      workdir: workdirOf(imageConfig, flags),
      user: user || imageConfig.User || '',
      autoRemove: bool(host, 'AutoRemove', 'HostConfig'),
      // The daemon is its monitor, as the supervisor is for `hull run -d`: its output goes to the json log.
      detached: true,
      network,
      publish,
      volumes,
      readonly: bool(host, 'ReadonlyRootfs', 'HostConfig'),
      userns: 'host',
      tty,
      limits: limitsOf(host),
      security,
      lowerdirs: image.lowerdirs,
      manifest: image.record.manifest,
      storageDriver: storageDriverFromEnv(),
    };
  } catch (err) {
    if (err instanceof ContainerError) throw badParameter(err.message);
    throw err;
  }
  const extras: DaemonExtras = {
    labels: labels(c),
    openStdin: bool(c, 'OpenStdin', 'Config'),
    stdinOnce: bool(c, 'StdinOnce', 'Config'),
    attachStdin: bool(c, 'AttachStdin', 'Config'),
    cmd,
    entrypoint,
    imageRef,
    networkMode: networkMode || 'default',
  };
  create(config, root, Boolean(name));
  writeFileAtomic(extrasPath(id, root), JSON.stringify(extras));
  return { config, extras };
}
