// `run`: pull the image if the store lacks it, lay its layers out as a rootfs,
// and run it with everything so far: chapter 03's rootfs container, chapter
// 04's cgroup when a limit is given, chapter 06's network. The image config is
// honoured: Env, Entrypoint + Cmd (CMD given on the command line replaces Cmd),
// WorkingDir and User.
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, extname, randomId } from '@hull/01-uts';
import { DEFAULT_PATH } from '@hull/03-chroot-proc';
import { type Cgroup, type CgroupLimits, createCgroup } from '@hull/04-cgroups';
import { type NetMode, runWithNetwork } from '@hull/06-network';
import type { ImageSpec } from './init.js';
import { type ImageConfig, parseConfig } from './manifest.js';
import type { Progress } from './progress.js';
import { pull } from './pull.js';
import { flatten } from './unpack.js';
import { formatReference, parseReference } from './reference.js';
import type { Store } from './store.js';
import { resolveUser } from './user.js';

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
}

/** What runs: the Entrypoint, then CMD from the command line or else the image's Cmd. */
export function imageArgv(config: ImageConfig, command: readonly string[]): string[] {
  const c = config.config ?? {};
  return [...(c.Entrypoint ?? []), ...(command.length ? command : (c.Cmd ?? []))];
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
  const argv = imageArgv(config, opts.command);
  if (argv.length === 0) throw new ContainerError(`${name}: no command: the image has no Entrypoint or Cmd; give one after --`);

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
    const user = resolveUser(rootfs, config.config?.User);
    const hostname = opts.hostname ?? randomId();
    const workdir = config.config?.WorkingDir || '/';
    if (!workdir.startsWith('/')) throw new ContainerError(`${name}: WorkingDir ${JSON.stringify(workdir)} is not absolute`);
    const limits = opts.limits && Object.keys(opts.limits).length ? opts.limits : undefined;
    let cgroup: Cgroup | undefined;
    try {
      if (limits) cgroup = createCgroup(id, limits);
      const specExtra: Pick<ImageSpec, 'workdir' | 'user' | 'cgroupProcs'> = {
        workdir,
        user: { uid: user.uid, gid: user.gid, groups: user.groups },
        cgroupProcs: cgroup ? [...cgroup.procsFiles] : [],
      };
      return await runWithNetwork({
        rootfs,
        hostname,
        argv,
        env: imageEnv(config, hostname, user.home),
        net: opts.net ?? 'bridge',
        stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url),
        specExtra,
      });
    } finally {
      await cgroup?.destroy();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
