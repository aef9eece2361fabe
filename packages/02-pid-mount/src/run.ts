import { type BaseSpec, extname, runContainer } from '@hull/01-uts';
import type { Namespace } from '@hull/sys';
import type { RootfsPropagation } from './mounts.js';

/** Chapter 01's UTS namespace plus a PID namespace (CMD is PID 1) and a mount namespace. */
export const PID_MOUNT_NAMESPACES: Namespace[] = ['uts', 'pid', 'mnt'];

/** What chapter 02's init stage reads. */
export interface PidMountSpec extends BaseSpec {
  rootfsPropagation?: RootfsPropagation;
}

export interface PidMountOptions {
  hostname: string;
  argv: string[];
  env: string[];
  /** linux.rootfsPropagation for "/" (default rprivate). */
  rootfsPropagation?: RootfsPropagation;
  onStart?: (pid: number) => void;
}

/** Run argv as PID 1 of new PID, mount and UTS namespaces; resolves to its exit code. */
export function runInPidMount(opts: PidMountOptions): Promise<number> {
  return runContainer<PidMountSpec>({
    stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url),
    spec: { argv: opts.argv, env: opts.env, hostname: opts.hostname, ...(opts.rootfsPropagation ? { rootfsPropagation: opts.rootfsPropagation } : {}) },
    namespaces: PID_MOUNT_NAMESPACES,
    ...(opts.onStart ? { onStart: opts.onStart } : {}),
  });
}
