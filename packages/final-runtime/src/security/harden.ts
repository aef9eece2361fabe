// The init side: the process-level layers, applied in the one order that
// works, through one small interface so a test can assert that order
// without root (after youki's Syscall trait, like @hull/sys's Syscalls).
//
// Order, and why:
//   0. device nodes, oom_score_adj (an OCI spec's linux.devices and process.oomScoreAdj; `hull run` sets
//                                 neither): mknod needs CAP_MKNOD, lowering oom_score_adj CAP_SYS_RESOURCE
//   1. masked / read-only paths   mount(2): needs CAP_SYS_ADMIN, so before the drop; seccomp later denies mount
//   2. rlimits                    lowering needs nothing; do it while nothing can object
//   3. no_new_privs               from here on execve cannot grant privileges (setuid bits, file caps)
//   4. (seccomp, if no_new_privs is off: installing a filter then needs CAP_SYS_ADMIN, which step 6 removes)
//   5. bounding set               PR_CAPBSET_DROP needs CAP_SETPCAP: before the user switch loses it
//   6. setgroups/setresgid/setresuid, umask
//                                 KEEPCAPS is off, so going from uid 0 to another uid empties the
//                                 permitted and effective sets: a non-root user ends with nothing.
//                                 An OCI spec's explicit sets (processCapabilities) keep them across
//                                 the switch instead, as runc does: the spec says what the user gets
//   7. capset                     effective = permitted = the container's set (for root), inheritable empty;
//                                 or the spec's effective/permitted/inheritable
//   8. ambient cleared            then the spec's ambient set raised (each needs permitted + inheritable)
//   9. seccomp, last              so that none of the setup above has to pass the filter; only execve follows
// Capabilities, no_new_privs and seccomp filters are per thread: all of this
// runs on Node's main thread, the one that calls execve and survives it.
import {
  type CapabilitySets,
  capset,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  prctl,
  type Rlimit,
  seccompSetModeFilter,
  setgroups,
  setresgid,
  setresuid,
  setrlimit,
  type SockFilter,
  SyscallError,
  type Syscalls,
  linux,
  makedev,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
} from '@hull/sys';
import { lchownSync, writeFileSync } from 'node:fs';
import { type Capability, capabilityMask, capabilityNumber } from './capabilities.js';
import { applyPathRules } from './paths.js';
import { type RlimitSetting, toRlimit } from './rlimits.js';

/** What the init stage gets in its JSON spec; everything decided on the host side. */
export interface SecuritySpec {
  /** The container's capabilities when it runs as root (a non-root user gets none). */
  capabilities: Capability[];
  /** /proc/sys/kernel/cap_last_cap: the bounding set is dropped up to here. */
  lastCap: number;
  noNewPrivileges: boolean;
  /** The compiled filter as [code, jt, jf, k] rows; null = unconfined. */
  seccomp: [number, number, number, number][] | null;
  maskedPaths: string[];
  readonlyPaths: string[];
  rlimits: RlimitSetting[];
  /** The user to become; absent = stay root. */
  user?: { uid: number; gid: number; groups: number[] };
  // The fields below come only from an OCI spec (oci.ts, `hull-runtime`); `hull run` sets none of them.
  /** process.capabilities' other four sets; `capabilities` is then the bounding set alone. */
  processCapabilities?: ProcessCapabilities;
  /** process.user.umask. */
  umask?: number;
  /** process.oomScoreAdj, written to /proc/self/oom_score_adj (children inherit it). */
  oomScoreAdj?: number;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2) (linux.seccomp.flags). */
  seccompFlags?: number;
  /** linux.devices: nodes to make in the container's tree (after pivot_root). */
  devices?: DeviceNode[];
}

export interface ProcessCapabilities {
  effective: Capability[];
  permitted: Capability[];
  inheritable: Capability[];
  ambient: Capability[];
}

/** One linux.devices entry, checked on the host side: an absolute path, its parents made if missing. */
export interface DeviceNode {
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  /** Permission bits only. */
  fileMode: number;
  uid: number;
  gid: number;
}

export interface SecuritySyscalls extends Pick<Syscalls, 'mount' | 'mkdir' | 'mknod' | 'chmod'> {
  prctl(option: number, arg2: number, arg3?: number): void;
  capset(sets: CapabilitySets): void;
  setrlimit(resource: number, limit: Rlimit): void;
  setgroups(groups: readonly number[]): void;
  setresgid(r: number, e: number, s: number): void;
  setresuid(r: number, e: number, s: number): void;
  seccomp(program: readonly SockFilter[], flags?: number): void;
  lchown(path: string, uid: number, gid: number): void;
  umask(mask: number): void;
  setOomScoreAdj(value: number): void;
}

export const linuxSecurity: SecuritySyscalls = {
  mount: linux.mount,
  mkdir: linux.mkdir,
  mknod: linux.mknod,
  chmod: linux.chmod,
  prctl: (option, arg2, arg3 = 0) => void prctl(option, arg2, arg3),
  capset,
  setrlimit,
  setgroups,
  setresgid,
  setresuid,
  seccomp: (program, flags = 0) => seccompSetModeFilter(program, flags),
  lchown: (path, uid, gid) => lchownSync(path, uid, gid),
  // umask(2) belongs to the process (its fs_struct), so Node's main thread setting it is enough; execve keeps it.
  umask: (mask) => void process.umask(mask),
  // The container's /proc (mounted in its pid namespace), after pivot_root.
  setOomScoreAdj: (value) => writeFileSync('/proc/self/oom_score_adj', `${value}`),
};

export type SecurityCall = { [K in keyof SecuritySyscalls]: { call: K; args: Parameters<SecuritySyscalls[K]> } }[keyof SecuritySyscalls];

/** A double that records every call and does nothing. */
export class RecordingSecuritySyscalls implements SecuritySyscalls {
  readonly calls: SecurityCall[] = [];
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void {
    this.calls.push({ call: 'mount', args: [source, target, fstype, flags, data] });
  }
  prctl(option: number, arg2: number, arg3?: number): void {
    this.calls.push({ call: 'prctl', args: [option, arg2, arg3] });
  }
  capset(sets: CapabilitySets): void {
    this.calls.push({ call: 'capset', args: [sets] });
  }
  setrlimit(resource: number, limit: Rlimit): void {
    this.calls.push({ call: 'setrlimit', args: [resource, limit] });
  }
  setgroups(groups: readonly number[]): void {
    this.calls.push({ call: 'setgroups', args: [groups] });
  }
  setresgid(r: number, e: number, s: number): void {
    this.calls.push({ call: 'setresgid', args: [r, e, s] });
  }
  setresuid(r: number, e: number, s: number): void {
    this.calls.push({ call: 'setresuid', args: [r, e, s] });
  }
  seccomp(program: readonly SockFilter[], flags?: number): void {
    this.calls.push({ call: 'seccomp', args: flags === undefined ? [program] : [program, flags] });
  }
  mkdir(path: string, mode: number): void {
    this.calls.push({ call: 'mkdir', args: [path, mode] });
  }
  mknod(path: string, mode: number, dev: number): void {
    this.calls.push({ call: 'mknod', args: [path, mode, dev] });
  }
  chmod(path: string, mode: number): void {
    this.calls.push({ call: 'chmod', args: [path, mode] });
  }
  lchown(path: string, uid: number, gid: number): void {
    this.calls.push({ call: 'lchown', args: [path, uid, gid] });
  }
  umask(mask: number): void {
    this.calls.push({ call: 'umask', args: [mask] });
  }
  setOomScoreAdj(value: number): void {
    this.calls.push({ call: 'setOomScoreAdj', args: [value] });
  }
}

export function filterOf(spec: SecuritySpec): SockFilter[] | null {
  return spec.seccomp?.map(([code, jt, jf, k]) => ({ code, jt, jf, k })) ?? null;
}

/** Steps 0-9 above. Call it after setupRootfs (after pivot_root), right before execCommand. */
export function applySecurity(sys: SecuritySyscalls, spec: SecuritySpec): void {
  for (const node of spec.devices ?? []) makeDeviceNode(sys, node);
  if (spec.oomScoreAdj !== undefined) sys.setOomScoreAdj(spec.oomScoreAdj);
  applyPathRules(sys, spec.maskedPaths, spec.readonlyPaths);
  for (const limit of spec.rlimits) sys.setrlimit(limit.resource, toRlimit(limit));
  if (spec.noNewPrivileges) sys.prctl(PR_SET_NO_NEW_PRIVS, 1);
  const filter = filterOf(spec);
  const installFilter = (program: SockFilter[]) => (spec.seccompFlags ? sys.seccomp(program, spec.seccompFlags) : sys.seccomp(program));
  if (filter && !spec.noNewPrivileges) installFilter(filter);
  dropBoundingSet(sys, spec.capabilities, spec.lastCap);
  switchUser(sys, spec.user, spec.processCapabilities !== undefined);
  if (spec.umask !== undefined) sys.umask(spec.umask);
  sys.capset(capabilitySetsFor(spec));
  sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  for (const cap of spec.processCapabilities?.ambient ?? []) sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capabilityNumber(cap));
  if (filter && spec.noNewPrivileges) installFilter(filter);
}

/**
 * Step 7's sets: the container's capabilities for root, none for any other
 * user; never inheritable ones. An OCI spec's explicit sets are taken as
 * they are, for any user (runc's rule).
 */
export function capabilitySetsFor(spec: Pick<SecuritySpec, 'capabilities' | 'user' | 'processCapabilities'>): CapabilitySets {
  const sets = spec.processCapabilities;
  if (sets) return { effective: capabilityMask(sets.effective), permitted: capabilityMask(sets.permitted), inheritable: capabilityMask(sets.inheritable) };
  const keep = spec.user && spec.user.uid !== 0 ? 0n : capabilityMask(spec.capabilities);
  return { effective: keep, permitted: keep, inheritable: 0n };
}

const NODE_TYPE = { c: S_IFCHR, b: S_IFBLK, p: S_IFIFO } as const;

/**
 * Step 0: one linux.devices node, as runc makes it: parents first, an
 * existing file is left alone, then owner and mode (mknod's mode went
 * through the umask). After pivot_root, so the path resolves in the
 * container's tree only.
 */
export function makeDeviceNode(sys: SecuritySyscalls, node: DeviceNode): void {
  const parent = node.path.slice(0, node.path.lastIndexOf('/'));
  if (parent) sys.mkdir(parent, 0o755);
  try {
    sys.mknod(node.path, NODE_TYPE[node.type] | node.fileMode, node.type === 'p' ? 0 : makedev(node.major, node.minor));
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EEXIST') return;
    throw err;
  }
  sys.lchown(node.path, node.uid, node.gid);
  sys.chmod(node.path, node.fileMode);
}

/**
 * The bounding set caps what any later execve can give, even to a setuid-root
 * binary or to root itself (root's permitted set after execve IS the bounding
 * set). A capability dropped here never comes back in this process tree.
 */
export function dropBoundingSet(sys: SecuritySyscalls, keep: readonly Capability[], lastCap: number): void {
  const mask = capabilityMask(keep);
  for (let cap = 0; cap <= lastCap; cap++) if (((mask >> BigInt(cap)) & 1n) === 0n) sys.prctl(PR_CAPBSET_DROP, cap);
}

/**
 * Groups first: once the uid is not 0, setgroups/setresgid would be refused.
 * keepCaps (an OCI spec's explicit sets): the permitted set survives the
 * uid change so that capset can hand the user what the spec lists; it is
 * switched off again right after, so a later uid change in the container
 * clears the sets as usual.
 */
export function switchUser(sys: SecuritySyscalls, user: SecuritySpec['user'], keepCaps = false): void {
  if (!user) return;
  // Explicit, not assumed: with KEEPCAPS set, the uid change would keep the permitted set.
  sys.prctl(PR_SET_KEEPCAPS, keepCaps ? 1 : 0);
  sys.setgroups(user.groups);
  sys.setresgid(user.gid, user.gid, user.gid);
  sys.setresuid(user.uid, user.uid, user.uid);
  if (keepCaps) sys.prctl(PR_SET_KEEPCAPS, 0);
}
