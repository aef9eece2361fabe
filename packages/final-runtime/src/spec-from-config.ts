// The reverse of security/oci.ts, for `hull run` to become an engine: what
// `hull run` computes for a container today (its ContainerConfig, the user
// resolved in the image, the security plan, the /etc files and volumes it
// binds) written as the equivalent OCI runtime spec, so a runtime that does
// exactly what config.json says gives the container the same world.
//
// Equivalent means: read back by securityFromSpec (and the lead's
// hull-runtime), the same layers come out. Where the spec cannot say what
// hull does, the nearest spec form is chosen and the comment says why.
import { ContainerError } from '@hull/01-uts';
import type { BindMount } from '@hull/03-chroot-proc';
import { CGROUP_PARENT, CPU_PERIOD_US, cpuQuotaUs, parseDeviceRule } from '@hull/04-cgroups';
import type { IdMapEntry } from '@hull/05-userns';
import type { ResolvedUser } from '@hull/07-oci-pull';
import {
  OCI_VERSION,
  RLIM_INFINITY,
  type RuntimeSpec,
  type SpecDeviceCgroup,
  type SpecIdMapping,
  type SpecMount,
  type SpecNamespace,
  type SpecResources,
  type SpecSeccomp,
  type SpecSeccompArg,
  type SpecSeccompSyscall,
} from '@hull/sys';
import { mergeEnv } from './container-config.js';
import { defaultMounts } from './default-spec.js';
import { defaultProfile } from './security/default-profile.js';
import { parseSecurityOpts, type SecurityPlan } from './security/plan.js';
import { activeRules, type CompileContext, loadProfile, type SeccompArg, type SeccompProfile, type SeccompRule } from './security/seccomp.js';
import type { RlimitSetting } from './security/rlimits.js';
import type { ContainerConfig } from './store.js';

/** What startContainer has in hand just before it clones. */
export interface EngineState {
  config: ContainerConfig;
  /** The image's user resolved in its rootfs (07's resolveUser). */
  user: ResolvedUser;
  /** The mounted overlay, absolute. */
  rootfs: string;
  /** planSecurity({...config.security, user}). */
  security: SecurityPlan;
  /** The generated /etc files, then the volumes, as startContainer prepared them (in that order). */
  binds?: BindMount[];
  /** The rootfs has a /tmp directory: hull mounts a tmpfs there (chapter 03). */
  tmp?: boolean;
  /** --userns remap: chapter 05's maps. */
  userns?: { uidMap: IdMapEntry[]; gidMap: IdMapEntry[] };
  /** --network bridge: the namespace the engine wired (veth, address) before the runtime runs, as CNI does. */
  netns?: string;
  /** For the seccomp profile's includes (architecture, kernel version); the host's by default. */
  arch?: string;
  kernel?: string;
}

export function specFromContainerConfig(state: EngineState): RuntimeSpec {
  const { config, user, security } = state;
  const root = user.uid === 0;
  const caps = [...security.spec.capabilities];
  // hull run: a non-root user gets no capabilities at all (KEEPCAPS off); in the spec that is empty sets.
  const held = root ? caps : [];
  const seccomp = seccompOf(config, { capabilities: caps, ...(state.arch ? { arch: state.arch } : {}), ...(state.kernel ? { kernel: state.kernel } : {}) });
  const readonlyVolumes = new Set(config.volumes.filter((v) => v.readonly).map((v) => v.destination));
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: [...user.groups] },
      args: [...config.argv],
      // docker sets HOME from the user's passwd entry unless the env has one (as startContainer does).
      env: mergeEnv([`HOME=${user.home}`], config.env),
      cwd: config.workdir,
      capabilities: { bounding: caps, effective: held, permitted: held, inheritable: [], ambient: [] },
      rlimits: security.spec.rlimits.map(specRlimit),
      noNewPrivileges: security.spec.noNewPrivileges,
    },
    root: { path: state.rootfs, readonly: config.readonly },
    hostname: config.hostname,
    mounts: [
      ...defaultMounts(),
      ...(state.tmp ? [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }] : []),
      // Chapter 03 binds without MS_REC; -v ...:ro remounts read-only.
      ...(state.binds ?? []).map((b): SpecMount => ({ destination: b.destination, type: 'bind', source: b.source, options: ['bind', 'rprivate', ...(readonlyVolumes.has(b.destination) ? ['ro'] : [])] })),
    ],
    linux: {
      namespaces: namespacesOf(config, state),
      ...(state.userns ? { uidMappings: state.userns.uidMap.map(specIdMapping), gidMappings: state.userns.gidMap.map(specIdMapping) } : {}),
      cgroupsPath: `/${CGROUP_PARENT}/${config.id}`,
      resources: resourcesOf(config, security),
      ...(seccomp ? { seccomp } : {}),
      maskedPaths: [...security.spec.maskedPaths],
      readonlyPaths: [...security.spec.readonlyPaths],
    },
  };
}

function namespacesOf(config: ContainerConfig, state: EngineState): SpecNamespace[] {
  // Chapter 03's set (pid, mount, uts, ipc); --network host shares the host's; --userns remap adds a user namespace.
  const list: SpecNamespace[] = [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }];
  if (config.network !== 'host') list.push(state.netns ? { type: 'network', path: state.netns } : { type: 'network' });
  if (state.userns) list.push({ type: 'user' });
  return list;
}

function specIdMapping(e: IdMapEntry): SpecIdMapping {
  return { containerID: e.containerId, hostID: e.hostId, size: e.size };
}

/** rlim_t in JSON. RLIM_INFINITY (2^64-1) has no exact double: it becomes 2^64, which readers take as infinity (see specJson). */
function specRlimit(r: RlimitSetting): { type: string; soft: number; hard: number } {
  const n = (v: string) => (BigInt(v) === RLIM_INFINITY ? 2 ** 64 : Number(v));
  return { type: `RLIMIT_${r.name.toUpperCase()}`, soft: n(r.soft), hard: n(r.hard) };
}

function resourcesOf(config: ContainerConfig, security: SecurityPlan): SpecResources {
  const { limits } = config;
  const rules = security.deviceProgram ?? security.deviceCgroup?.rules ?? null;
  return {
    // null rules: --privileged, every device.
    devices: rules ? [{ allow: false, access: 'rwm' }, ...rules.map(specDeviceRule)] : [{ allow: true, access: 'rwm' }],
    ...(limits.pidsMax !== undefined ? { pids: { limit: limits.pidsMax } } : {}),
    // -m: swap may not add to it (chapter 04 sets memory+swap to the same value), as docker's --memory-swap default of "same as -m" for no swap.
    ...(limits.memoryBytes !== undefined ? { memory: { limit: limits.memoryBytes, swap: limits.memoryBytes } } : {}),
    ...(limits.cpus !== undefined ? { cpu: { quota: cpuQuotaUs(limits.cpus), period: CPU_PERIOD_US } } : {}),
  };
}

function specDeviceRule(text: string): SpecDeviceCgroup {
  const r = parseDeviceRule(text);
  const access = [...'rwm'].filter((c) => text.split(' ').at(-1)!.includes(c)).join('');
  if (r.type === 'a') return { allow: true, access: 'rwm' };
  return { allow: true, type: r.type, major: r.major ?? -1, minor: r.minor ?? -1, access };
}

// ---------------------------------------------------------------- seccomp

/** The profile `hull run` compiles for this container, or null for unconfined (--privileged, seccomp=unconfined). */
function seccompOf(config: ContainerConfig, ctx: CompileContext): SpecSeccomp | null {
  const opts = parseSecurityOpts(config.security?.securityOpt ?? []);
  const name = config.security?.privileged && opts.seccomp === 'default' ? 'unconfined' : opts.seccomp;
  if (name === 'unconfined') return null;
  return seccompToSpec(name === 'default' ? defaultProfile() : loadProfile(name), ctx);
}

const NEGATED: Partial<Record<SeccompArg['op'], SeccompArg['op']>> = {
  SCMP_CMP_EQ: 'SCMP_CMP_NE',
  SCMP_CMP_NE: 'SCMP_CMP_EQ',
  SCMP_CMP_LT: 'SCMP_CMP_GE',
  SCMP_CMP_GE: 'SCMP_CMP_LT',
  SCMP_CMP_GT: 'SCMP_CMP_LE',
  SCMP_CMP_LE: 'SCMP_CMP_GT',
};

const specArg = (a: SeccompArg): SpecSeccompArg => ({ index: a.index, value: a.value, ...(a.valueTwo !== undefined ? { valueTwo: a.valueTwo } : {}), op: a.op });

/**
 * A docker-format profile as linux.seccomp, for one container: its
 * includes/excludes decided (the spec has none), every errno written out
 * (runc reads a missing one as EPERM, hull's compiler as defaultErrnoRet).
 *
 * One rule needs rewriting: conditions on one argument are ANDed by hull's
 * compiler, but a spec runtime (runc, so hull-runtime too) reads two
 * conditions on the same argument as two rules, an OR, so the default
 * profile's `socket` rule "40 < family <= 0xffffffff" would allow every
 * family. It becomes a guard first, "family > 0xffffffff: the default
 * action", then "family > 40: allow"; rules are tried in order. That is
 * exact only when no later rule names the same syscall, which is checked.
 */
export function seccompToSpec(profile: SeccompProfile, ctx: CompileContext = {}): SpecSeccomp {
  const defaultErrno = profile.defaultErrnoRet ?? 1;
  const takesErrno = (action: string) => action === 'SCMP_ACT_ERRNO' || action === 'SCMP_ACT_TRACE';
  const rules = activeRules(profile, ctx);
  const syscalls: SpecSeccompSyscall[] = [];
  rules.forEach((rule: SeccompRule, i) => {
    const names = rule.names ?? (rule.name ? [rule.name] : []);
    const errnoRet = rule.errnoRet ?? (takesErrno(rule.action) ? (rule.action === 'SCMP_ACT_TRACE' ? 0 : defaultErrno) : undefined);
    const base = { names: [...names], action: rule.action, ...(errnoRet !== undefined ? { errnoRet } : {}) };
    const args = rule.args ?? [];
    const firstOfIndex = args.filter((a, j) => args.findIndex((b) => b.index === a.index) === j);
    const repeated = args.filter((a) => !firstOfIndex.includes(a));
    if (repeated.length) {
      const later = rules.slice(i + 1).flatMap((r) => r.names ?? (r.name ? [r.name] : [])).filter((n) => names.includes(n));
      if (later.length) throw new ContainerError(`seccomp profile: the rule for ${names.join(',')} tests one argument twice, which a runtime spec reads as an OR; it cannot be rewritten while later rules name ${later.join(',')}`);
      const guardAction = { action: profile.defaultAction, ...(takesErrno(profile.defaultAction) ? { errnoRet: defaultErrno } : {}) };
      for (const arg of repeated) {
        const op = NEGATED[arg.op];
        if (!op) throw new ContainerError(`seccomp profile: the rule for ${names.join(',')} tests argument ${arg.index} twice with ${arg.op}, which has no opposite to write as a guard`);
        syscalls.push({ names: [...names], ...guardAction, args: [specArg({ ...arg, op })] });
      }
    }
    syscalls.push({ ...base, ...(firstOfIndex.length ? { args: firstOfIndex.map(specArg) } : {}) });
  });
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    ...(profile.architectures ? { architectures: [...profile.architectures] } : {}),
    syscalls,
  };
}

/**
 * config.json text. JSON.stringify cannot write 18446744073709551615
 * (RLIM_INFINITY, "unlimited"): the nearest double is 2^64, which Go's
 * encoding/json refuses for a uint64. Written as the exact integer here.
 */
export function specJson(spec: RuntimeSpec): string {
  return JSON.stringify(spec, null, 2).replace(/("(?:soft|hard)": )18446744073709552000\b/g, '$118446744073709551615');
}
