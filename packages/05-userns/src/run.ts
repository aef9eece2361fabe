// Host side of chapter 05: chapter 03's rootfs container, plus a user
// namespace created in the SAME clone as the others, so it owns them (a
// namespace belongs to the user namespace its creator was in at creation).
import { lstatSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerError, extname } from '@hull/01-uts';
import { type BindMount, checkRootfs, runInRootfs } from '@hull/03-chroot-proc';
import { SyscallError } from '@hull/sys';
import { type IdMapEntry, toHost } from './idmap.js';
import { IdmappedRootfs } from './idmapped.js';
import type { Caller } from './subordinate.js';
import { currentCaller, planUserNamespace, type UserNamespacePlan, userNamespaceProblem, writeIdMaps } from './userns.js';

/** What our init stage adds to chapter 03's spec. */
export interface UsernsSpecExtra {
  /** Host directories or files bound into the container (docker's -v), after the /etc files. */
  volumes: BindMount[];
}

export interface UsernsRunOptions {
  rootfs: string;
  hostname?: string;
  argv: string[];
  env?: string[];
  /** A user namespace with these maps (defaults per planUserNamespace). Rootless callers always get one. */
  userns?: { uidMap?: IdMapEntry[]; gidMap?: IdMapEntry[] };
  volumes?: BindMount[];
  caller?: Caller;
  beforeStart?: (pid: number) => void | Promise<void>;
  onStart?: (pid: number) => void;
}

/** Host side: plan the maps, check the host, idmap the rootfs (root), run; resolves to the exit code. */
export async function runInUserns(opts: UsernsRunOptions): Promise<number> {
  const caller = opts.caller ?? currentCaller();
  const rootless = caller.uid !== 0;
  const stage = new URL(`./init${extname(import.meta.url)}`, import.meta.url);
  const base = { hostname: opts.hostname, argv: opts.argv, env: opts.env, stage };
  const rootfs = checkRootfs(opts.rootfs);
  const volumes = (opts.volumes ?? []).map((v) => checkVolume(rootfs, v));
  const specExtra: UsernsSpecExtra = { volumes };
  if (!opts.userns && !rootless) {
    return runInRootfs({ ...definedOnly(base), rootfs, specExtra: { ...specExtra }, ...hooks(opts) });
  }

  const plan = planUserNamespace({ caller, ...definedOnly({ uidMap: opts.userns?.uidMap, gidMap: opts.userns?.gidMap }) });
  const problem = userNamespaceProblem(rootless);
  if (problem) throw new ContainerError(problem);

  if (!rootless) checkStageReadable(fileURLToPath(stage), toHost(plan.uidMap, 0)!, toHost(plan.gidMap, 0)!);

  // Root: the rootfs is seen through the container's maps (idmapped.ts).
  // Rootless: no idmap is possible (it needs CAP_SYS_ADMIN over the
  // filesystem), so the files show their host owners through our map: the
  // caller's own files belong to root inside, everything else to nobody.
  const idmapped = rootless ? undefined : await IdmappedRootfs.create(rootfs, plan);
  try {
    return await runInRootfs({
      ...definedOnly(base),
      rootfs: idmapped?.path ?? rootfs,
      namespaces: ['user'],
      specExtra: { ...specExtra },
      beforeStart: async (pid) => {
        writeIdMaps(pid, plan);
        // The child's mount namespace has its own copy of the idmapped mount by now.
        idmapped?.detach();
        await opts.beforeStart?.(pid);
      },
      onStart: (pid) => {
        idmapped?.release();
        opts.onStart?.(pid);
      },
    });
  } catch (err) {
    throw explainCloneFailure(err, plan);
  } finally {
    idmapped?.release();
  }
}

/**
 * The init stage is a Node process that runs as the container's root, which
 * is host uid 100000, not root: it must be able to read our sources. A repo
 * cloned into /root (mode 0700) is not, and Node would die with a stack
 * trace before it could report anything. Say so instead.
 */
export function checkStageReadable(file: string, uid: number, gid: number): void {
  const can = (path: string, bit: number): boolean => {
    const st = statSync(path);
    const shift = st.uid === uid ? 6 : st.gid === gid ? 3 : 0;
    return ((st.mode >> shift) & bit) !== 0;
  };
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (!can(dir, 0o1)) {
      throw new ContainerError(
        `the container's root (host uid ${uid}) cannot reach our init stage: ${dir} is mode ${(statSync(dir).mode & 0o777).toString(8)}; put the repository where others can read it (chmod o+rx ${dir}, or clone it under /opt)`,
      );
    }
    if (dir === dirname(dir)) break;
  }
  if (!can(file, 0o4)) throw new ContainerError(`the container's root (host uid ${uid}) cannot read our init stage ${file}`);
}

function hooks(opts: UsernsRunOptions): Pick<UsernsRunOptions, 'beforeStart' | 'onStart'> {
  return definedOnly({ beforeStart: opts.beforeStart, onStart: opts.onStart });
}

/** exactOptionalPropertyTypes: drop the keys whose value is undefined. */
function definedOnly<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** clone(CLONE_NEWUSER) fails with ENOSPC at the namespace limit and EPERM where policy forbids it. */
function explainCloneFailure(err: unknown, plan: UserNamespacePlan): unknown {
  if (!(err instanceof SyscallError) || err.syscall !== 'clone') return err;
  const why =
    err.code === 'ENOSPC'
      ? 'the limit of user namespaces is reached (sysctl user.max_user_namespaces)'
      : plan.rootless
        ? 'this host does not let unprivileged users create user namespaces'
        : 'the kernel refused';
  return new ContainerError(`cannot create a user namespace: ${why}: ${err.message}`);
}

/**
 * A volume's source must exist, and its destination must already exist in
 * the rootfs, as the same kind (a mount needs an existing target, and we do
 * not write into the rootfs), and not through a symlink, which could point
 * at a host path.
 */
export function checkVolume(rootfs: string, v: BindMount): BindMount {
  let source;
  try {
    source = statSync(v.source);
  } catch {
    throw new ContainerError(`volume ${v.source}: no such file or directory on the host`);
  }
  const parts = v.destination.split('/').filter(Boolean);
  let target;
  try {
    let path = rootfs;
    for (const p of parts) {
      path = join(path, p);
      target = lstatSync(path);
      if (target.isSymbolicLink()) throw new Error('symlink');
    }
  } catch {
    target = undefined;
  }
  if (!target || target.isDirectory() !== source.isDirectory()) {
    throw new ContainerError(
      `volume ${v.source}:${v.destination}: ${v.destination} must exist in the rootfs as a ${source.isDirectory() ? 'directory' : 'file'} (symlinks are not followed)`,
    );
  }
  return { source: v.source, destination: posix.normalize(`/${parts.join('/')}`) };
}
