// The three limits a container gets, parsed from the flags docker users know:
// --pids-max N, --memory 64m, --cpus 0.5.
import { availableParallelism } from 'node:os';
import { UsageError } from '@hull/01-uts';
import type { SpecResources } from '@hull/sys';

export interface CgroupLimits {
  /** pids.max: the most tasks (processes and threads) the cgroup may hold. */
  pidsMax?: number;
  /** memory.max (v2) / memory.limit_in_bytes (v1), in bytes; swap may not add to it. */
  memoryBytes?: number;
  /** CPUs worth of time per period: quota = cpus * CPU_PERIOD_US. */
  cpus?: number;
}

/** The CFS period, as docker and runc use it: 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a CFS quota below 1 ms. */
const MIN_QUOTA_US = 1_000;
/** docker's floor: below this the container cannot even start a shell. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `--pids-max N`: a whole number >= 1. */
export function parsePidsMax(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--pids-max ${JSON.stringify(text)}: must be a whole number of at least 1`);
  }
  return Number(text);
}

/** `--memory 64m`: bytes, or a number with a k/m/g/t suffix (powers of 1024, as docker reads them). */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s?([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--memory ${JSON.stringify(text)}: must be bytes or a size like 512k, 64m, 1g`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (bytes < MIN_MEMORY_BYTES) throw new UsageError(`--memory ${JSON.stringify(text)}: the minimum is 6m`);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`--memory ${JSON.stringify(text)}: too large`);
  return bytes;
}

/** `--cpus 0.5`: how many CPUs' worth of time, from 0.01 up to the CPUs this machine has. */
export function parseCpus(text: string, cpusOnHost = availableParallelism()): number {
  const cpus = /^\d*\.?\d+$/.test(text) ? Number(text) : NaN;
  const range = `must be a number from 0.01 to ${cpusOnHost} (the CPUs on this machine)`;
  if (!Number.isFinite(cpus) || cpuQuotaUs(cpus) < MIN_QUOTA_US || cpus > cpusOnHost) {
    throw new UsageError(`--cpus ${JSON.stringify(text)}: ${range}`);
  }
  return cpus;
}

/** CFS bandwidth: the microseconds of CPU time the cgroup may use per CPU_PERIOD_US. */
export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}

/** The controller each limit needs, and the flag that sets it (for error messages). */
export const LIMIT_CONTROLLERS = [
  { limit: 'pidsMax', controller: 'pids', flag: '--pids-max' },
  { limit: 'memoryBytes', controller: 'memory', flag: '--memory' },
  { limit: 'cpus', controller: 'cpu', flag: '--cpus' },
] as const;

/** The controllers these limits need, with their flags; cpuacct only ever reports, so never needed. */
export function neededControllers(limits: CgroupLimits): { controller: 'pids' | 'memory' | 'cpu'; flag: string }[] {
  return LIMIT_CONTROLLERS.filter((l) => limits[l.limit] !== undefined);
}

/** The flags as a step reads them; undefined flags are no limit. */
export function parseLimits(flags: { pidsMax?: string; memory?: string; cpus?: string }): CgroupLimits {
  const limits: CgroupLimits = {};
  if (flags.pidsMax !== undefined) limits.pidsMax = parsePidsMax(flags.pidsMax);
  if (flags.memory !== undefined) limits.memoryBytes = parseMemory(flags.memory);
  if (flags.cpus !== undefined) limits.cpus = parseCpus(flags.cpus);
  return limits;
}

/**
 * Limits as config.json's linux.resources says them (config-linux.md,
 * "Control groups"). Memory swap equals the limit: runc reads it as
 * memory+swap, so no swap may add to the limit (docker's default for -m).
 */
export function resourcesFromLimits(limits: CgroupLimits): SpecResources {
  return {
    ...(limits.pidsMax !== undefined ? { pids: { limit: limits.pidsMax } } : {}),
    ...(limits.memoryBytes !== undefined ? { memory: { limit: limits.memoryBytes, swap: limits.memoryBytes } } : {}),
    ...(limits.cpus !== undefined ? { cpu: { quota: cpuQuotaUs(limits.cpus), period: CPU_PERIOD_US } } : {}),
  };
}

/** linux.resources -> the limits this chapter writes (pids, memory, cpu); zero or negative means none, as runc reads them. */
export function limitsFromResources(resources: SpecResources | undefined): CgroupLimits {
  const r = resources ?? {};
  const limits: CgroupLimits = {};
  if (r.pids?.limit !== undefined && r.pids.limit > 0) limits.pidsMax = r.pids.limit;
  if (r.memory?.limit !== undefined && r.memory.limit > 0) limits.memoryBytes = r.memory.limit;
  const quota = r.cpu?.quota;
  if (quota !== undefined && quota > 0) limits.cpus = quota / (r.cpu?.period && r.cpu.period > 0 ? r.cpu.period : CPU_PERIOD_US);
  return limits;
}
