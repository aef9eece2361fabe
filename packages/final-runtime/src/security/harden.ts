// The init side: the process-level layers, applied in the one order that
// works, through one small interface so a test can assert that order
// without root (after youki's Syscall trait, like @hull/sys's Syscalls).
//
// Order, and why:
//   1. masked / read-only paths   mount(2): needs CAP_SYS_ADMIN, so before the drop; seccomp later denies mount
//   2. rlimits                    lowering needs nothing; do it while nothing can object
//   3. no_new_privs               from here on execve cannot grant privileges (setuid bits, file caps)
//   4. (seccomp, if no_new_privs is off: installing a filter then needs CAP_SYS_ADMIN, which step 6 removes)
//   5. bounding set               PR_CAPBSET_DROP needs CAP_SETPCAP: before the user switch loses it
//   6. setgroups/setresgid/setresuid
//                                 KEEPCAPS is off, so going from uid 0 to another uid empties the
//                                 permitted and effective sets: a non-root user ends with nothing
//   7. capset                     effective = permitted = the container's set (for root), inheritable empty
//   8. ambient cleared
//   9. seccomp, last              so that none of the setup above has to pass the filter; only execve follows
// Capabilities, no_new_privs and seccomp filters are per thread: all of this
// runs on Node's main thread, the one that calls execve and survives it.
import {
  type CapabilitySets,
  capset,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
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
  type Syscalls,
  linux,
} from '@hull/sys';
import { type Capability, capabilityMask } from './capabilities.js';
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
}

export interface SecuritySyscalls extends Pick<Syscalls, 'mount'> {
  prctl(option: number, arg2: number, arg3?: number): void;
  capset(sets: CapabilitySets): void;
  setrlimit(resource: number, limit: Rlimit): void;
  setgroups(groups: readonly number[]): void;
  setresgid(r: number, e: number, s: number): void;
  setresuid(r: number, e: number, s: number): void;
  seccomp(program: readonly SockFilter[]): void;
}

export const linuxSecurity: SecuritySyscalls = {
  mount: linux.mount,
  prctl: (option, arg2, arg3 = 0) => void prctl(option, arg2, arg3),
  capset,
  setrlimit,
  setgroups,
  setresgid,
  setresuid,
  seccomp: (program) => seccompSetModeFilter(program),
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
  seccomp(program: readonly SockFilter[]): void {
    this.calls.push({ call: 'seccomp', args: [program] });
  }
}

export function filterOf(spec: SecuritySpec): SockFilter[] | null {
  return spec.seccomp?.map(([code, jt, jf, k]) => ({ code, jt, jf, k })) ?? null;
}

/** Steps 1-9 above. Call it after setupRootfs (after pivot_root), right before execCommand. */
export function applySecurity(sys: SecuritySyscalls, spec: SecuritySpec): void {
  applyPathRules(sys, spec.maskedPaths, spec.readonlyPaths);
  for (const limit of spec.rlimits) sys.setrlimit(limit.resource, toRlimit(limit));
  if (spec.noNewPrivileges) sys.prctl(PR_SET_NO_NEW_PRIVS, 1);
  const filter = filterOf(spec);
  if (filter && !spec.noNewPrivileges) sys.seccomp(filter);
  dropBoundingSet(sys, spec.capabilities, spec.lastCap);
  switchUser(sys, spec.user);
  sys.capset(capabilitySetsFor(spec));
  sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  if (filter && spec.noNewPrivileges) sys.seccomp(filter);
}

/** Step 7's sets: the container's capabilities for root, none for any other user; never inheritable ones. */
export function capabilitySetsFor(spec: Pick<SecuritySpec, 'capabilities' | 'user'>): CapabilitySets {
  const keep = spec.user && spec.user.uid !== 0 ? 0n : capabilityMask(spec.capabilities);
  return { effective: keep, permitted: keep, inheritable: 0n };
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

/** Groups first: once the uid is not 0, setgroups/setresgid would be refused. */
export function switchUser(sys: SecuritySyscalls, user: SecuritySpec['user']): void {
  if (!user) return;
  // Explicit, not assumed: with KEEPCAPS set, the uid change would keep the permitted set.
  sys.prctl(PR_SET_KEEPCAPS, 0);
  sys.setgroups(user.groups);
  sys.setresgid(user.gid, user.gid, user.gid);
  sys.setresuid(user.uid, user.uid, user.uid);
}
