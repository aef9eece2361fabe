// From an OCI runtime spec (config.json) to the SecurityPlan that `hull run`
// already builds from docker's flags, so `hull-runtime` applies the same
// layers through the same code (harden.ts applySecurity, the devices
// cgroup, the eBPF device program, the seccomp compiler).
//
// The rules are runc's (1.1), since that is what podman, containerd and
// CRI-O expect of a runtime:
//   - no process.capabilities: the process keeps every capability hull has;
//   - no linux.seccomp: no filter; no maskedPaths/readonlyPaths: none;
//   - a seccomp rule's SCMP_ACT_ERRNO without errnoRet is EPERM, not defaultErrnoRet;
//     two conditions on the same argument are two rules (an OR), not one;
//     but the rules for one syscall are tried in order, first match wins (our
//     compiler's reading): runc drops a rule whose action is the default's
//     and leaves overlaps to libseccomp, hull keeps it, so such a rule can
//     only make the filter stricter, never looser;
//   - resources.devices is applied in order, the last match wins, starting
//     from "deny everything"; runc's own default devices are appended after it.
// Where runc only logs and carries on (an unknown capability name), hull
// refuses: a typo in a security field should not pass silently.
import { ContainerError } from '@hull/01-uts';
import {
  RLIM_INFINITY,
  RLIMIT,
  type RlimitName,
  type RuntimeSpec,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  type SpecCapabilities,
  type SpecDevice,
  type SpecDeviceCgroup,
  type SpecRlimit,
  type SpecSeccomp,
  type SpecUser,
} from '@hull/sys';
import { CAPABILITIES, type Capability, capabilitiesOf } from './capabilities.js';
import type { DeviceNode, ProcessCapabilities, SecuritySpec } from './harden.js';
import { type HostFacts, readHostFacts, type SecurityPlan } from './plan.js';
import type { RlimitSetting } from './rlimits.js';
import { checkExecveAllowed, compileProfile, EPERM, type SeccompArg, type SeccompProfile, type SeccompRule, validateProfile } from './seccomp.js';

const fail = (where: string, why: string): never => {
  throw new ContainerError(`config.json: ${where}: ${why}`);
};

const isUint32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

// ------------------------------------------------------------ capabilities

const CAP_SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

function capabilityList(names: unknown, where: string): Capability[] {
  if (names === undefined || names === null) return [];
  if (!Array.isArray(names)) return fail(where, 'must be a list of capability names');
  return names.map((name: unknown) => {
    // The spec's names are exactly "CAP_" + the kernel's name: CAP_NET_ADMIN, not net_admin.
    if (typeof name !== 'string' || !(CAPABILITIES as readonly string[]).includes(name)) {
      return fail(where, `unknown capability ${JSON.stringify(name)} (names are as in capabilities(7), e.g. CAP_NET_BIND_SERVICE)`);
    }
    return name as Capability;
  });
}

interface CapabilityPlan {
  bounding: Capability[];
  sets?: ProcessCapabilities;
  warnings: string[];
}

/**
 * The five sets, minus what hull itself does not have (runc drops those
 * with a warning too: a capability outside our bounding set can never be
 * given). The kernel's own rules are checked here rather than met as an
 * EPERM from capset(2) in the init:
 *   effective must be within permitted, inheritable within bounding;
 *   an ambient capability must be both permitted and inheritable, or
 *   PR_CAP_AMBIENT_RAISE refuses it. runc 1.1 ignores that refusal (its
 *   own `runc spec` lists ambient capabilities and no inheritable ones), so
 *   hull drops such a capability from ambient and says so.
 */
export function capabilitiesFromSpec(caps: SpecCapabilities | undefined, host: Pick<HostFacts, 'boundingSet'>): CapabilityPlan {
  const available = (c: Capability) => ((host.boundingSet >> BigInt(CAPABILITIES.indexOf(c))) & 1n) === 1n;
  // No capabilities object: runc leaves the process's sets alone, i.e. all of ours.
  if (!caps) return { bounding: capabilitiesOf(host.boundingSet), warnings: [] };
  const warnings: string[] = [];
  const lists = Object.fromEntries(CAP_SETS.map((set) => [set, capabilityList(caps[set], `process.capabilities.${set}`)])) as Record<(typeof CAP_SETS)[number], Capability[]>;
  const missing = new Set(CAP_SETS.flatMap((set) => lists[set].filter((c) => !available(c))));
  if (missing.size) warnings.push(`process.capabilities: ${[...missing].join(', ')} ignored: hull itself does not have ${missing.size > 1 ? 'them' : 'it'} (its bounding set)`);
  const keep = (list: Capability[]) => CAPABILITIES.filter((c) => list.includes(c) && available(c));
  const [bounding, effective, permitted, inheritable, ambient] = CAP_SETS.map((set) => keep(lists[set])) as [Capability[], Capability[], Capability[], Capability[], Capability[]];
  const outside = (list: Capability[], of: Capability[]) => list.filter((c) => !of.includes(c));
  if (outside(effective, permitted).length) fail('process.capabilities.effective', `${outside(effective, permitted).join(', ')} not in permitted: capset(2) refuses an effective capability that is not permitted`);
  if (outside(inheritable, bounding).length) fail('process.capabilities.inheritable', `${outside(inheritable, bounding).join(', ')} not in bounding: capset(2) refuses an inheritable capability outside the bounding set`);
  const noAmbient = ambient.filter((c) => !permitted.includes(c) || !inheritable.includes(c));
  if (noAmbient.length) warnings.push(`process.capabilities.ambient: ${noAmbient.join(', ')} ignored: an ambient capability must also be permitted and inheritable (prctl(2) PR_CAP_AMBIENT_RAISE)`);
  return { bounding, sets: { effective, permitted, inheritable, ambient: ambient.filter((c) => !noAmbient.includes(c)) }, warnings };
}

// ------------------------------------------------------------------ user

export function userFromSpec(user: SpecUser | undefined): { user: NonNullable<SecuritySpec['user']>; umask?: number } {
  if (!user) return fail('process.user', 'missing (uid and gid are required)');
  if (!isUint32(user.uid) || user.uid === 0xffffffff) fail('process.user.uid', `${JSON.stringify(user.uid)} is not a uid`);
  if (!isUint32(user.gid) || user.gid === 0xffffffff) fail('process.user.gid', `${JSON.stringify(user.gid)} is not a gid`);
  const groups = user.additionalGids ?? [];
  if (!Array.isArray(groups) || !groups.every((g) => isUint32(g) && g !== 0xffffffff)) fail('process.user.additionalGids', 'must be a list of gids');
  if (user.umask !== undefined && !(Number.isInteger(user.umask) && user.umask >= 0 && user.umask <= 0o777)) fail('process.user.umask', `${JSON.stringify(user.umask)} is not a umask (0 to 0777)`);
  // runc: setgroups(additionalGids) exactly; the primary gid is not added to them.
  return { user: { uid: user.uid, gid: user.gid, groups: [...groups] }, ...(user.umask !== undefined ? { umask: user.umask } : {}) };
}

// ---------------------------------------------------------------- rlimits

/** A JSON number as an rlim_t: 2^64-1 (RLIM_INFINITY) arrives as the double 2^64. */
function rlimValue(v: unknown, where: string): bigint {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return fail(where, `${JSON.stringify(v)} is not a limit`);
  return v >= 2 ** 64 - 1 ? RLIM_INFINITY : BigInt(v);
}

/**
 * process.rlimits as they are: unlike `--ulimit`, no nofile default is
 * added and nothing is quietly lowered. A hard limit above hull's own needs
 * CAP_SYS_RESOURCE; without it setrlimit(2) would fail in the init, so it
 * fails here, before anything is built.
 */
export function rlimitsFromSpec(rlimits: readonly SpecRlimit[] | undefined, host: Pick<HostFacts, 'rlimit' | 'canRaiseLimits'>): RlimitSetting[] {
  const seen = new Set<string>();
  return (rlimits ?? []).map((r, i) => {
    const where = `process.rlimits[${i}]`;
    const name = typeof r?.type === 'string' && r.type.startsWith('RLIMIT_') ? r.type.slice(7).toLowerCase() : '';
    if (!(name in RLIMIT)) fail(where, `unknown type ${JSON.stringify(r?.type)} (one of ${Object.keys(RLIMIT).map((n) => `RLIMIT_${n.toUpperCase()}`).join(', ')})`);
    if (seen.has(name)) fail(where, `${r.type} is given twice`);
    seen.add(name);
    const soft = rlimValue(r.soft, `${where}.soft`);
    const hard = rlimValue(r.hard, `${where}.hard`);
    if (soft > hard) fail(where, `${r.type}: soft limit ${soft} is above the hard limit ${hard}`);
    const resource = RLIMIT[name as RlimitName];
    const current = host.rlimit(resource).hard;
    if (hard > current && !host.canRaiseLimits) {
      fail(where, `${r.type}: hard limit ${hard === RLIM_INFINITY ? 'unlimited' : hard} is above hull's own (${current === RLIM_INFINITY ? 'unlimited' : current}), and raising it needs CAP_SYS_RESOURCE, which hull does not have`);
    }
    return { name: name as RlimitName, resource, soft: `${soft}`, hard: `${hard}` };
  });
}

// ---------------------------------------------------------------- seccomp

/** libseccomp's architecture names (seccomp_arch_resolve_name). Only the native one is compiled; see docs/hardening.md. */
const SCMP_ARCHES = new Set(
  ['X86', 'X86_64', 'X32', 'ARM', 'AARCH64', 'MIPS', 'MIPS64', 'MIPS64N32', 'MIPSEL', 'MIPSEL64', 'MIPSEL64N32', 'PPC', 'PPC64', 'PPC64LE', 'S390', 'S390X', 'PARISC', 'PARISC64', 'RISCV64', 'LOONGARCH64', 'M68K', 'SH', 'SHEB'].map(
    (a) => `SCMP_ARCH_${a}`,
  ),
);

/** runc's flags. TSYNC asks for the filter on every thread: ours are gone at execve anyway, so it changes nothing. */
const SECCOMP_FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW,
};

const takesErrno = (action: string) => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';

/**
 * linux.seccomp in the profile format our compiler takes (docker's, which
 * the spec's is a subset of), with runc's readings made explicit.
 */
export function seccompProfileFromSpec(seccomp: SpecSeccomp): { profile: SeccompProfile; flags: number } {
  const where = 'linux.seccomp';
  if (seccomp.listenerPath || seccomp.listenerMetadata) fail(`${where}.listenerPath`, 'a seccomp agent (SCMP_ACT_NOTIFY) is not supported by hull');
  let flags = 0;
  for (const flag of seccomp.flags ?? []) {
    const bit = SECCOMP_FLAGS[flag];
    if (bit === undefined) fail(`${where}.flags`, `seccomp flag ${JSON.stringify(flag)} is not known to hull (${Object.keys(SECCOMP_FLAGS).join(', ')})`);
    flags |= bit!;
  }
  for (const arch of seccomp.architectures ?? []) if (!SCMP_ARCHES.has(arch)) fail(`${where}.architectures`, `unknown architecture ${JSON.stringify(arch)}`);
  if (seccomp.defaultErrnoRet !== undefined && !takesErrno(seccomp.defaultAction)) fail(`${where}.defaultErrnoRet`, `${seccomp.defaultAction} takes no errno`);
  const rules: SeccompRule[] = [];
  (seccomp.syscalls ?? []).forEach((call, i) => {
    const at = `${where}.syscalls[${i}]`;
    if (call?.errnoRet !== undefined && !takesErrno(call.action)) fail(`${at}.errnoRet`, `${call.action} takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)`);
    const errnoRet = takesErrno(call?.action) ? (call.errnoRet ?? EPERM) : undefined;
    const base: SeccompRule = { names: call?.names, action: call?.action, ...(errnoRet !== undefined ? { errnoRet } : {}) };
    const args: SeccompArg[] = call?.args ?? [];
    const indexes = args.map((a) => a?.index);
    if (new Set(indexes).size < indexes.length) for (const arg of args) rules.push({ ...base, args: [arg] });
    else rules.push({ ...base, ...(args.length ? { args } : {}) });
  });
  const profile: SeccompProfile = {
    defaultAction: seccomp.defaultAction,
    ...(seccomp.defaultErrnoRet !== undefined ? { defaultErrnoRet: seccomp.defaultErrnoRet } : {}),
    ...(seccomp.architectures ? { architectures: [...seccomp.architectures] } : {}),
    syscalls: rules,
  };
  return { profile: validateProfile(profile, `config.json: ${where}`), flags };
}

// ---------------------------------------------------------------- devices

/** runc's AllowedDevices (libcontainer/specconv): appended after the spec's list, so no spec can take them away. */
export const RUNC_DEVICE_RULES: readonly (SpecDeviceCgroup & { path?: string })[] = [
  { allow: true, type: 'c', major: null, minor: null, access: 'm' },
  { allow: true, type: 'b', major: null, minor: null, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm', path: '/dev/null' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm', path: '/dev/random' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm', path: '/dev/full' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm', path: '/dev/tty' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm', path: '/dev/zero' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm', path: '/dev/urandom' },
  { allow: true, type: 'c', major: 136, minor: null, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
];

const ACCESS = ['r', 'w', 'm'] as const;

function wildcard(n: number | null | undefined, where: string): number | null {
  if (n === undefined || n === null || n === -1) return null;
  if (!isUint32(n)) return fail(where, `${JSON.stringify(n)} is not a device number`);
  return n;
}

/**
 * resources.devices (then runc's defaults) as the allow list our devices
 * cgroup and eBPF program take ("c 1:3 rwm"), by running the list the way
 * the v1 kernel does (security/device_cgroup.c): a rule of type "a" resets
 * the default to allow or deny everything; any other rule adds its access
 * to the exceptions, or takes it from an exception with exactly its type and
 * numbers. null = no restriction at all (a list that ends allowing "a").
 * "Allow all but these" cannot be written as an allow list: refused.
 * A spec that lists a node in linux.devices at a default's path replaces
 * that default, rule and all (runc's dedup).
 */
export function deviceRulesFromSpec(rules: readonly SpecDeviceCgroup[] | undefined, nodes: readonly SpecDevice[] | undefined = []): string[] | null {
  const nodePaths = new Set(nodes.map((n) => n.path));
  const all = [...(rules ?? []).map((r, i) => ({ r, where: `linux.resources.devices[${i}]` })), ...RUNC_DEVICE_RULES.filter((d) => !d.path || !nodePaths.has(d.path)).map((r) => ({ r, where: 'default devices' }))];
  let defaultAllow = false;
  const exceptions = new Map<string, Set<string>>();
  for (const { r, where } of all) {
    if (typeof r?.allow !== 'boolean') fail(where, '"allow" must be true or false');
    const type = r.type ?? 'a';
    if (type !== 'a' && type !== 'b' && type !== 'c') fail(`${where}.type`, `${JSON.stringify(type)} is not a, b or c`);
    if (typeof r.access !== 'string' || r.access === '' || ![...r.access].every((c) => (ACCESS as readonly string[]).includes(c))) fail(`${where}.access`, `${JSON.stringify(r.access)}: expected some of "rwm"`);
    if (type === 'a') {
      defaultAllow = r.allow;
      exceptions.clear();
      continue;
    }
    const major = wildcard(r.major, `${where}.major`);
    const minor = wildcard(r.minor, `${where}.minor`);
    const key = `${type} ${major ?? '*'}:${minor ?? '*'}`;
    const bits = exceptions.get(key) ?? new Set<string>();
    // An allow in deny-all mode (or a deny in allow-all mode) adds an exception; the opposite takes one away.
    for (const c of r.access!) {
      if (r.allow !== defaultAllow) bits.add(c);
      else bits.delete(c);
    }
    if (bits.size) exceptions.set(key, bits);
    else exceptions.delete(key);
  }
  if (defaultAllow) {
    if (exceptions.size) fail('linux.resources.devices', `allowing every device except ${[...exceptions.keys()].join(', ')} cannot be enforced by hull's allow list: start the list with {"allow": false, "access": "rwm"}`);
    return null;
  }
  return [...exceptions].map(([key, bits]) => `${key} ${ACCESS.filter((c) => bits.has(c)).join('')}`);
}

const NODE_TYPES: Record<string, DeviceNode['type']> = { c: 'c', u: 'c', b: 'b', p: 'p' };

/** linux.devices: the nodes to make. "u" (unbuffered) is a character device to the kernel. */
export function deviceNodesFromSpec(devices: readonly SpecDevice[] | undefined): DeviceNode[] {
  return (devices ?? []).map((d, i) => {
    const where = `linux.devices[${i}]`;
    const type = NODE_TYPES[d?.type];
    if (!type) return fail(`${where}.type`, `${JSON.stringify(d?.type)} is not c, b, u or p`);
    if (typeof d.path !== 'string' || !d.path.startsWith('/') || d.path.includes('\0') || d.path.split('/').some((p) => p === '..' || p === '.') || d.path.replace(/\/+$/, '') === '') {
      fail(`${where}.path`, `${JSON.stringify(d.path)}: must be an absolute path without "." or ".."`);
    }
    if (type !== 'p' && (!isUint32(d.major) || !isUint32(d.minor))) fail(where, `${d.path}: a ${type === 'b' ? 'block' : 'character'} device needs major and minor numbers`);
    for (const id of ['uid', 'gid'] as const) if (d[id] !== undefined && !isUint32(d[id])) fail(`${where}.${id}`, `${JSON.stringify(d[id])} is not an id`);
    if (d.fileMode !== undefined && !isUint32(d.fileMode)) fail(`${where}.fileMode`, `${JSON.stringify(d.fileMode)} is not a mode`);
    // runc strips the file-type bits from fileMode; the type comes from "type".
    return { path: d.path.replace(/\/+/g, '/').replace(/\/$/, ''), type, major: d.major ?? 0, minor: d.minor ?? 0, fileMode: (d.fileMode ?? 0o666) & 0o7777, uid: d.uid ?? 0, gid: d.gid ?? 0 };
  });
}

// ------------------------------------------------------------------ paths

function pathList(paths: unknown, where: string): string[] {
  if (paths === undefined || paths === null) return [];
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.startsWith('/') && !p.includes('\0'))) return fail(where, 'must be a list of absolute paths');
  return [...paths];
}

// ------------------------------------------------------------- the whole

/**
 * The hardening fields of a config.json as the plan applySecurity and the
 * device cgroups take. Pure given the host facts; throws one ContainerError
 * ("config.json: FIELD: why") for anything it cannot honour.
 */
export function securityFromSpec(spec: RuntimeSpec, host: HostFacts = readHostFacts()): SecurityPlan {
  const proc = spec.process;
  const linux = spec.linux ?? {};
  const caps = capabilitiesFromSpec(proc?.capabilities, host);
  const warnings = [...caps.warnings];
  const { user, umask } = userFromSpec(proc?.user);

  if (proc?.oomScoreAdj !== undefined && !(Number.isInteger(proc.oomScoreAdj) && proc.oomScoreAdj >= -1000 && proc.oomScoreAdj <= 1000)) {
    fail('process.oomScoreAdj', `${JSON.stringify(proc.oomScoreAdj)} is not within -1000..1000`);
  }

  let seccomp: SecuritySpec['seccomp'] = null;
  let seccompFlags = 0;
  if (linux.seccomp) {
    const converted = seccompProfileFromSpec(linux.seccomp);
    const program = compileProfile(converted.profile, { arch: host.arch, capabilities: caps.bounding, kernel: host.kernel });
    checkExecveAllowed(program, host.arch, 'config.json: linux.seccomp');
    seccomp = program.map((i) => [i.code, i.jt, i.jf, i.k]);
    seccompFlags = converted.flags;
  }

  const devices = deviceNodesFromSpec(linux.devices);
  const rules = deviceRulesFromSpec(linux.resources?.devices, linux.devices);
  let deviceCgroup: SecurityPlan['deviceCgroup'] = null;
  let deviceProgram: SecurityPlan['deviceProgram'] = null;
  if (rules) {
    if (host.devices.v1) deviceCgroup = { mountPoint: host.devices.v1, rules };
    if (host.devices.program) deviceProgram = [...rules];
    if (!deviceCgroup && !deviceProgram) fail('linux.resources.devices', 'no device allow list on this host: neither a cgroup v1 devices controller nor a cgroup2 tree for the eBPF device program is mounted');
  }

  const securitySpec: SecuritySpec = {
    capabilities: caps.bounding,
    lastCap: host.lastCap,
    noNewPrivileges: proc?.noNewPrivileges === true,
    seccomp,
    maskedPaths: pathList(linux.maskedPaths, 'linux.maskedPaths'),
    readonlyPaths: pathList(linux.readonlyPaths, 'linux.readonlyPaths'),
    rlimits: rlimitsFromSpec(proc?.rlimits, host),
    user,
    ...(caps.sets ? { processCapabilities: caps.sets } : {}),
    ...(umask !== undefined ? { umask } : {}),
    ...(proc?.oomScoreAdj !== undefined ? { oomScoreAdj: proc.oomScoreAdj } : {}),
    ...(seccompFlags ? { seccompFlags } : {}),
    ...(devices.length ? { devices } : {}),
  };
  return { spec: securitySpec, deviceCgroup, deviceProgram, warnings };
}
