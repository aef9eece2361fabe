// Chapter 02's part of config.json: pid and mount entries in
// linux.namespaces, and linux.rootfsPropagation, on top of chapter 01's.
import { hasNamespace, type OptionValues, utsOptions, utsSpecFromFlags, UTS_FLAGS, withNamespaces } from '@hull/01-uts';
import type { RuntimeSpec } from '@hull/sys';
import { CONTAINER_PROPAGATION, ROOTFS_PROPAGATION, type RootfsPropagation } from './mounts.js';
import type { PidMountOptions } from './run.js';

export const PID_MOUNT_FLAGS = UTS_FLAGS;

/** Chapter 01's spec plus what this chapter teaches. */
export function withPidMount(spec: RuntimeSpec): RuntimeSpec {
  const out = withNamespaces(spec, ['pid', 'mount']);
  return { ...out, linux: { ...out.linux, rootfsPropagation: CONTAINER_PROPAGATION } };
}

export function pidMountSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  return withPidMount(utsSpecFromFlags(values, command));
}

/** What runInPidMount needs, read from the spec; a propagation that would leak mounts to the host is refused there. */
export function pidMountOptions(spec: RuntimeSpec): PidMountOptions {
  const propagation = spec.linux?.rootfsPropagation ?? CONTAINER_PROPAGATION;
  if (!hasNamespace(spec, 'pid') || !hasNamespace(spec, 'mount')) throw new Error('chapter 02 runs a spec with pid and mount namespaces');
  if (!(propagation in ROOTFS_PROPAGATION)) throw new Error(`rootfsPropagation ${JSON.stringify(propagation)}: unknown`);
  return { ...utsOptions(spec), rootfsPropagation: propagation as RootfsPropagation };
}
