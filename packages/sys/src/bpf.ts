// Thin bindings for bpf(2): load an eBPF program, attach it to a cgroup,
// detach it, list what is attached. One typed function per command, like
// security.ts does for seccomp; which program and where it goes is decided
// above (chapter 04's device controller). glibc wraps none of this.
import koffi from 'koffi';
import { checkErrno, describeErrno, lastErrno, SyscallError } from './errors.js';
import { raw } from './libc.js';

/** bpf(2) is not one of the "common" numbers: x86_64 and aarch64 differ. */
const BPF_NR: Record<string, number> = { x64: 321, arm64: 280 };

function bpfNr(): number {
  const n = BPF_NR[process.arch];
  if (n === undefined) throw new Error(`hull: no syscall number for bpf on ${process.arch}`);
  return n;
}

/** The commands (enum bpf_cmd, <linux/bpf.h>). */
export const BPF_PROG_LOAD = 5;
export const BPF_PROG_ATTACH = 8;
export const BPF_PROG_DETACH = 9;
export const BPF_PROG_QUERY = 16;

/** enum bpf_prog_type: the program that decides device access for a cgroup (Linux 4.15). */
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
/** enum bpf_attach_type. */
export const BPF_CGROUP_DEVICE = 6;

/** Attach flags: several programs per cgroup, and every one up the tree must allow (so a child cannot loosen its parent). */
export const BPF_F_ALLOW_OVERRIDE = 1;
export const BPF_F_ALLOW_MULTI = 2;

/** The verifier's log levels: 1 prints each instruction as it is checked and, on failure, why. */
export const BPF_LOG_LEVEL1 = 1;

/** struct bpf_insn: 8 bytes, the two registers share one byte. */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  /** Signed 16-bit: a memory offset, or a jump distance in instructions. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

/** Encode instructions as the kernel's struct bpf_insn[] (little-endian: dst_reg in the low nibble). */
export function encodeBpfInsns(program: readonly BpfInsn[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    buf.writeUInt8(ins.code, i * 8);
    buf.writeUInt8(((ins.src & 0xf) << 4) | (ins.dst & 0xf), i * 8 + 1);
    buf.writeInt16LE(ins.off, i * 8 + 2);
    buf.writeInt32LE(ins.imm | 0, i * 8 + 4);
  });
  return buf;
}

/** union bpf_attr is at most a few hundred bytes; the kernel wants the unused tail zeroed. */
const ATTR_SIZE = 144;

function bpf(cmd: number, attr: Buffer): number | bigint {
  return raw.syscall(bpfNr(), 'int', cmd, 'void *', attr, 'unsigned int', attr.length);
}

export interface ProgLoad {
  type: number;
  insns: readonly BpfInsn[];
  /** Helpers marked GPL-only need "GPL"; a device program calls none. */
  license: string;
  /** Up to 15 bytes, shown by bpftool. */
  name?: string;
  expectedAttachType?: number;
  /** A buffer for the verifier's log; with logLevel, a failure reports the verifier's last words. */
  log?: Buffer;
  logLevel?: number;
}

/**
 * bpf(BPF_PROG_LOAD): verify and load a program; returns its fd (O_CLOEXEC).
 * On failure the error's reason is the verifier's own message when a log was given.
 */
export function bpfProgLoad(opts: ProgLoad): number {
  const insns = encodeBpfInsns(opts.insns);
  const license = Buffer.from(`${opts.license}\0`);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(opts.type, 0); // prog_type
  attr.writeUInt32LE(opts.insns.length, 4); // insn_cnt
  attr.writeBigUInt64LE(koffi.address(insns), 8); // insns
  attr.writeBigUInt64LE(koffi.address(license), 16); // license
  if (opts.log) {
    opts.log.fill(0);
    attr.writeUInt32LE(opts.logLevel ?? BPF_LOG_LEVEL1, 24); // log_level
    attr.writeUInt32LE(opts.log.length, 28); // log_size
    attr.writeBigUInt64LE(koffi.address(opts.log), 32); // log_buf
  }
  if (opts.name) attr.write(opts.name.slice(0, 15), 48, 'latin1'); // prog_name[16], NUL-terminated by the zeroed tail
  attr.writeUInt32LE(opts.expectedAttachType ?? 0, 68); // expected_attach_type
  const ret = Number(bpf(BPF_PROG_LOAD, attr));
  // The buffers must stay alive until the kernel has copied them; these uses keep them reachable past the call.
  void insns.length;
  void license.length;
  if (ret < 0) {
    const errno = lastErrno();
    const args = ['BPF_PROG_LOAD', `type=${opts.type}`, `insns=${opts.insns.length}`];
    const verifier = opts.log ? lastLogLine(opts.log) : '';
    throw new SyscallError('bpf', errno, args, verifier ? `${describeErrno(errno)}; verifier: ${verifier}` : undefined);
  }
  return ret;
}

/** The verifier ends its log with the reason it refused (e.g. "invalid bpf_context access off=12 size=4"). */
function lastLogLine(log: Buffer): string {
  const end = log.indexOf(0);
  const text = log.subarray(0, end < 0 ? log.length : end).toString('utf8');
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  // The very last line is often a summary ("processed 12 insns ..."); the reason is the line before it.
  const summary = lines.length > 1 && /^processed \d+ insns/.test(lines[lines.length - 1]!);
  return (summary ? lines.slice(-2).join('; ') : lines[lines.length - 1]) ?? '';
}

function attachAttr(targetFd: number, progFd: number, attachType: number, flags: number): Buffer {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(targetFd, 0); // target_fd
  attr.writeUInt32LE(progFd, 4); // attach_bpf_fd
  attr.writeUInt32LE(attachType, 8); // attach_type
  attr.writeUInt32LE(flags, 12); // attach_flags
  return attr;
}

/** bpf(BPF_PROG_ATTACH): attach a loaded program to a cgroup (targetFd: the cgroup directory, opened O_RDONLY). */
export function bpfProgAttach(targetFd: number, progFd: number, attachType: number, flags = 0): void {
  checkErrno(bpf(BPF_PROG_ATTACH, attachAttr(targetFd, progFd, attachType, flags)), 'bpf', ['BPF_PROG_ATTACH', `target_fd=${targetFd}`, `attach_type=${attachType}`, `flags=${flags}`]);
}

/** bpf(BPF_PROG_DETACH) of one program (with BPF_F_ALLOW_MULTI the program must be named). */
export function bpfProgDetach(targetFd: number, progFd: number, attachType: number): void {
  checkErrno(bpf(BPF_PROG_DETACH, attachAttr(targetFd, progFd, attachType, 0)), 'bpf', ['BPF_PROG_DETACH', `target_fd=${targetFd}`, `attach_type=${attachType}`]);
}

/** bpf(BPF_PROG_QUERY): the ids of the programs attached to a cgroup directly (not inherited), at most `max`. */
export function bpfProgQuery(targetFd: number, attachType: number, max = 64): { attachFlags: number; progIds: number[] } {
  const ids = Buffer.alloc(4 * max);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(targetFd, 0); // target_fd
  attr.writeUInt32LE(attachType, 4); // attach_type
  attr.writeBigUInt64LE(koffi.address(ids), 16); // prog_ids
  attr.writeUInt32LE(max, 24); // prog_cnt: in, the room; out, the count
  checkErrno(bpf(BPF_PROG_QUERY, attr), 'bpf', ['BPF_PROG_QUERY', `target_fd=${targetFd}`, `attach_type=${attachType}`]);
  const count = attr.readUInt32LE(24);
  return { attachFlags: attr.readUInt32LE(12), progIds: Array.from({ length: count }, (_, i) => ids.readUInt32LE(4 * i)) };
}
