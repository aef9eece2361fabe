// `run`: pull the image if the store lacks it, lay its layers out as a rootfs,
// and run it with everything so far: chapter 03's rootfs container, chapter
// 04's cgroup when a limit is given, chapter 06's network. The image config is
// honoured: Env, Entrypoint + Cmd (CMD given on the command line replaces Cmd),
// WorkingDir and User.
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, extname, printSpec, randomId } from '@hull/01-uts';
import { type Cgroup, cgroupIdOf, type CgroupLimits, createCgroup, limitsFromResources } from '@hull/04-cgroups';
import { type NetMode, networkOptions, runWithNetwork } from '@hull/06-network';
import type { RuntimeSpec } from '@hull/sys';
import { imageRuntimeSpec } from './image-spec.js';
import type { ImageSpec } from './init.js';
import { type ImageConfig, parseConfig } from './manifest.js';
import type { Progress } from './progress.js';
import { pull } from './pull.js';
import { flatten } from './unpack.js';
import { formatReference, parseReference } from './reference.js';
import type { Store } from './store.js';

export interface RunImageOptions {
  ref: string;
  /** replaces the image's Cmd; empty keeps it */
  command: string[];
  store: Store;
  progress: Progress;
  platform?: string;
  hostname?: string;
  insecure?: readonly string[];
  /** chapter 06: bridge (docker's default), none or host */
  net?: NetMode;
  /** chapter 04: a cgroup with these limits, when any is given */
  limits?: CgroupLimits;
  /** Print the config.json instead of running it (the image is still pulled and flattened: User names resolve in it). */
  printSpec?: boolean;
}

/** What runs: the Entrypoint, then CMD from the command line or else the image's Cmd. */
export function imageArgv(config: ImageConfig, command: readonly string[]): string[] {
  const c = config.config ?? {};
  return [...(c.Entrypoint ?? []), ...(command.length ? command : (c.Cmd ?? []))];
}

export async function runImage(opts: RunImageOptions): Promise<number> {
  const { store, progress } = opts;
  const name = formatReference(parseReference(opts.ref));
  let record = opts.platform ? undefined : store.image(name);
  if (!record) {
    progress.line(`Unable to find image '${name}' locally`);
    const image = await pull({ ref: opts.ref, store, progress, insecure: opts.insecure ?? [], ...(opts.platform ? { platform: opts.platform } : {}) });
    progress.stop();
    progress.line(`Digest: ${image.record.digest}`);
    record = image.record;
  }
  progress.stop();
  const config = parseConfig(store.readBlob(record.config), record.layers.length);
  if (imageArgv(config, opts.command).length === 0) throw new ContainerError(`${name}: no command: the image has no Entrypoint or Cmd; give one after --`);

  // One container's files: the flattened layers, removed when it exits.
  const id = randomId();
  const dir = join(store.root, 'containers', id);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs, { recursive: true, mode: 0o755 });
  try {
    await flatten(store, record.manifest, rootfs, (w) => progress.warn(w));
    // Images (scratch-based ones especially) may lack the mount points chapter 03 needs.
    for (const d of ['proc', 'sys', 'dev']) {
      try {
        lstatSync(join(rootfs, d));
      } catch {
        mkdirSync(join(rootfs, d), { mode: 0o755 });
      }
    }
    const { spec, warnings } = imageRuntimeSpec({
      config,
      rootfs,
      command: opts.command,
      hostname: opts.hostname ?? randomId(),
      net: opts.net ?? 'bridge',
      id,
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    for (const w of warnings) progress.warn(w);
    if (opts.printSpec) {
      printSpec(spec);
      return 0;
    }
    return await runImageSpec(spec);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run what an image's spec says: chapter 04's cgroup when it names limits, chapter 06's network, then our init (workdir, user). */
export async function runImageSpec(spec: RuntimeSpec): Promise<number> {
  const limits = limitsFromResources(spec.linux?.resources);
  const id = cgroupIdOf(spec);
  const user = spec.process?.user ?? { uid: 0, gid: 0 };
  let cgroup: Cgroup | undefined;
  try {
    if (id !== undefined && Object.keys(limits).length) cgroup = createCgroup(id, limits);
    const specExtra: Pick<ImageSpec, 'workdir' | 'user' | 'cgroupProcs'> = {
      workdir: spec.process?.cwd ?? '/',
      // conversion.md: additionalGids, when the image names its user; setgroups gets at least the primary group.
      user: { uid: user.uid, gid: user.gid, groups: user.additionalGids ?? [user.gid] },
      cgroupProcs: cgroup ? [...cgroup.procsFiles] : [],
    };
    return await runWithNetwork({ ...networkOptions(spec), stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url), specExtra });
  } finally {
    await cgroup?.destroy();
  }
}
