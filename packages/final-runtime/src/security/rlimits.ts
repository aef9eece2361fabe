// Resource limits (getrlimit(2)): per-process ceilings the container's
// processes inherit. `--ulimit name=soft[:hard]` as in docker.
//
// Raising a hard limit needs CAP_SYS_RESOURCE. hull often lacks it (these
// machines' bounding set does not have it), so we never ask for a hard limit
// above the one hull itself runs with: we lower the request to it and say so.
import { ContainerError } from '@hull/01-uts';
import { RLIM_INFINITY, RLIMIT, type Rlimit, type RlimitName } from '@hull/sys';

/** What the init stage sets, bigint values as decimal strings (the spec is JSON). */
export interface RlimitSetting {
  name: RlimitName;
  resource: number;
  soft: string;
  hard: string;
}

export interface Ulimit {
  name: RlimitName;
  soft: bigint;
  hard: bigint;
}

/** docker's default RLIMIT_NOFILE (containerd's 1048576 for both). */
export const DEFAULT_NOFILE = 1048576n;

function limitValue(text: string, flag: string): bigint {
  if (text === 'unlimited' || text === '-1') return RLIM_INFINITY;
  if (!/^\d+$/.test(text)) throw new ContainerError(`${flag}: "${text}" is not a number (or "unlimited")`);
  const n = BigInt(text);
  if (n >= RLIM_INFINITY) throw new ContainerError(`${flag}: ${text} is out of range`);
  return n;
}

/** "nofile=1024", "nofile=1024:4096", "core=0:unlimited". */
export function parseUlimit(text: string): Ulimit {
  const flag = `--ulimit ${text}`;
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ContainerError(`${flag}: expected name=soft[:hard]`);
  const name = text.slice(0, eq).toLowerCase();
  if (!(name in RLIMIT)) throw new ContainerError(`${flag}: unknown limit "${name}" (one of ${Object.keys(RLIMIT).join(', ')})`);
  const parts = text.slice(eq + 1).split(':');
  if (parts.length > 2 || parts.some((p) => p === '')) throw new ContainerError(`${flag}: expected name=soft[:hard]`);
  const soft = limitValue(parts[0]!, flag);
  const hard = parts.length === 2 ? limitValue(parts[1]!, flag) : soft;
  if (soft > hard) throw new ContainerError(`${flag}: the soft limit ${parts[0]} is above the hard limit ${parts[1]}`);
  return { name: name as RlimitName, soft, hard };
}

const show = (v: bigint) => (v === RLIM_INFINITY ? 'unlimited' : `${v}`);

/**
 * Host side: the limits to set, and a warning for each request we had to
 * lower. `current(resource)` is hull's own limit (the init stage inherits
 * it); `canRaise` says whether hull has CAP_SYS_RESOURCE in its effective set.
 */
export function planRlimits(ulimits: readonly string[], current: (resource: number) => Rlimit, canRaise: boolean): { settings: RlimitSetting[]; warnings: string[] } {
  const requested = new Map<RlimitName, Ulimit>();
  for (const text of ulimits) {
    const u = parseUlimit(text);
    requested.set(u.name, u); // the last --ulimit for a name wins
  }
  const warnings: string[] = [];
  if (!requested.has('nofile')) {
    // docker's default, capped at hull's own hard limit: no warning, since nobody asked for more.
    const cur = current(RLIMIT.nofile);
    const limit = cur.hard < DEFAULT_NOFILE ? cur.hard : DEFAULT_NOFILE;
    requested.set('nofile', { name: 'nofile', soft: limit, hard: limit });
  }
  const settings: RlimitSetting[] = [];
  for (const u of requested.values()) {
    const resource = RLIMIT[u.name];
    let { soft, hard } = u;
    const cur = current(resource);
    if (!canRaise && hard > cur.hard) {
      warnings.push(
        `--ulimit ${u.name}: hard limit ${show(hard)} lowered to ${show(cur.hard)}, hull's own: raising a hard limit needs CAP_SYS_RESOURCE, which hull does not have`,
      );
      hard = cur.hard;
      if (soft > hard) soft = hard;
    }
    settings.push({ name: u.name, resource, soft: `${soft}`, hard: `${hard}` });
  }
  return { settings, warnings };
}

export function toRlimit(s: RlimitSetting): Rlimit {
  return { soft: BigInt(s.soft), hard: BigInt(s.hard) };
}
