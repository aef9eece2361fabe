// Chapter 05's part of config.json: a user entry in linux.namespaces with
// linux.uidMappings/gidMappings, and the volumes as bind mounts, on top of
// chapter 03's.
import { hasNamespace, type OptionSpecs, type OptionValues, UsageError, withNamespaces } from '@hull/01-uts';
import { type BindMount, ROOTFS_FLAGS, rootfsOptions, rootfsSpecFromFlags } from '@hull/03-chroot-proc';
import type { RuntimeSpec, SpecIdMapping, SpecMount } from '@hull/sys';
import { type IdMapEntry, parseIdMapEntry } from './idmap.js';
import type { UsernsRunOptions } from './run.js';
import type { Caller } from './subordinate.js';
import { currentCaller, planUserNamespace } from './userns.js';

export const USERNS_FLAGS: OptionSpecs = {
  rootfs: ROOTFS_FLAGS.rootfs!,
  userns: { type: 'boolean', help: 'A user namespace (always, without root): root inside is host uid 100000 by default' },
  'uid-map': { type: 'string', multiple: true, value: 'C:H:N', help: 'Container uids C..C+N-1 are host uids H..H+N-1 (repeatable)' },
  'gid-map': { type: 'string', multiple: true, value: 'C:H:N', help: 'The same for gids (repeatable)' },
  volume: { type: 'string', multiple: true, value: 'HOST:CTR', help: 'Bind the host path HOST over CTR, which must exist in the rootfs (repeatable)' },
  hostname: ROOTFS_FLAGS.hostname!,
};

export interface UsernsRequest {
  /** --userns, or a map given: a user namespace even as root. */
  userns: boolean;
  uidMap?: IdMapEntry[];
  gidMap?: IdMapEntry[];
  volumes: BindMount[];
  caller?: Caller;
}

const toSpec = (e: IdMapEntry): SpecIdMapping => ({ containerID: e.containerId, hostID: e.hostId, size: e.size });
const fromSpec = (m: SpecIdMapping): IdMapEntry => ({ containerId: m.containerID, hostId: m.hostID, size: m.size });

/** A volume as config.json's mounts say it: a plain (not recursive) bind, as bindFile makes it. */
export function volumeMount(v: BindMount): SpecMount {
  return { destination: v.destination, type: 'bind', source: v.source, options: ['bind'] };
}

/**
 * Chapter 03's spec in a user namespace, with the maps the kernel will be
 * given (planUserNamespace: the defaults, or those asked for, checked).
 * Without root there is always one: nothing else lets us create the others.
 */
export function withUserns(spec: RuntimeSpec, req: UsernsRequest): RuntimeSpec {
  const caller = req.caller ?? currentCaller();
  const mounts = [...(spec.mounts ?? []), ...req.volumes.map(volumeMount)];
  if (!req.userns && caller.uid === 0) return { ...spec, mounts };
  const plan = planUserNamespace({ caller, ...(req.uidMap ? { uidMap: req.uidMap } : {}), ...(req.gidMap ? { gidMap: req.gidMap } : {}) });
  const out = withNamespaces(spec, ['user']);
  // The native helper makes the init root of the namespace (setresuid(0)) before it execs.
  return { ...out, mounts, process: { ...out.process!, user: { uid: 0, gid: 0 } }, linux: { ...out.linux, uidMappings: plan.uidMap.map(toSpec), gidMappings: plan.gidMap.map(toSpec) } };
}

function maps(list: string[], kind: 'uid' | 'gid'): IdMapEntry[] | undefined {
  return list.length ? list.map((text) => parseIdMapEntry(text, kind)) : undefined;
}

export function parseVolume(text: string): BindMount {
  const i = text.indexOf(':');
  const [source, destination] = i < 0 ? ['', ''] : [text.slice(0, i), text.slice(i + 1)];
  if (!source.startsWith('/') || !destination.startsWith('/') || destination.split('/').includes('..')) {
    throw new UsageError(`--volume ${JSON.stringify(text)}: expected /HOST/PATH:/CONTAINER/PATH (absolute, no "..")`);
  }
  return { source, destination };
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function usernsSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  const base = rootfsSpecFromFlags(values, command);
  const uidMap = maps(strings(values['uid-map']), 'uid');
  const gidMap = maps(strings(values['gid-map']), 'gid');
  const volumes = strings(values.volume).map(parseVolume);
  // A map asks for a user namespace as clearly as --userns does.
  const userns = values.userns === true || uidMap !== undefined || gidMap !== undefined;
  return withUserns(base, { userns, volumes, ...(uidMap ? { uidMap } : {}), ...(gidMap ? { gidMap } : {}) });
}

/** What runInUserns needs, read from the spec. */
export function usernsOptions(spec: RuntimeSpec): UsernsRunOptions {
  const volumes = (spec.mounts ?? []).filter((m) => m.type === 'bind').map((m) => ({ source: m.source ?? '', destination: m.destination }));
  const userns = hasNamespace(spec, 'user')
    ? { uidMap: (spec.linux?.uidMappings ?? []).map(fromSpec), gidMap: (spec.linux?.gidMappings ?? []).map(fromSpec) }
    : undefined;
  return { ...rootfsOptions(spec), volumes, ...(userns ? { userns } : {}) };
}
