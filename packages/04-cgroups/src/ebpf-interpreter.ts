// Run an eBPF program the way the kernel would, for the instructions our
// assembler emits, so tests can check a device program's decisions without
// root and without loading it. r1 points at the context; only 32-bit loads
// from it are allowed, as the verifier allows for a device program.
import type { BpfInsn } from '@hull/sys';
import { BPF_ALU64, BPF_AND, BPF_EXIT, BPF_JA, BPF_JEQ, BPF_JMP, BPF_JNE, BPF_JSET, BPF_K, BPF_LDX, BPF_MEM, BPF_MOV, BPF_RSH, BPF_W, BPF_X, R1 } from './ebpf.js';

const MASK = (1n << 64n) - 1n;
/** A register holding the context pointer, not a number. */
const CTX = Symbol('ctx');
type Register = bigint | typeof CTX;

/** Returns r0 at exit. Throws on anything the kernel's verifier would refuse that we can see here. */
export function runEbpf(program: readonly BpfInsn[], ctx: Buffer, maxSteps = 100_000): bigint {
  const regs: Register[] = Array.from({ length: 11 }, () => 0n);
  regs[R1] = CTX;
  const num = (r: number): bigint => {
    const v = regs[r];
    if (typeof v !== 'bigint') throw new Error(`ebpf: r${r} holds the context pointer, not a number`);
    return v;
  };
  for (let pc = 0, steps = 0; pc < program.length; pc++) {
    if (++steps > maxSteps) throw new Error('ebpf: too many steps (a loop?)');
    const ins = program[pc]!;
    const imm = BigInt.asUintN(64, BigInt(ins.imm)); // sign-extended, as the kernel does
    switch (ins.code) {
      case BPF_LDX | BPF_MEM | BPF_W:
        if (regs[ins.src] !== CTX) throw new Error(`ebpf: load through r${ins.src}, which is not the context`);
        if (ins.off < 0 || ins.off + 4 > ctx.length || ins.off % 4 !== 0) throw new Error(`ebpf: invalid context access off=${ins.off} size=4`);
        regs[ins.dst] = BigInt(ctx.readUInt32LE(ins.off));
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        regs[ins.dst] = imm;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X:
        regs[ins.dst] = regs[ins.src]!;
        break;
      case BPF_ALU64 | BPF_AND | BPF_K:
        regs[ins.dst] = num(ins.dst) & imm;
        break;
      case BPF_ALU64 | BPF_RSH | BPF_K:
        regs[ins.dst] = (num(ins.dst) >> BigInt(ins.imm & 63)) & MASK;
        break;
      case BPF_JMP | BPF_JA:
        pc += ins.off;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        if (num(ins.dst) === imm) pc += ins.off;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        if (num(ins.dst) !== imm) pc += ins.off;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        if ((num(ins.dst) & imm) !== 0n) pc += ins.off;
        break;
      case BPF_JMP | BPF_EXIT:
        return num(0);
      default:
        throw new Error(`ebpf: opcode 0x${ins.code.toString(16)} not supported by runEbpf`);
    }
  }
  throw new Error('ebpf: fell off the end of the program');
}
