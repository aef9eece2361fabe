// Dispatch on the syscall number with a binary search, not a chain of
// comparisons. An allow list names ~370 syscalls; tested one after another,
// a syscall near the end of the list runs hundreds of instructions of the
// filter, on every call, in every process of the container. Cut into ranges
// of numbers that share one outcome and searched as a balanced tree, any
// syscall is decided in about log2(ranges) + 2 instructions.
//
// Classic BPF jumps only forward, and a conditional jump reaches at most 255
// instructions. The tree is laid out as "test; left subtree; right subtree",
// so only the jump over a big left subtree can be too long: that one goes
// through an unconditional `ja`, whose 32-bit offset reaches anywhere.
import type { SockFilter } from '@hull/sys';
import { BPF_JA, BPF_JGE, BPF_JMP, BPF_K, BPF_RET } from './bpf.js';

/** What to do for a range of syscall numbers: return an action, or run code of its own (argument checks) that ends in a return. */
export type Outcome = { ret: number } | { code: readonly SockFilter[] };

/** From `from` (inclusive) up to the next range's `from`; the first range starts at 0, the last runs to 2^32 - 1. */
export interface NumberRange {
  from: number;
  outcome: Outcome;
}

/** The largest forward distance of a conditional jump (jt and jf are 8 bits). */
const MAX_COND_JUMP = 255;

/**
 * Code that expects the syscall number in the accumulator and ends in a
 * return on every path. Every jump in it is relative and stays inside it,
 * so a subtree's code is the same wherever it is placed.
 */
export function dispatch(ranges: readonly NumberRange[]): SockFilter[] {
  if (ranges.length === 0 || ranges[0]!.from !== 0) throw new Error('bpf dispatch: the ranges must start at 0');
  return subtree(ranges);
}

function subtree(ranges: readonly NumberRange[]): SockFilter[] {
  if (ranges.length === 1) {
    const { outcome } = ranges[0]!;
    return 'ret' in outcome ? [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: outcome.ret >>> 0 }] : [...outcome.code];
  }
  const mid = ranges.length >> 1;
  const pivot = ranges[mid]!.from;
  const below = subtree(ranges.slice(0, mid));
  const atOrAbove = subtree(ranges.slice(mid));
  // if (nr >= pivot) skip the code below; else fall into it.
  if (below.length <= MAX_COND_JUMP) return [{ code: BPF_JMP | BPF_JGE | BPF_K, jt: below.length, jf: 0, k: pivot >>> 0 }, ...below, ...atOrAbove];
  return [
    { code: BPF_JMP | BPF_JGE | BPF_K, jt: 0, jf: 1, k: pivot >>> 0 },
    { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: below.length },
    ...below,
    ...atOrAbove,
  ];
}

/**
 * Merge neighbours with the same return into one range, so a run of allowed
 * syscalls (or a gap of unnamed ones) costs one leaf, not one per number.
 * `outcomes` maps each named number to its outcome; unnamed ones get `otherwise`.
 */
export function numberRanges(outcomes: ReadonlyMap<number, Outcome>, otherwise: number): NumberRange[] {
  const ranges: NumberRange[] = [];
  const push = (from: number, outcome: Outcome) => {
    const last = ranges[ranges.length - 1];
    if (last && 'ret' in last.outcome && 'ret' in outcome && last.outcome.ret === outcome.ret) return;
    ranges.push({ from, outcome });
  };
  let next = 0;
  for (const nr of [...outcomes.keys()].sort((a, b) => a - b)) {
    if (nr > next) push(next, { ret: otherwise });
    push(nr, outcomes.get(nr)!);
    next = nr + 1;
  }
  if (next <= 0xffffffff) push(next, { ret: otherwise });
  return ranges;
}
