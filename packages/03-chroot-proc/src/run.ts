// Host side of chapter 03: check the rootfs, generate the /etc files, run the
// init stage in new namespaces, clean up.
import { chmodSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ContainerError, extname, hostnameProblem, randomId, runContainer } from '@hull/01-uts';
import { PID_MOUNT_NAMESPACES } from '@hull/02-pid-mount';
import type { Namespace } from '@hull/sys';
import { type EtcFiles, hostsFile, isKind, prepareEtc, resolvConf } from './etc.js';
import type { RootfsSpec } from './rootfs.js';

/** The namespaces a rootfs container gets: ['uts', 'pid', 'mnt', 'ipc']. */
export const ROOTFS_NAMESPACES: Namespace[] = [...PID_MOUNT_NAMESPACES, 'ipc'];

/** Directories the rootfs must have, because we mount on them and may not create them. */
export const REQUIRED_MOUNTPOINTS = ['proc', 'sys', 'dev'] as const;

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Host side: check DIR exists and is a directory (ContainerError "rootfs DIR: no such directory" otherwise). */
export function checkRootfs(dir: string): string {
  let real: string;
  try {
    real = realpathSync(resolve(dir));
  } catch {
    throw new ContainerError(`rootfs ${dir}: no such directory`);
  }
  if (!statSync(real).isDirectory()) throw new ContainerError(`rootfs ${dir}: not a directory`);
  return real;
}

/**
 * The mount points the rootfs lacks. They must be real directories, not
 * symlinks: an image's `proc -> /somewhere` would make us mount over
 * whatever it points at.
 */
export function missingMountpoints(rootfs: string): string[] {
  return REQUIRED_MOUNTPOINTS.filter((d) => !isKind(join(rootfs, d), 'directory')).map((d) => `/${d}`);
}

/** What a container starts with when the caller gives no env (docker's defaults). */
export function defaultEnv(hostname: string): string[] {
  const env = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, 'HOME=/root'];
  if (process.env.TERM) env.push(`TERM=${process.env.TERM}`);
  return env;
}

export interface RootfsRunOptions {
  rootfs: string;
  hostname?: string;
  argv: string[];
  env?: string[];
  /** extra namespaces (e.g. 'net', 'user') added to ROOTFS_NAMESPACES */
  namespaces?: Namespace[];
  /** the init module to run; defaults to chapter 03's own init (which calls setupRootfs then execs). */
  stage?: URL;
  /** extra JSON fields merged into the spec for a later chapter's init stage (the fields 03 sets itself win) */
  specExtra?: Record<string, unknown>;
  /** replace the generated /etc/hosts or /etc/resolv.conf (e.g. chapter 06 knows the container's address) */
  etc?: Partial<Pick<EtcFiles, 'hosts' | 'resolv.conf'>>;
  beforeStart?: (pid: number) => void | Promise<void>;
  onStart?: (pid: number) => void;
}

/** Host side: validate, prepare, runContainer(...), clean up; resolves to the exit code. */
export async function runInRootfs(opts: RootfsRunOptions): Promise<number> {
  const rootfs = checkRootfs(opts.rootfs);
  const missing = missingMountpoints(rootfs);
  if (missing.length) {
    throw new ContainerError(`rootfs ${opts.rootfs}: no ${missing.join(', ')} (directories needed as mount points)`);
  }
  const hostname = opts.hostname ?? randomId();
  const problem = hostnameProblem(hostname);
  if (problem) throw new ContainerError(`hostname ${JSON.stringify(hostname)} ${problem}`);
  const namespaces = [...new Set([...ROOTFS_NAMESPACES, ...(opts.namespaces ?? [])])];

  // Per-run files live here until the container exits; the container sees
  // them only through bind mounts, in its own mount namespace.
  const runDir = makeRunDir();
  try {
    // Readable by a user namespace's root too, which may map to another host uid.
    chmodSync(runDir, 0o755);
    const binds = prepareEtc(rootfs, runDir, {
      hostname: `${hostname}\n`,
      hosts: opts.etc?.hosts ?? hostsFile(hostname),
      'resolv.conf': opts.etc?.['resolv.conf'] ?? resolvConf(namespaces.includes('net')),
    });
    const spec: RootfsSpec = {
      ...opts.specExtra,
      argv: opts.argv,
      env: opts.env ?? defaultEnv(hostname),
      hostname,
      rootfs,
      binds,
      tmp: isKind(join(rootfs, 'tmp'), 'directory'),
    };
    return await runContainer<RootfsSpec>({
      stage: opts.stage ?? new URL(`./init${extname(import.meta.url)}`, import.meta.url),
      spec,
      namespaces,
      ...(opts.beforeStart ? { beforeStart: opts.beforeStart } : {}),
      ...(opts.onStart ? { onStart: opts.onStart } : {}),
    });
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

const RUN_DIR_PREFIX = 'hull-run-';

/**
 * A per-run temp dir named after our pid. `finally` removes it, but nothing
 * runs after a SIGKILL: so first remove the dirs of runs whose process is gone.
 */
function makeRunDir(): string {
  const pattern = new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-`);
  for (const name of readdirSync(tmpdir())) {
    const owner = pattern.exec(name)?.[1];
    if (owner !== undefined && !isAlive(Number(owner))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return mkdtempSync(join(tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-`));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}
