// Host side: from `--cap-add/--cap-drop/--security-opt/--ulimit/--privileged`
// to the SecuritySpec the init stage applies. Everything that needs a file
// (a seccomp profile), a host fact (our own capabilities and limits, the
// kernel, the cgroup layout) or may fail with a usage error is decided here,
// before the clone, so a bad flag never gets as far as a half-built container.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ContainerError } from '@hull/01-uts';
import { getrlimit, type Rlimit } from '@hull/sys';
import { type Capability, capabilityNumber, limitToAvailable, resolveCapabilities, statusMask } from './capabilities.js';
import { DEFAULT_DEVICE_RULES, type DeviceControl, detectDeviceControl } from './devices.js';
import type { SecuritySpec } from './harden.js';
import { MASKED_PATHS, READONLY_PATHS } from './paths.js';
import { planRlimits } from './rlimits.js';
import { defaultProfile } from './default-profile.js';
import { checkExecveAllowed, compileProfile, loadProfile, type SeccompProfile } from './seccomp.js';

/** The flags, as the CLI collected them (repeatable ones as lists). */
export interface SecurityFlags {
  capAdd?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  ulimit?: string[];
  privileged?: boolean;
  user?: SecuritySpec['user'];
}

export interface SecurityOpts {
  noNewPrivileges: boolean;
  /** 'default', 'unconfined' or a path to a profile in docker's format. */
  seccomp: string;
  /** systempaths=unconfined turns masked and read-only paths off (docker's name). */
  systemPaths: boolean;
}

/**
 * docker's --security-opt values we support:
 *   no-new-privileges[=true|false] (also the old ':' form), seccomp=unconfined|PROFILE.json,
 *   systempaths=unconfined. Anything else (apparmor, label, ...) is refused by name rather than ignored.
 */
export function parseSecurityOpts(opts: readonly string[]): SecurityOpts {
  const out: SecurityOpts = { noNewPrivileges: true, seccomp: 'default', systemPaths: true };
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(opt);
    const key = m?.[1];
    const value = m?.[2];
    if (key === 'no-new-privileges') {
      if (value === undefined || value === 'true') out.noNewPrivileges = true;
      else if (value === 'false') out.noNewPrivileges = false;
      else throw new ContainerError(`--security-opt ${opt}: expected no-new-privileges=true or =false`);
    } else if (key === 'seccomp') {
      if (!value) throw new ContainerError(`--security-opt ${opt}: expected seccomp=unconfined or seccomp=PROFILE.json`);
      out.seccomp = value;
    } else if (key === 'systempaths') {
      if (value !== 'unconfined') throw new ContainerError(`--security-opt ${opt}: only systempaths=unconfined exists`);
      out.systemPaths = false;
    } else if (key === 'apparmor' || key === 'label') {
      throw new ContainerError(`--security-opt ${opt}: ${key === 'label' ? 'SELinux labels' : 'AppArmor'} are not supported by hull`);
    } else {
      throw new ContainerError(`--security-opt ${opt}: unknown option (no-new-privileges, seccomp, systempaths)`);
    }
  }
  return out;
}

/** What planSecurity needs to know about the host; injectable so the planning is testable anywhere. */
export interface HostFacts {
  /** hull's own bounding set: a container can get no capability outside it. */
  boundingSet: bigint;
  /** Does hull have CAP_SYS_RESOURCE in its effective set (may it raise hard limits)? */
  canRaiseLimits: boolean;
  lastCap: number;
  rlimit: (resource: number) => Rlimit;
  devices: DeviceControl;
  arch: string;
  kernel: string;
}

export function readHostFacts(): HostFacts {
  const status = readFileSync('/proc/self/status', 'utf8');
  const effective = statusMask(status, 'CapEff');
  return {
    boundingSet: statusMask(status, 'CapBnd'),
    canRaiseLimits: ((effective >> BigInt(capabilityNumber('CAP_SYS_RESOURCE'))) & 1n) === 1n,
    lastCap: Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()),
    rlimit: getrlimit,
    devices: detectDeviceControl(),
    arch: process.arch,
    kernel: release(),
  };
}

export interface SecurityPlan {
  spec: SecuritySpec;
  /** The container's v1 devices cgroup: where the v1 hierarchy is and its devices.allow lines; null = none (privileged, or no v1 controller). */
  deviceCgroup: { mountPoint: string; rules: string[] } | null;
  /** The allow list for the eBPF device program on the container's cgroup (Cgroup.limitDevices); null = none (privileged, or no cgroup2 tree). */
  deviceProgram: string[] | null;
  /** One line each, for stderr as `hull: warning: ...`. */
  warnings: string[];
}

export function planSecurity(flags: SecurityFlags, host: HostFacts = readHostFacts()): SecurityPlan {
  const opts = parseSecurityOpts(flags.securityOpt ?? []);
  const warnings: string[] = [];
  const privileged = flags.privileged ?? false;
  const capFlags = { add: flags.capAdd ?? [], drop: flags.capDrop ?? [], privileged };
  const capabilities: Capability[] = limitToAvailable(resolveCapabilities(capFlags), host.boundingSet, capFlags);

  let deviceCgroup: SecurityPlan['deviceCgroup'] = null;
  let deviceProgram: SecurityPlan['deviceProgram'] = null;
  if (!privileged) {
    if (host.devices.v1) deviceCgroup = { mountPoint: host.devices.v1, rules: [...DEFAULT_DEVICE_RULES] };
    if (host.devices.program) deviceProgram = [...DEFAULT_DEVICE_RULES];
    // Without an allow list, root in the container could open any device node
    // (one it makes with CAP_MKNOD, one in a volume): refuse rather than run unprotected.
    if (!deviceCgroup && !deviceProgram) {
      throw new ContainerError('no device allow list on this host: neither a cgroup v1 devices controller nor a cgroup2 tree for the eBPF device program is mounted (see docs/hardening.md, Device nodes)');
    }
  }

  let seccomp: SecuritySpec['seccomp'] = null;
  const profileName = privileged && opts.seccomp === 'default' ? 'unconfined' : opts.seccomp;
  if (profileName !== 'unconfined') {
    const profile: SeccompProfile = profileName === 'default' ? defaultProfile() : loadProfile(profileName);
    const where = profileName === 'default' ? 'default seccomp profile' : `seccomp profile ${profileName}`;
    const program = compileProfile(profile, { arch: host.arch, capabilities, kernel: host.kernel });
    checkExecveAllowed(program, host.arch, where);
    seccomp = program.map((i) => [i.code, i.jt, i.jf, i.k]);
  }

  const limits = planRlimits(flags.ulimit ?? [], host.rlimit, host.canRaiseLimits);
  warnings.push(...limits.warnings);

  const systemPaths = opts.systemPaths && !privileged;
  const spec: SecuritySpec = {
    capabilities,
    lastCap: host.lastCap,
    noNewPrivileges: opts.noNewPrivileges,
    seccomp,
    maskedPaths: systemPaths ? [...MASKED_PATHS] : [],
    readonlyPaths: systemPaths ? [...READONLY_PATHS] : [],
    rlimits: limits.settings,
    ...(flags.user ? { user: flags.user } : {}),
  };
  return { spec, deviceCgroup, deviceProgram, warnings };
}
