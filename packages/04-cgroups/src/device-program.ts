// cgroup v2's device controller is not a file: it is an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. The kernel runs it on
// every open(2) of a device node and every mknod(2), for any task in the
// cgroup or below, with a struct bpf_cgroup_dev_ctx:
//
//   struct bpf_cgroup_dev_ctx { __u32 access_type; __u32 major; __u32 minor; };
//
// access_type is (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*. Return 1 allows,
// 0 denies (the syscall fails with EPERM). This file compiles the same
// "type major:minor access" rules the v1 devices.allow file takes into such a
// program: deny by default, one block per rule, the first match allows.
// (Documentation/admin-guide/cgroup-v2.rst, "Device controller".)
import type { BpfInsn } from '@hull/sys';
import { EbpfProgram, R0, R1, R2, R3, R4, R5 } from './ebpf.js';

/** <linux/bpf.h>: the device type in the low 16 bits of access_type, the access in the high 16. */
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

/** Offsets in struct bpf_cgroup_dev_ctx. */
const CTX_ACCESS_TYPE = 0;
const CTX_MAJOR = 4;
const CTX_MINOR = 8;

/** One allow rule: `type` a (any), b or c; null major/minor = any ("*"). */
export interface DeviceRule {
  type: 'a' | 'b' | 'c';
  major: number | null;
  minor: number | null;
  /** BPF_DEVCG_ACC_* bits. */
  access: number;
}

const ACCESS_BITS = { m: BPF_DEVCG_ACC_MKNOD, r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE } as const;
const ALL_ACCESS = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

/**
 * Parse a rule in cgroup v1's devices.allow syntax (admin-guide/cgroup-v1/devices.rst):
 * "c 1:3 rwm", "b *:* m", or "a" alone for everything.
 */
export function parseDeviceRule(text: string): DeviceRule {
  if (text.trim() === 'a') return { type: 'a', major: null, minor: null, access: ALL_ACCESS };
  const m = /^([abc]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(text.trim());
  if (!m || new Set(m[4]).size !== m[4]!.length) throw new Error(`device rule ${JSON.stringify(text)}: expected "TYPE MAJOR:MINOR ACCESS", like "c 1:3 rwm"`);
  const number = (s: string): number | null => (s === '*' ? null : Number(s));
  let access = 0;
  for (const c of m[4]!) access |= ACCESS_BITS[c as keyof typeof ACCESS_BITS];
  return { type: m[1] as DeviceRule['type'], major: number(m[2]!), minor: number(m[3]!), access };
}

/**
 * The program for an allow list. Registers: r2 = type, r3 = access, r4 =
 * major, r5 = minor, loaded once; each rule then skips to the next one on
 * the first field that does not match. An access is allowed only if one rule
 * covers all its bits ("rw" needs a rule with both), as v1 decides.
 */
export function compileDeviceProgram(rules: readonly DeviceRule[]): BpfInsn[] {
  const p = new EbpfProgram();
  p.loadWord(R2, R1, CTX_ACCESS_TYPE);
  p.movReg(R3, R2);
  p.and(R2, 0xffff);
  p.rsh(R3, 16);
  p.loadWord(R4, R1, CTX_MAJOR);
  p.loadWord(R5, R1, CTX_MINOR);
  for (const rule of rules) {
    const next = p.newLabel('rule');
    let conditions = 0;
    if (rule.type !== 'a') {
      p.jne(R2, rule.type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, next);
      conditions++;
    }
    // Any access bit the rule does not grant, including bits a future kernel may add, skips it.
    if ((rule.access & ALL_ACCESS) !== ALL_ACCESS) {
      p.jset(R3, ~rule.access & 0xffff, next);
      conditions++;
    }
    if (rule.major !== null) {
      p.jne(R4, rule.major, next);
      conditions++;
    }
    if (rule.minor !== null) {
      p.jne(R5, rule.minor, next);
      conditions++;
    }
    p.movImm(R0, 1);
    p.exit();
    // A rule that matches everything ends the program: the verifier refuses unreachable instructions.
    if (conditions === 0) return p.assemble();
    p.label(next);
  }
  p.movImm(R0, 0);
  p.exit();
  return p.assemble();
}

/** The context the kernel passes, for tests (runEbpf) and for reading a decision back. */
export function deviceContext(type: 'b' | 'c', major: number, minor: number, access: number): Buffer {
  const ctx = Buffer.alloc(12);
  ctx.writeUInt32LE(((access << 16) | (type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR)) >>> 0, CTX_ACCESS_TYPE);
  ctx.writeUInt32LE(major, CTX_MAJOR);
  ctx.writeUInt32LE(minor, CTX_MINOR);
  return ctx;
}
