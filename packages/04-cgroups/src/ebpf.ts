// A small eBPF assembler: the instructions a cgroup device program needs,
// with labels for jumps. eBPF is not the classic BPF seccomp takes
// (final-runtime/src/security/bpf.ts): eleven 64-bit registers instead of
// one accumulator, r1 holds the context pointer on entry, r0 is the return
// value, jumps have 16-bit signed offsets, and the verifier refuses any
// program with an unreachable instruction or a read outside the context
// (Documentation/bpf/standardization/instruction-set.rst).
import type { BpfInsn } from '@hull/sys';

// Instruction classes, sizes, modes, operations (<linux/bpf.h>, <linux/bpf_common.h>).
export const BPF_LDX = 0x01;
export const BPF_JMP = 0x05;
export const BPF_ALU64 = 0x07;
export const BPF_W = 0x00;
export const BPF_MEM = 0x60;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_AND = 0x50;
export const BPF_RSH = 0x70;
export const BPF_MOV = 0xb0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_EXIT = 0x90;

/** r0: return value; r1-r5: arguments (r1 = the context on entry); r6-r9: callee-saved; r10: frame pointer. */
export const R0 = 0;
export const R1 = 1;
export const R2 = 2;
export const R3 = 3;
export const R4 = 4;
export const R5 = 5;

/** A jump target: a label name. */
type Target = string;

interface Pending extends BpfInsn {
  target?: Target;
}

/** Build a program instruction by instruction; `assemble()` turns labels into the offsets the kernel wants. */
export class EbpfProgram {
  private readonly code: Pending[] = [];
  private readonly labels = new Map<string, number>();
  private counter = 0;

  newLabel(hint = 'L'): string {
    return `${hint}${this.counter++}`;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`ebpf: label ${name} bound twice`);
    this.labels.set(name, this.code.length);
    return this;
  }

  /** dst = *(u32 *)(src + off): a 32-bit load, zero-extended. */
  loadWord(dst: number, src: number, off: number): this {
    return this.push({ code: BPF_LDX | BPF_MEM | BPF_W, dst, src, off, imm: 0 });
  }

  /** dst = imm (sign-extended to 64 bits). */
  movImm(dst: number, imm: number): this {
    return this.push({ code: BPF_ALU64 | BPF_MOV | BPF_K, dst, src: 0, off: 0, imm });
  }

  /** dst = src. */
  movReg(dst: number, src: number): this {
    return this.push({ code: BPF_ALU64 | BPF_MOV | BPF_X, dst, src, off: 0, imm: 0 });
  }

  /** dst &= imm. */
  and(dst: number, imm: number): this {
    return this.push({ code: BPF_ALU64 | BPF_AND | BPF_K, dst, src: 0, off: 0, imm });
  }

  /** dst >>= imm (logical). */
  rsh(dst: number, imm: number): this {
    return this.push({ code: BPF_ALU64 | BPF_RSH | BPF_K, dst, src: 0, off: 0, imm });
  }

  /** if (dst != imm) goto target. */
  jne(dst: number, imm: number, target: Target): this {
    return this.push({ code: BPF_JMP | BPF_JNE | BPF_K, dst, src: 0, off: 0, imm, target });
  }

  /** if (dst == imm) goto target. */
  jeq(dst: number, imm: number, target: Target): this {
    return this.push({ code: BPF_JMP | BPF_JEQ | BPF_K, dst, src: 0, off: 0, imm, target });
  }

  /** if (dst & imm) goto target. */
  jset(dst: number, imm: number, target: Target): this {
    return this.push({ code: BPF_JMP | BPF_JSET | BPF_K, dst, src: 0, off: 0, imm, target });
  }

  /** goto target. */
  ja(target: Target): this {
    return this.push({ code: BPF_JMP | BPF_JA, dst: 0, src: 0, off: 0, imm: 0, target });
  }

  /** return r0. */
  exit(): this {
    return this.push({ code: BPF_JMP | BPF_EXIT, dst: 0, src: 0, off: 0, imm: 0 });
  }

  get length(): number {
    return this.code.length;
  }

  assemble(): BpfInsn[] {
    return this.code.map(({ target, ...ins }, i) => (target === undefined ? ins : { ...ins, off: this.offset(target, i) }));
  }

  private offset(target: Target, from: number): number {
    const to = this.labels.get(target);
    if (to === undefined) throw new Error(`ebpf: label ${target} never bound`);
    // Relative to the next instruction; a jump past the end would land outside the program.
    const off = to - from - 1;
    if (to >= this.code.length) throw new Error(`ebpf: label ${target} is past the last instruction`);
    if (off < -32768 || off > 32767) throw new Error(`ebpf: jump from ${from} to ${target} (${off}) does not fit in 16 bits`);
    return off;
  }

  private push(ins: Pending): this {
    this.code.push(ins);
    return this;
  }
}
