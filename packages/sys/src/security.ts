// Thin bindings for the hardening syscalls: capabilities, seccomp and
// resource limits. Like syscalls.ts, one typed function per syscall; the
// policy (which capabilities, which filter, which limits) lives in
// packages/final-runtime/src/security.
import koffi from 'koffi';
import { checkErrno } from './errors.js';
import { libc, raw } from './libc.js';

/** glibc 2.36 wraps neither capget/capset (libcap does) nor seccomp; their numbers differ per architecture. */
const NUMBERS: Record<string, { capget: number; capset: number; seccomp: number }> = {
  x64: { capget: 125, capset: 126, seccomp: 317 },
  arm64: { capget: 90, capset: 91, seccomp: 277 },
};

function nr(name: 'capget' | 'capset' | 'seccomp'): number {
  const table = NUMBERS[process.arch];
  if (!table) throw new Error(`hull: no syscall number for ${name} on ${process.arch}`);
  return table[name];
}

// ------------------------------------------------------------ capabilities

/** _LINUX_CAPABILITY_VERSION_3 (<linux/capability.h>): 64-bit sets passed as two 32-bit words. */
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** prctl(2) PR_CAP_AMBIENT sub-operations. */
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_LOWER = 3;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

/** A thread's three capability sets, as 64-bit masks (bit N = capability number N). */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function capHeader(pid: number): Buffer {
  // struct __user_cap_header_struct { __u32 version; int pid; }
  const header = Buffer.alloc(8);
  header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  header.writeInt32LE(pid, 4);
  return header;
}

/** capget(2) for a thread (0 = the calling thread). */
export function capget(pid = 0): CapabilitySets {
  const data = Buffer.alloc(24); // struct __user_cap_data_struct[2] { __u32 effective, permitted, inheritable; }
  checkErrno(raw.syscall(nr('capget'), 'void *', capHeader(pid), 'void *', data), 'capget', [pid]);
  const word = (i: number, field: number) => BigInt(data.readUInt32LE(i * 12 + field * 4));
  const set = (field: number) => word(0, field) | (word(1, field) << 32n);
  return { effective: set(0), permitted: set(1), inheritable: set(2) };
}

/** capset(2) for the calling thread. Capabilities are per thread: the thread that calls execve keeps them. */
export function capset(sets: CapabilitySets): void {
  const data = Buffer.alloc(24);
  const fields = [sets.effective, sets.permitted, sets.inheritable];
  for (let i = 0; i < 2; i++) {
    fields.forEach((mask, field) => data.writeUInt32LE(Number((mask >> BigInt(32 * i)) & 0xffffffffn), i * 12 + field * 4));
  }
  checkErrno(raw.syscall(nr('capset'), 'void *', capHeader(0), 'void *', data), 'capset', [hex(sets.effective), hex(sets.permitted), hex(sets.inheritable)]);
}

// ------------------------------------------------------------------ seccomp

/** seccomp(2) operations and flags (<linux/seccomp.h>). */
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_LOG = 2;
export const SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4;

/** One classic BPF instruction, struct sock_filter. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Encode instructions as the kernel's struct sock_filter[] (8 bytes each). */
export function encodeSockFilters(program: readonly SockFilter[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/**
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog): attach a classic BPF
 * filter to the calling thread. The kernel requires no_new_privs or
 * CAP_SYS_ADMIN, and the filter survives execve.
 */
export function seccompSetModeFilter(program: readonly SockFilter[], flags = 0): void {
  const filters = encodeSockFilters(program);
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: the pointer sits at offset 8 on 64-bit.
  const prog = Buffer.alloc(16);
  prog.writeUInt16LE(program.length, 0);
  prog.writeBigUInt64LE(koffi.address(filters), 8);
  const ret = raw.syscall(nr('seccomp'), 'unsigned int', SECCOMP_SET_MODE_FILTER, 'unsigned int', flags, 'void *', prog);
  // `filters` must stay alive until the kernel has copied it; this use keeps it reachable past the call.
  void filters.length;
  checkErrno(ret, 'seccomp', ['SECCOMP_SET_MODE_FILTER', program.length]);
}

// ------------------------------------------------------------------ rlimits

/** Resource numbers for getrlimit(2) (<asm-generic/resource.h>; the same on x86_64 and aarch64). */
export const RLIMIT = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
} as const;
export type RlimitName = keyof typeof RLIMIT;

/** "No limit": (rlim_t)-1. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

const prlimitRaw = libc.func('int prlimit(int pid, int resource, const void *newLimit, void *oldLimit)') as (
  pid: number,
  resource: number,
  newLimit: Buffer | null,
  oldLimit: Buffer | null,
) => number;

/**
 * prlimit(2): read and optionally set a process's limit (pid 0 = the caller).
 * Raising a hard limit needs CAP_SYS_RESOURCE (EPERM otherwise).
 */
export function prlimit(pid: number, resource: number, next?: Rlimit): Rlimit {
  const old = Buffer.alloc(16); // struct rlimit64 { __u64 rlim_cur, rlim_max; }
  let buf: Buffer | null = null;
  if (next) {
    buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(next.soft, 0);
    buf.writeBigUInt64LE(next.hard, 8);
  }
  checkErrno(prlimitRaw(pid, resource, buf, old), 'prlimit', next ? [pid, resource, `${next.soft}`, `${next.hard}`] : [pid, resource]);
  return { soft: old.readBigUInt64LE(0), hard: old.readBigUInt64LE(8) };
}

export function getrlimit(resource: number): Rlimit {
  return prlimit(0, resource);
}

export function setrlimit(resource: number, limit: Rlimit): void {
  prlimit(0, resource, limit);
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}
