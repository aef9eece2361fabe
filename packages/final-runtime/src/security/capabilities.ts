// Capabilities: root's power cut into ~41 pieces (capabilities(7)). A
// container's root keeps docker's default 14 and loses the rest, in every
// set: bounding (the ceiling for anything execve can grant later), effective,
// permitted, inheritable and ambient.
import { ContainerError } from '@hull/01-uts';

/** Every capability by number (<linux/capability.h>, up to Linux 5.9's CAP_CHECKPOINT_RESTORE = 40). */
export const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/**
 * docker's default set (moby's oci/caps/defaults.go lists the same 14).
 * Missing on purpose: SYS_ADMIN (mount, namespaces, half the kernel),
 * SYS_PTRACE, SYS_MODULE, NET_ADMIN, SYS_TIME, DAC_READ_SEARCH
 * (open_by_handle_at: the "shocker" escape), ...
 */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" -> "CAP_SYS_ADMIN"; "all" -> "ALL"; anything else is one clear error. */
export function capabilityName(name: string, flag = '--cap-add'): Capability | 'ALL' {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL' || upper === 'CAP_ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(full)) throw new ContainerError(`${flag} ${name}: unknown capability (see capabilities(7), e.g. NET_ADMIN or CAP_SYS_PTRACE)`);
  return full as Capability;
}

export interface CapabilityFlags {
  add?: readonly string[];
  drop?: readonly string[];
  privileged?: boolean;
}

/**
 * docker's rules for --cap-add/--cap-drop:
 *   --privileged          every capability, add/drop ignored;
 *   --cap-add ALL         every capability except those dropped;
 *   --cap-drop ALL        only those added;
 *   otherwise             the defaults, minus drops, plus adds (so an add wins over a drop of the same name).
 * Returned in capability-number order.
 */
export function resolveCapabilities(flags: CapabilityFlags = {}): Capability[] {
  const add = (flags.add ?? []).map((n) => capabilityName(n, '--cap-add'));
  const drop = (flags.drop ?? []).map((n) => capabilityName(n, '--cap-drop'));
  let result: Set<Capability>;
  if (flags.privileged) result = new Set(CAPABILITIES);
  else if (add.includes('ALL')) result = new Set(CAPABILITIES.filter((c) => !drop.includes(c)));
  else if (drop.includes('ALL')) result = new Set(add.filter((c): c is Capability => c !== 'ALL'));
  else {
    result = new Set(DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)));
    for (const c of add) if (c !== 'ALL') result.add(c);
  }
  return CAPABILITIES.filter((c) => result.has(c));
}

export function capabilityNumber(cap: Capability): number {
  return CAPABILITIES.indexOf(cap);
}

/** The 64-bit mask /proc/PID/status shows (CapEff: 00000000a80425fb for docker's defaults). */
export function capabilityMask(caps: readonly Capability[]): bigint {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(capabilityNumber(c));
  return mask;
}

/** The names behind a mask, e.g. what the host's own CapBnd allows. Bits beyond CAP_CHECKPOINT_RESTORE are ignored. */
export function capabilitiesOf(mask: bigint): Capability[] {
  return CAPABILITIES.filter((_, i) => ((mask >> BigInt(i)) & 1n) === 1n);
}

/**
 * Host side: a container cannot get what hull itself lacks (a capability
 * outside our bounding set can never come back). ALL and --privileged
 * quietly mean "all we have"; an explicitly named missing one is an error,
 * not a silent downgrade. These machines lack CAP_SYS_RESOURCE, for one.
 */
export function limitToAvailable(caps: readonly Capability[], available: bigint, flags: CapabilityFlags = {}): Capability[] {
  const named = new Set((flags.add ?? []).map((n) => capabilityName(n)).filter((c) => c !== 'ALL'));
  const missing = caps.filter((c) => named.has(c) && ((available >> BigInt(capabilityNumber(c))) & 1n) === 0n);
  if (missing.length && !flags.privileged) {
    throw new ContainerError(`--cap-add ${missing.join(',')}: hull itself does not have ${missing.length > 1 ? 'these capabilities' : 'this capability'} (its bounding set lacks ${missing.length > 1 ? 'them' : 'it'}), so it cannot grant ${missing.length > 1 ? 'them' : 'it'}`);
  }
  return caps.filter((c) => ((available >> BigInt(capabilityNumber(c))) & 1n) === 1n);
}

/** A capability set field of /proc/PID/status ("CapEff:\t00000000a80425fb") as a mask. */
export function statusMask(status: string, field: 'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb'): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc status`);
  return BigInt(`0x${m[1]}`);
}
