// The cgroup v2 device program, without root: the exact instructions the
// compiler emits, their byte encoding, and the decisions they make (run by
// our interpreter as the kernel would). test/device-program-kernel.test.ts
// loads the same program into the real kernel.
import { describe, expect, it } from 'vitest';
import { encodeBpfInsns, type BpfInsn } from '@hull/sys';
import {
  BPF_DEVCG_ACC_MKNOD as M,
  BPF_DEVCG_ACC_READ as R,
  BPF_DEVCG_ACC_WRITE as W,
  CgroupV2,
  compileDeviceProgram,
  deviceContext,
  EbpfProgram,
  parseDeviceRule,
  runEbpf,
} from '../src/index.js';
import { FakeCgroup2 } from './fake-cgroup2.js';

/** docker's default list, as final-runtime's DEFAULT_DEVICE_RULES has it. */
const DOCKER = ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm'];

const ins = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });

function decide(rules: readonly string[], type: 'b' | 'c', major: number, minor: number, access: number): bigint {
  return runEbpf(compileDeviceProgram(rules.map(parseDeviceRule)), deviceContext(type, major, minor, access));
}

describe('04-cgroups: the device program', () => {
  it('parses devices.allow lines, wildcards and "a", and refuses anything else', () => {
    expect(parseDeviceRule('c 1:3 rwm')).toEqual({ type: 'c', major: 1, minor: 3, access: M | R | W });
    expect(parseDeviceRule('b *:* m')).toEqual({ type: 'b', major: null, minor: null, access: M });
    expect(parseDeviceRule('c 136:* rw')).toEqual({ type: 'c', major: 136, minor: null, access: R | W });
    expect(parseDeviceRule('a')).toEqual({ type: 'a', major: null, minor: null, access: M | R | W });
    for (const bad of ['c 1:3', 'x 1:3 r', 'c 1:3 rr', 'c -1:3 r', 'c 1:3 rwx', 'c 1 r', '']) expect(() => parseDeviceRule(bad)).toThrow(/device rule/);
  });

  it('compiles to these exact instructions: load the context once, one block per rule, deny at the end', () => {
    const program = compileDeviceProgram(['c 1:3 rwm', 'b *:* m', 'c 136:* rw'].map(parseDeviceRule));
    expect(program).toEqual([
      ins(0x61, 2, 1, 0, 0), // r2 = ctx->access_type
      ins(0xbf, 3, 2, 0, 0), // r3 = r2
      ins(0x57, 2, 0, 0, 0xffff), // r2 &= 0xffff: the type
      ins(0x77, 3, 0, 0, 16), // r3 >>= 16: the access
      ins(0x61, 4, 1, 4, 0), // r4 = ctx->major
      ins(0x61, 5, 1, 8, 0), // r5 = ctx->minor
      // c 1:3 rwm: type, major, minor (all access: no access test)
      ins(0x55, 2, 0, 4, 2), // if r2 != CHAR goto +4
      ins(0x55, 4, 0, 3, 1), // if r4 != 1 goto +3
      ins(0x55, 5, 0, 2, 3), // if r5 != 3 goto +2
      ins(0xb7, 0, 0, 0, 1), // r0 = 1
      ins(0x95, 0, 0, 0, 0), // exit
      // b *:* m: type, then any bit but mknod skips
      ins(0x55, 2, 0, 3, 1), // if r2 != BLOCK goto +3
      ins(0x45, 3, 0, 2, 0xfffe), // if r3 & ~MKNOD goto +2
      ins(0xb7, 0, 0, 0, 1),
      ins(0x95, 0, 0, 0, 0),
      // c 136:* rw
      ins(0x55, 2, 0, 4, 2),
      ins(0x45, 3, 0, 3, 0xfff9), // if r3 & ~(READ|WRITE) goto +3
      ins(0x55, 4, 0, 2, 136),
      ins(0xb7, 0, 0, 0, 1),
      ins(0x95, 0, 0, 0, 0),
      // no rule matched: deny
      ins(0xb7, 0, 0, 0, 0),
      ins(0x95, 0, 0, 0, 0),
    ]);
  });

  it('encodes struct bpf_insn as the kernel reads it: code, dst in the low nibble, src in the high, s16 off, s32 imm', () => {
    expect(encodeBpfInsns([ins(0x61, 2, 1, 8, 0), ins(0x55, 5, 0, -2, -1)]).toString('hex')).toBe('6112080000000000' + '5505feffffffffff');
  });

  it('a rule that allows everything ends the program (the verifier refuses unreachable code)', () => {
    const program = compileDeviceProgram(['c 1:3 r', 'a', 'c 1:5 r'].map(parseDeviceRule));
    expect(program.slice(-2)).toEqual([ins(0xb7, 0, 0, 0, 1), ins(0x95, 0, 0, 0, 0)]);
    expect(program).toHaveLength(6 + 6 + 2); // the loads, "c 1:3 r" (type, access, major, minor, allow), "a" (allow); nothing of "c 1:5 r"
    expect(compileDeviceProgram([])).toEqual([...compileDeviceProgram([]).slice(0, 6), ins(0xb7, 0, 0, 0, 0), ins(0x95, 0, 0, 0, 0)]);
  });

  it("docker's list: the safe character devices for rwm, pts for any minor, mknod of anything, and nothing else", () => {
    for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136, 0], [136, 4711]] as const) {
      expect(decide(DOCKER, 'c', major, minor, R | W)).toBe(1n);
      expect(decide(DOCKER, 'c', major, minor, R)).toBe(1n);
    }
    // The host's disk (sda: b 8:0, a loop device: b 7:N, nvme: b 259:0), raw memory (c 1:1), kmsg (c 1:11), a tty of the host (c 4:1).
    for (const [type, major, minor] of [['b', 8, 0], ['b', 7, 3], ['b', 259, 0], ['c', 1, 1], ['c', 1, 11], ['c', 4, 1], ['c', 10, 200]] as const) {
      expect(decide(DOCKER, type, major, minor, R)).toBe(0n);
      expect(decide(DOCKER, type, major, minor, W)).toBe(0n);
      expect(decide(DOCKER, type, major, minor, R | W)).toBe(0n);
      // mknod alone is allowed ("c *:* m", "b *:* m"): making a node is harmless while opening it is refused.
      expect(decide(DOCKER, type, major, minor, M)).toBe(1n);
    }
  });

  it('an access needs one rule covering all its bits, as v1 decides', () => {
    expect(decide(['c 1:5 r', 'c 1:5 w'], 'c', 1, 5, R)).toBe(1n);
    expect(decide(['c 1:5 r', 'c 1:5 w'], 'c', 1, 5, W)).toBe(1n);
    expect(decide(['c 1:5 r', 'c 1:5 w'], 'c', 1, 5, R | W)).toBe(0n);
    // An access bit no rule knows (a future kernel's) is denied.
    expect(decide(['c 1:5 rwm'], 'c', 1, 5, 8)).toBe(1n);
    expect(decide(['c 1:5 rw'], 'c', 1, 5, 8)).toBe(0n);
    // Type matters: a block device with a character device's numbers is refused.
    expect(decide(['c 1:5 rwm'], 'b', 1, 5, R)).toBe(0n);
    expect(decide(['a'], 'b', 8, 0, R | W | M)).toBe(1n);
  });

  it('the assembler resolves labels both ways and refuses what the kernel would', () => {
    const p = new EbpfProgram();
    const end = p.newLabel();
    p.movImm(0, 0).jeq(0, 0, end).movImm(0, 7).label(end).exit();
    expect(p.assemble()[1]!.off).toBe(1);
    expect(runEbpf(p.assemble(), Buffer.alloc(12))).toBe(0n);
    expect(() => new EbpfProgram().ja('nowhere').exit().assemble()).toThrow(/never bound/);
    const past = new EbpfProgram();
    expect(() => past.ja('end').label('end').assemble()).toThrow(/past the last instruction/);
    expect(() => runEbpf([ins(0x61, 2, 1, 12, 0), ins(0x95, 0, 0, 0, 0)], Buffer.alloc(12))).toThrow(/invalid context access off=12/);
  });

  it('CgroupV2.limitDevices attaches the compiled program to the container cgroup itself; a refusal propagates', () => {
    const fs = new FakeCgroup2();
    try {
      const cg = CgroupV2.create(fs.root, 'dev-1', {}, fs);
      cg.limitDevices(DOCKER);
      expect([...fs.devicePrograms.keys()]).toEqual([`${fs.root}/hull/dev-1`]);
      expect(fs.devicePrograms.get(cg.dir)).toEqual(compileDeviceProgram(DOCKER.map(parseDeviceRule)));
      expect(cg.deviceProgramDir).toBe(cg.dir);
      const other = CgroupV2.create(fs.root, 'dev-2', {}, fs);
      fs.deviceProgramError = 'EPERM';
      expect(() => other.limitDevices(DOCKER)).toThrow(/^bpf\(.*\): EPERM/);
    } finally {
      fs.cleanup();
    }
  });
});
