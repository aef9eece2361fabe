// Chapter 07's config.json: chapters 01-06's parts for the container this
// step runs (its limits, chapter 04's, only when one is given), with the
// image config converted into process, annotations and so on as the image
// spec's conversion.md says (conversion.ts).
import { utsSpec } from '@hull/01-uts';
import { withPidMount } from '@hull/02-pid-mount';
import { DEFAULT_PATH, withRootfs } from '@hull/03-chroot-proc';
import { type CgroupLimits, withCgroup } from '@hull/04-cgroups';
import { type NetMode, withNetwork } from '@hull/06-network';
import type { RuntimeSpec } from '@hull/sys';
import { runtimeConfigFromImage } from './conversion.js';
import type { ImageConfig } from './manifest.js';
import { resolveUser } from './user.js';

export interface ImageSpecInput {
  config: ImageConfig;
  /** The flattened layers. */
  rootfs: string;
  /** CMD from the command line; it replaces the image's Cmd (docker's rule). Empty keeps it. */
  command: readonly string[];
  hostname: string;
  net: NetMode;
  /** Chapter 04's cgroup, /hull/<id>, when any limit is given. */
  limits?: CgroupLimits;
  id: string;
}

export interface ImageRuntimeSpec {
  spec: RuntimeSpec;
  /** What conversion.md says to report: labels left out. */
  warnings: string[];
}

/** The image config with Cmd replaced by the command line's CMD, when one is given. */
function withCommand(image: ImageConfig, command: readonly string[]): ImageConfig {
  return command.length ? { ...image, config: { ...image.config, Cmd: [...command] } } : image;
}

/** The image's Env, with PATH and HOME filled in when it does not set them (as docker does). */
export function imageEnv(config: ImageConfig, hostname: string, home: string): string[] {
  const env = [...(config.config?.Env ?? [])];
  const has = (k: string): boolean => env.some((e) => e.startsWith(`${k}=`));
  if (!has('PATH')) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (!has('HOSTNAME')) env.push(`HOSTNAME=${hostname}`);
  if (!has('HOME')) env.push(`HOME=${home}`);
  if (process.env.TERM && !has('TERM')) env.push(`TERM=${process.env.TERM}`);
  return env;
}

export function imageRuntimeSpec(input: ImageSpecInput): ImageRuntimeSpec {
  const converted = runtimeConfigFromImage(withCommand(input.config, input.command), { rootfs: input.rootfs });
  const { home } = resolveUser(input.rootfs, input.config.config?.User);
  let spec = withRootfs(withPidMount(utsSpec({ hostname: input.hostname, args: converted.process.args ?? [] })), input.rootfs);
  if (input.limits && Object.keys(input.limits).length) spec = withCgroup(spec, input.limits, input.id);
  spec = {
    ...spec,
    // conversion.md lets a converter add names the image's Env lacks, never change its own: docker's HOSTNAME, HOME, TERM.
    process: { ...spec.process!, ...converted.process, env: imageEnv(input.config, input.hostname, home) },
    annotations: converted.annotations,
  };
  // Last, so the engine's own annotations are the ones that count (and conversion drops org.hull.* labels anyway).
  return { spec: withNetwork(spec, { net: input.net, publish: [] }), warnings: converted.warnings };
}
