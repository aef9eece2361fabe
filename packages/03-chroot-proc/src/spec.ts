// Chapter 03's part of config.json: `root`, `mounts`, `process.cwd` (and
// the env a container starts with), plus an ipc namespace, on top of
// chapter 02's. The /etc/hostname, /etc/hosts and /etc/resolv.conf files
// are the engine's business: generated per run and bound in at run time
// (run.ts), so they are not in the printed spec.
import { join, resolve } from 'node:path';
import { type OptionSpecs, type OptionValues, stringOption, UTS_FLAGS, utsOptions, withNamespaces } from '@hull/01-uts';
import { pidMountSpecFromFlags } from '@hull/02-pid-mount';
import type { RuntimeSpec } from '@hull/sys';
import { isKind } from './etc.js';
import { ROOTFS_MOUNTS, TMP_MOUNT } from './rootfs.js';
import { defaultEnv, type RootfsRunOptions } from './run.js';

export const ROOTFS_FLAGS: OptionSpecs = {
  rootfs: { type: 'string', value: 'DIR', required: true, help: "The container's root filesystem (a directory with /proc, /sys and /dev)" },
  ...UTS_FLAGS,
};

/** Chapter 02's spec, moved into its own root filesystem. */
export function withRootfs(spec: RuntimeSpec, rootfs: string): RuntimeSpec {
  const out = withNamespaces(spec, ['ipc']);
  const path = resolve(rootfs);
  const hostname = spec.hostname ?? '';
  return {
    ...out,
    root: { path },
    mounts: [...ROOTFS_MOUNTS, ...(isKind(join(path, 'tmp'), 'directory') ? [TMP_MOUNT] : []), ...(spec.mounts ?? [])],
    // Inside its own rootfs the host's environment and directory mean nothing: docker's defaults.
    process: { ...out.process!, env: defaultEnv(hostname), cwd: '/' },
  };
}

export function rootfsSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  return withRootfs(pidMountSpecFromFlags(values, command), stringOption(values, 'rootfs')!);
}

/** What runInRootfs needs, read from the spec (its init starts CMD in /; chapter 07's init honours another process.cwd). */
export function rootfsOptions(spec: RuntimeSpec): Pick<RootfsRunOptions, 'rootfs' | 'hostname' | 'argv' | 'env'> {
  const { hostname, argv, env } = utsOptions(spec);
  if (!spec.root?.path) throw new Error('chapter 03 runs a spec with a root');
  return { rootfs: spec.root.path, hostname, argv, env };
}
