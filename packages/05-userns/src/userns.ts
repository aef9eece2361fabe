// The host side of a user namespace: decide the maps (root-remapped or
// rootless), check the host allows user namespaces at all, and write the maps
// while the child waits on the sync pipe (sys.spawn's beforeStart).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ContainerError, UsageError } from '@hull/01-uts';
import { errnoValue, getgid, getuid, SyscallError } from '@hull/sys';
import { DEFAULT_REMAP, formatIdMap, idMapArgs, type IdKind, type IdMapEntry, validateIdMap } from './idmap.js';
import { type Caller, checkOwnedMap, findMapHelper, isSelfMap, readSubordinateRanges, rootlessDefaultMap } from './subordinate.js';

export interface UserNamespacePlan {
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  /** An unprivileged caller: no idmapped rootfs, no cgroups, maps limited to what it owns. */
  rootless: boolean;
  /**
   * How the maps get written: by us through /proc/PID/{uid,gid}_map (root,
   * or a rootless caller mapping only itself), or by the setuid helpers.
   */
  writer: 'proc' | 'newidmap';
  /** "deny" when we write a rootless gid_map ourselves: the kernel demands it (see docs, "why setgroups"). */
  setgroups: 'allow' | 'deny';
}

export interface PlanRequest {
  caller: Caller;
  uidMap?: IdMapEntry[];
  gidMap?: IdMapEntry[];
  subuidFile?: string;
  subgidFile?: string;
  /** Where newuidmap/newgidmap are searched; undefined = $PATH. */
  helperPath?: string;
}

/** Who we are on the host. */
export function currentCaller(): Caller {
  const uid = getuid();
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    // a uid with no passwd entry: subuid(5) lines may still name it by number
  }
  return { uid, gid: getgid(), name };
}

/**
 * Root: the maps given, or the default remap (0 -> 100000, 65536 ids).
 * Rootless: the maps given, checked against what the caller owns, or podman's
 * default (own id -> 0, subordinate ranges from 1) when newuidmap/newgidmap
 * and ranges exist, else just the own id.
 */
export function planUserNamespace(req: PlanRequest): UserNamespacePlan {
  const { caller } = req;
  if (caller.uid === 0) {
    const uidMap = req.uidMap ?? [...DEFAULT_REMAP];
    const gidMap = req.gidMap ?? [...DEFAULT_REMAP];
    validateIdMap(uidMap, 'uid');
    validateIdMap(gidMap, 'gid');
    return { uidMap, gidMap, rootless: false, writer: 'proc', setgroups: 'allow' };
  }
  const helpers = findMapHelper('uid', req.helperPath) !== undefined && findMapHelper('gid', req.helperPath) !== undefined;
  const owner = (id: number) => ({ name: caller.name, id });
  const subuid = helpers ? readSubordinateRanges(req.subuidFile ?? '/etc/subuid', owner(caller.uid)) : [];
  const subgid = helpers ? readSubordinateRanges(req.subgidFile ?? '/etc/subgid', owner(caller.uid)) : [];
  const uidMap = req.uidMap ?? rootlessDefaultMap(caller.uid, subuid);
  const gidMap = req.gidMap ?? rootlessDefaultMap(caller.gid, subgid);
  validateIdMap(uidMap, 'uid');
  validateIdMap(gidMap, 'gid');
  checkOwnedMap(uidMap, 'uid', caller.uid, subuid, caller.name);
  checkOwnedMap(gidMap, 'gid', caller.gid, subgid, caller.name);
  const self = isSelfMap(uidMap, caller.uid) && isSelfMap(gidMap, caller.gid);
  if (!self && !helpers) {
    throw new UsageError('mapping more than your own uid and gid needs newuidmap and newgidmap (Debian package uidmap)');
  }
  return self
    ? { uidMap, gidMap, rootless: true, writer: 'proc', setgroups: 'deny' }
    : { uidMap, gidMap, rootless: true, writer: 'newidmap', setgroups: 'allow' };
}

/**
 * Why this host cannot give us a user namespace, or undefined if it can.
 * Checked before cloning so the user reads the sysctl to change, not ENOSPC.
 */
export function userNamespaceProblem(rootless: boolean, proc = '/proc/sys'): string | undefined {
  const read = (name: string): string | undefined => {
    try {
      return readFileSync(`${proc}/${name}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  if (read('user/max_user_namespaces') === '0') {
    return 'user namespaces are disabled on this host (sysctl user.max_user_namespaces = 0)';
  }
  if (!rootless) return undefined;
  // Debian and Ubuntu kernels before 6.x carried this switch for unprivileged callers.
  if (read('kernel/unprivileged_userns_clone') === '0') {
    return 'unprivileged user namespaces are disabled on this host (sysctl kernel.unprivileged_userns_clone = 0); run with sudo, or ask an admin to set it to 1';
  }
  // Ubuntu 24.04: AppArmor allows unprivileged user namespaces only to profiled programs.
  if (read('kernel/apparmor_restrict_unprivileged_userns') === '1') {
    return 'AppArmor restricts unprivileged user namespaces on this host (sysctl kernel.apparmor_restrict_unprivileged_userns = 1); run with sudo, or give node an AppArmor profile with "userns,"';
  }
  return undefined;
}

/**
 * Write the maps of the child `pid`, which is blocked before exec. The order
 * is the kernel's: uid_map, then setgroups, then gid_map (an unprivileged
 * writer may write gid_map only after setgroups=deny).
 */
export function writeIdMaps(pid: number, plan: UserNamespacePlan): void {
  if (plan.writer === 'newidmap') {
    runMapHelper('uid', pid, plan.uidMap);
    runMapHelper('gid', pid, plan.gidMap);
    return;
  }
  writeProcFile(`/proc/${pid}/uid_map`, formatIdMap(plan.uidMap));
  if (plan.setgroups === 'deny') writeProcFile(`/proc/${pid}/setgroups`, 'deny');
  writeProcFile(`/proc/${pid}/gid_map`, formatIdMap(plan.gidMap));
}

/** The kernel takes a whole map in ONE write(2); a second write to the file fails with EPERM. */
function writeProcFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new SyscallError('write', errnoValue(code), [path, text.trim().replace(/\n/g, '; ')]);
  }
}

function runMapHelper(kind: IdKind, pid: number, map: IdMapEntry[]): void {
  const helper = findMapHelper(kind)!;
  try {
    execFileSync(helper, [String(pid), ...idMapArgs(map)], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n')[0] || (err as Error).message;
    throw new ContainerError(`${helper} ${pid} ${idMapArgs(map).join(' ')}: ${stderr}`);
  }
}
