// Chapter 04's part of config.json: linux.resources (pids, memory, cpu) and
// linux.cgroupsPath, on top of chapter 03's.
import { type OptionSpecs, type OptionValues, randomId, stringOption, UsageError } from '@hull/01-uts';
import { ROOTFS_FLAGS, rootfsOptions, rootfsSpecFromFlags } from '@hull/03-chroot-proc';
import type { RuntimeSpec } from '@hull/sys';
import { CGROUP_PARENT, checkCgroupId } from './cgroup.js';
import { type CgroupLimits, limitsFromResources, parseLimits, resourcesFromLimits } from './limits.js';
import type { LimitedRunOptions } from './run.js';

export const CGROUP_FLAGS: OptionSpecs = {
  ...ROOTFS_FLAGS,
  'pids-max': { type: 'string', value: 'N', required: true, help: 'pids.max: the most processes and threads at once' },
  memory: { type: 'string', value: 'SIZE', help: 'Memory limit, e.g. 64m (no swap on top); over it the OOM killer strikes' },
  cpus: { type: 'string', value: 'FLOAT', help: 'CPUs worth of time per 100 ms period, e.g. 0.5' },
  id: { type: 'string', value: 'ID', help: 'The cgroup is /hull/ID (default: 12 random hex digits)' },
};

/** cgroupsPath is absolute: from the root of each hierarchy, where createCgroup makes hull/<id>. */
const PATH_PREFIX = `/${CGROUP_PARENT}/`;

/** Chapter 03's spec, under these limits in cgroup /hull/<id>. */
export function withCgroup(spec: RuntimeSpec, limits: CgroupLimits, id: string): RuntimeSpec {
  return { ...spec, linux: { ...spec.linux, resources: { ...spec.linux?.resources, ...resourcesFromLimits(limits) }, cgroupsPath: `${PATH_PREFIX}${id}` } };
}

export function cgroupIdFlag(value: string | undefined): string {
  if (value === undefined) return randomId();
  try {
    return checkCgroupId(value);
  } catch (err) {
    throw new UsageError(`--id: ${(err as Error).message}`);
  }
}

/** The limits flags (--pids-max, --memory, --cpus) as a step reads them. */
export function limitFlags(values: OptionValues): CgroupLimits {
  return parseLimits({ pidsMax: stringOption(values, 'pids-max'), memory: stringOption(values, 'memory'), cpus: stringOption(values, 'cpus') });
}

export function cgroupSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  const base = rootfsSpecFromFlags(values, command);
  return withCgroup(base, limitFlags(values), cgroupIdFlag(stringOption(values, 'id')));
}

/** The cgroup id a spec names: the last part of cgroupsPath under /hull. */
export function cgroupIdOf(spec: RuntimeSpec): string | undefined {
  const path = spec.linux?.cgroupsPath;
  if (path === undefined) return undefined;
  if (!path.startsWith(PATH_PREFIX)) throw new Error(`cgroupsPath ${JSON.stringify(path)}: chapter 04 makes cgroups only under ${PATH_PREFIX}`);
  return checkCgroupId(path.slice(PATH_PREFIX.length));
}

/** What runWithLimits needs, read from the spec. */
export function cgroupOptions(spec: RuntimeSpec): LimitedRunOptions {
  const id = cgroupIdOf(spec);
  return { ...rootfsOptions(spec), limits: limitsFromResources(spec.linux?.resources), ...(id !== undefined ? { id } : {}) };
}
