// seccomp: a BPF filter the kernel runs on every syscall the container makes.
// Profiles use docker's JSON format (defaultAction, syscalls[].names/action/
// args, architectures); we compile them with our own classic-BPF assembler
// (bpf.ts) rather than libseccomp, see docs/hardening.md for why.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ContainerError } from '@hull/01-uts';
import type { SockFilter } from '@hull/sys';
import { type Capability, capabilityName } from './capabilities.js';
import {
  argHigh,
  argLow,
  BPF_MAXINSNS,
  BpfProgram,
  runFilter,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
} from './bpf.js';
import { dispatch, numberRanges, type Outcome } from './bpf-dispatch.js';
import { SYSCALLS_AARCH64, SYSCALLS_X86_64 } from './syscall-table.js';

// ---------------------------------------------------------- docker's format

export type SeccompOp = 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';

export interface SeccompArg {
  index: number;
  value: number;
  /** Only for SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo. */
  valueTwo?: number;
  op: SeccompOp;
}

/** A rule applies only when its includes hold and its excludes do not (docker's default.json uses both). */
export interface SeccompFilterCondition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompRule {
  names?: string[];
  /** The old single-name form. */
  name?: string;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: SeccompFilterCondition;
  excludes?: SeccompFilterCondition;
  comment?: string;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[] | null;
  syscalls?: SeccompRule[] | null;
}

// ------------------------------------------------------------ architectures

interface Arch {
  /** AUDIT_ARCH_* (<linux/audit.h>): what seccomp_data.arch holds. */
  audit: number;
  scmp: string;
  table: Readonly<Record<string, number>>;
  /** x86_64's x32 ABI shares AUDIT_ARCH_X86_64 and marks its numbers with this bit. */
  x32Bit?: number;
}

export const ARCHES: Record<'x64' | 'arm64', Arch> = {
  x64: { audit: 0xc000003e, scmp: 'SCMP_ARCH_X86_64', table: SYSCALLS_X86_64, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, scmp: 'SCMP_ARCH_AARCH64', table: SYSCALLS_AARCH64 },
};

export function nativeArch(arch: string = process.arch): Arch {
  const found = (ARCHES as Record<string, Arch | undefined>)[arch];
  if (!found) throw new ContainerError(`seccomp: architecture ${arch} is not supported (x64 and arm64 are)`);
  return found;
}

// ------------------------------------------------------------------ errnos

export const EPERM = 1;
export const ENOSYS = 38;

// ------------------------------------------------------------- validation

const ACTIONS = new Set([
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
  'SCMP_ACT_TRACE',
]);
const OPS = new Set<SeccompOp>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Check the shape of a parsed profile; every problem is one line naming where it is. */
export function validateProfile(value: unknown, where = 'seccomp profile'): SeccompProfile {
  const fail = (msg: string): never => {
    throw new ContainerError(`${where}: ${msg}`);
  };
  if (!isObject(value)) return fail('not a JSON object');
  if (typeof value.defaultAction !== 'string') return fail('missing "defaultAction"');
  checkAction(value.defaultAction, 'defaultAction', fail);
  if (value.architectures !== undefined && value.architectures !== null && !(Array.isArray(value.architectures) && value.architectures.every((a) => typeof a === 'string')))
    fail('"architectures" must be a list of names');
  const rules = value.syscalls ?? [];
  if (!Array.isArray(rules)) return fail('"syscalls" must be a list');
  rules.forEach((rule: unknown, i: number) => {
    const at = `syscalls[${i}]`;
    if (!isObject(rule)) return fail(`${at} is not an object`);
    const names = rule.names ?? (rule.name !== undefined ? [rule.name] : undefined);
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) return fail(`${at}: "names" must be a non-empty list of syscall names`);
    if (typeof rule.action !== 'string') return fail(`${at}: missing "action"`);
    checkAction(rule.action, `${at}.action`, fail);
    if (rule.errnoRet !== undefined && !(Number.isInteger(rule.errnoRet) && (rule.errnoRet as number) >= 0 && (rule.errnoRet as number) <= 0xffff))
      fail(`${at}: "errnoRet" must be an integer 0..65535`);
    const args = rule.args ?? [];
    if (!Array.isArray(args)) return fail(`${at}: "args" must be a list`);
    args.forEach((arg: unknown, j: number) => {
      if (!isObject(arg)) return fail(`${at}.args[${j}] is not an object`);
      if (!(Number.isInteger(arg.index) && (arg.index as number) >= 0 && (arg.index as number) <= 5)) fail(`${at}.args[${j}]: "index" must be 0..5`);
      if (!(typeof arg.value === 'number' && Number.isInteger(arg.value) && arg.value >= 0)) fail(`${at}.args[${j}]: "value" must be a non-negative integer`);
      if (arg.valueTwo !== undefined && !(typeof arg.valueTwo === 'number' && Number.isInteger(arg.valueTwo) && arg.valueTwo >= 0))
        fail(`${at}.args[${j}]: "valueTwo" must be a non-negative integer`);
      if (!OPS.has(arg.op as SeccompOp)) fail(`${at}.args[${j}]: unknown op ${JSON.stringify(arg.op)}`);
    });
    return undefined;
  });
  return value as unknown as SeccompProfile;
}

function checkAction(action: string, where: string, fail: (msg: string) => never): void {
  if (action === 'SCMP_ACT_NOTIFY') fail(`${where}: SCMP_ACT_NOTIFY needs a seccomp agent, which hull does not have`);
  if (!ACTIONS.has(action)) fail(`${where}: unknown action ${JSON.stringify(action)}`);
}

/** Host side: read `seccomp=PROFILE.json`. */
export function loadProfile(path: string): SeccompProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ContainerError(`seccomp profile ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ContainerError(`seccomp profile ${path}: invalid JSON: ${(err as Error).message}`);
  }
  return validateProfile(parsed, `seccomp profile ${path}`);
}

// --------------------------------------------------------------- compiling

export interface CompileContext {
  /** Which node arch to compile for (the filter checks seccomp_data.arch against it). */
  arch?: string;
  /** The container's capabilities, for rules with includes/excludes "caps". */
  capabilities?: readonly Capability[];
  /** The running kernel ("6.1.0-18-amd64"), for "minKernel". */
  kernel?: string;
}

function actionValue(action: string, errnoRet: number | undefined, defaultErrno: number): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | (errnoRet ?? defaultErrno)) >>> 0;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_TRACE':
      // With no tracer attached the kernel fails the syscall with ENOSYS.
      return (SECCOMP_RET_TRACE | (errnoRet ?? 0)) >>> 0;
    default:
      throw new ContainerError(`seccomp: unknown action ${action}`);
  }
}

/** "6.1.0-18-amd64" >= "5.8"? */
export function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string) => (/^(\d+)\.(\d+)/.exec(v) ?? ['', '0', '0']).slice(1).map(Number);
  const [a, b] = parse(kernel);
  const [c, d] = parse(min);
  return a! > c! || (a === c && b! >= d!);
}

function conditionHolds(cond: SeccompFilterCondition, arch: Arch, caps: ReadonlySet<string>, kernel: string, all: boolean): boolean {
  const checks: boolean[] = [];
  if (cond.caps?.length) checks.push(...cond.caps.map((c) => caps.has(capabilityNameOrRaw(c))));
  if (cond.arches?.length) checks.push(cond.arches.map(archAlias).includes(archAlias(arch.scmp)));
  if (cond.minKernel) checks.push(kernelAtLeast(kernel, cond.minKernel));
  if (checks.length === 0) return all;
  // includes: every listed condition must hold; excludes: any one excludes.
  return all ? checks.every(Boolean) : checks.some(Boolean);
}

function capabilityNameOrRaw(name: string): string {
  try {
    return capabilityName(name);
  } catch {
    return name.toUpperCase();
  }
}

/** docker's profile says "amd64"/"arm64" in includes.arches and SCMP_ARCH_* in architectures. */
function archAlias(name: string): string {
  const n = name.toLowerCase();
  if (n === 'amd64' || n === 'scmp_arch_x86_64' || n === 'x86_64') return 'x86_64';
  if (n === 'arm64' || n === 'scmp_arch_aarch64' || n === 'aarch64') return 'aarch64';
  return n;
}

interface CompiledRule {
  action: number;
  args: SeccompArg[];
}

/**
 * The rules that apply to this container: docker's includes/excludes
 * (capabilities, architecture, kernel version) decided, and dropped from
 * each rule, so what is left is the plain format the OCI spec's
 * linux.seccomp has.
 */
export function activeRules(profile: SeccompProfile, ctx: CompileContext = {}): SeccompRule[] {
  const arch = nativeArch(ctx.arch);
  const caps = new Set<string>(ctx.capabilities ?? []);
  const kernel = ctx.kernel ?? release();
  return (profile.syscalls ?? []).flatMap((rule) => {
    if (rule.includes && !conditionHolds(rule.includes, arch, caps, kernel, true)) return [];
    if (rule.excludes && conditionHolds(rule.excludes, arch, caps, kernel, false)) return [];
    const { includes: _i, excludes: _e, comment: _c, ...plain } = rule;
    return [plain];
  });
}

/**
 * Compile a profile to a classic-BPF program for one architecture.
 *
 *   ld arch; if != ours -> kill          (i386 via int 0x80 has other numbers)
 *   ld nr;   if x32 bit set -> ENOSYS    (x32 would be a second numbering)
 *   binary search on nr (bpf-dispatch.ts), whose leaves are
 *     a return, for a range of numbers that share one outcome, or
 *     one syscall's argument rules, tried in profile order, first match wins
 *
 * A rule whose args all hold returns its action; args are compared as
 * 64-bit values, a word at a time.
 */
export function compileProfile(profile: SeccompProfile, ctx: CompileContext = {}): SockFilter[] {
  const arch = nativeArch(ctx.arch);
  const defaultErrno = profile.defaultErrnoRet ?? EPERM;
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet, defaultErrno);

  const byNumber = new Map<number, CompiledRule[]>();
  for (const rule of activeRules(profile, ctx)) {
    const action = actionValue(rule.action, rule.errnoRet, defaultErrno);
    for (const name of rule.names ?? (rule.name ? [rule.name] : [])) {
      // A name this architecture lacks (iopl on aarch64, arm_fadvise64_64 on x86_64) has nothing to filter.
      const nr = arch.table[name];
      if (nr === undefined) continue;
      const list = byNumber.get(nr) ?? [];
      list.push({ action, args: rule.args ?? [] });
      byNumber.set(nr, list);
    }
  }

  const outcomes = new Map<number, Outcome>();
  for (const [nr, rules] of byNumber) outcomes.set(nr, outcomeOf(rules, defaultAction));

  const p = new BpfProgram();
  const archOk = p.newLabel('arch_ok');
  p.load(SECCOMP_DATA_ARCH).jeq(arch.audit, archOk, 0).ret(SECCOMP_RET_KILL_PROCESS).label(archOk);
  p.load(SECCOMP_DATA_NR);
  if (arch.x32Bit) {
    const native = p.newLabel('native');
    p.jge(arch.x32Bit, 0, native).ret((SECCOMP_RET_ERRNO | ENOSYS) >>> 0).label(native);
  }
  const program = [...p.assemble(), ...dispatch(numberRanges(outcomes, defaultAction))];
  if (program.length > BPF_MAXINSNS) throw new ContainerError(`seccomp: the profile compiles to ${program.length} BPF instructions, the kernel takes at most ${BPF_MAXINSNS}`);
  return program;
}

/** One syscall's rules: a plain return when the first rule has no arguments, else the argument checks. */
function outcomeOf(rules: CompiledRule[], defaultAction: number): Outcome {
  if (rules[0]!.args.length === 0) return { ret: rules[0]!.action };
  const p = new BpfProgram();
  emitRules(p, rules, defaultAction);
  return { code: p.assemble() };
}

function emitRules(p: BpfProgram, rules: CompiledRule[], defaultAction: number): void {
  for (const rule of rules) {
    if (rule.args.length === 0) {
      p.ret(rule.action);
      return; // an unconditional rule ends the list: later ones can never match
    }
    const fail = p.newLabel('nomatch');
    for (const arg of rule.args) emitArg(p, arg, fail);
    p.ret(rule.action);
    p.label(fail);
  }
  p.ret(defaultAction);
}

const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
const lo = (v: bigint) => Number(v & 0xffffffffn);

/** Fall through when the condition holds, jump to `fail` when it does not. */
function emitArg(p: BpfProgram, arg: SeccompArg, fail: string): void {
  const v = BigInt(arg.value);
  const ok = p.newLabel('ok');
  const H = argHigh(arg.index);
  const L = argLow(arg.index);
  switch (arg.op) {
    case 'SCMP_CMP_EQ':
      p.load(H).jeq(hi(v), 0, fail).load(L).jeq(lo(v), 0, fail);
      break;
    case 'SCMP_CMP_NE':
      p.load(H).jeq(hi(v), 0, ok).load(L).jeq(lo(v), fail, 0);
      break;
    case 'SCMP_CMP_MASKED_EQ': {
      const datum = BigInt(arg.valueTwo ?? 0);
      p.load(H).and(hi(v)).jeq(hi(datum), 0, fail).load(L).and(lo(v)).jeq(lo(datum), 0, fail);
      break;
    }
    case 'SCMP_CMP_GT':
      p.load(H).jgt(hi(v), ok, 0).jeq(hi(v), 0, fail).load(L).jgt(lo(v), 0, fail);
      break;
    case 'SCMP_CMP_GE':
      p.load(H).jgt(hi(v), ok, 0).jeq(hi(v), 0, fail).load(L).jge(lo(v), 0, fail);
      break;
    case 'SCMP_CMP_LT':
      p.load(H).jgt(hi(v), fail, 0).jeq(hi(v), 0, ok).load(L).jge(lo(v), fail, 0);
      break;
    case 'SCMP_CMP_LE':
      p.load(H).jgt(hi(v), fail, 0).jeq(hi(v), 0, ok).load(L).jgt(lo(v), fail, 0);
      break;
  }
  p.label(ok);
}

/**
 * A profile that blocks execve would leave the container unable to start
 * its command, after everything else is set up. Say so before the run.
 */
export function checkExecveAllowed(program: readonly SockFilter[], archName: string = process.arch, where = 'seccomp profile'): void {
  const arch = nativeArch(archName);
  const action = (runFilter(program, { nr: arch.table.execve!, arch: arch.audit }) & SECCOMP_RET_ACTION_FULL) >>> 0;
  if (action !== SECCOMP_RET_ALLOW && action !== SECCOMP_RET_LOG) throw new ContainerError(`${where}: it blocks execve, so the container's command could never start`);
}
