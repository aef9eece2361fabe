// A classic-BPF assembler for seccomp filters, and an interpreter for the
// same instructions so tests can check a filter's decisions without loading it.
// Classic BPF (not eBPF) is what seccomp(2) takes: 32-bit accumulator, loads
// from struct seccomp_data, forward jumps only, at most 4096 instructions,
// and conditional jumps of at most 255 instructions.
import type { SockFilter } from '@hull/sys';

// Opcode parts (<linux/bpf_common.h>).
export const BPF_LD = 0x00;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_ABS = 0x20;
export const BPF_AND = 0x50;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;

/** seccomp's return values (<linux/seccomp.h>): the action in the high 16 bits, data (an errno) in the low 16. */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; } offsets. */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
/** Little-endian (x86_64, aarch64): the low word of args[i] comes first. */
export const argLow = (i: number): number => 16 + 8 * i;
export const argHigh = (i: number): number => 20 + 8 * i;

/** The classic BPF limit, BPF_MAXINSNS. */
export const BPF_MAXINSNS = 4096;

/** A jump target: a label name, or 0 for "the next instruction". */
type Target = string | 0;

interface Pending {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
}

/**
 * Build a program instruction by instruction; jumps name labels, and
 * `assemble()` turns them into the relative offsets the kernel wants.
 */
export class BpfProgram {
  private readonly code: Pending[] = [];
  private readonly labels = new Map<string, number>();
  private counter = 0;

  /** A fresh label name, bound later with `label()`. */
  newLabel(hint = 'L'): string {
    return `${hint}${this.counter++}`;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`bpf: label ${name} bound twice`);
    this.labels.set(name, this.code.length);
    return this;
  }

  /** A = the 32-bit word at `offset` of struct seccomp_data. */
  load(offset: number): this {
    return this.push(BPF_LD | BPF_W | BPF_ABS, offset);
  }

  and(k: number): this {
    return this.push(BPF_ALU | BPF_AND | BPF_K, k);
  }

  /** if (A == k) goto jt else goto jf. */
  jeq(k: number, jt: Target, jf: Target): this {
    return this.push(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
  }

  /** Unsigned A > k. */
  jgt(k: number, jt: Target, jf: Target): this {
    return this.push(BPF_JMP | BPF_JGT | BPF_K, k, jt, jf);
  }

  /** Unsigned A >= k. */
  jge(k: number, jt: Target, jf: Target): this {
    return this.push(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf);
  }

  ret(k: number): this {
    return this.push(BPF_RET | BPF_K, k);
  }

  get length(): number {
    return this.code.length;
  }

  assemble(): SockFilter[] {
    if (this.code.length > BPF_MAXINSNS) throw new Error(`bpf: ${this.code.length} instructions, the kernel takes at most ${BPF_MAXINSNS}`);
    return this.code.map((ins, i) => ({ code: ins.code, k: ins.k >>> 0, jt: this.offset(ins.jt, i), jf: this.offset(ins.jf, i) }));
  }

  private offset(target: Target, from: number): number {
    if (target === 0) return 0;
    const to = this.labels.get(target);
    if (to === undefined) throw new Error(`bpf: label ${target} never bound`);
    const off = to - from - 1;
    // Classic BPF jumps only forward, by an 8-bit count.
    if (off < 0 || off > 255) throw new Error(`bpf: jump from ${from} to ${target} (${off}) does not fit in 0..255`);
    return off;
  }

  private push(code: number, k: number, jt: Target = 0, jf: Target = 0): this {
    this.code.push({ code, k, jt, jf });
    return this;
  }
}

/** What a seccomp filter sees of a syscall. */
export interface SeccompData {
  nr: number;
  arch: number;
  args?: readonly bigint[];
}

/**
 * Run a filter the way the kernel would, for tests and for checking a
 * profile before loading it (does it let execve through?). Only the
 * instructions the assembler emits are supported. `stats.steps` counts the
 * instructions run: the filter's cost for that syscall.
 */
export function runFilter(program: readonly SockFilter[], data: SeccompData, stats?: { steps: number }): number {
  const buf = Buffer.alloc(64);
  buf.writeInt32LE(data.nr, SECCOMP_DATA_NR);
  buf.writeUInt32LE(data.arch >>> 0, SECCOMP_DATA_ARCH);
  (data.args ?? []).forEach((a, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const ins = program[pc]!;
    if (stats) stats.steps++;
    switch (ins.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        acc = buf.readUInt32LE(ins.k);
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        acc = (acc & ins.k) >>> 0;
        break;
      case BPF_JMP | BPF_JA:
        pc += ins.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += acc === ins.k >>> 0 ? ins.jt : ins.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += acc > ins.k >>> 0 ? ins.jt : ins.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += acc >= ins.k >>> 0 ? ins.jt : ins.jf;
        break;
      case BPF_RET | BPF_K:
        return ins.k >>> 0;
      default:
        throw new Error(`bpf: opcode 0x${ins.code.toString(16)} not supported by runFilter`);
    }
  }
  throw new Error('bpf: fell off the end of the program');
}
