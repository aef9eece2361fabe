// `hull top CONTAINER [ps OPTIONS]`: the host's ps (default -ef), cut down to
// the container's processes, as docker does: the rows whose PID column is a
// member of the container's cgroup. The pids are the host's, as in docker.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContainerError, UsageError } from '@hull/01-uts';
import { EXIT_ERROR, findContainer } from '../names.js';
import { isRunning, observedState } from '../store.js';
import { help } from './help.js';

/** Every pid in the container's cgroups (one per v1 controller, or the one v2 directory). */
function containerPids(cgroupDirs: string[]): Set<number> {
  const pids = new Set<number>();
  for (const dir of cgroupDirs) {
    const procs = join(dir, 'cgroup.procs');
    if (!existsSync(procs)) continue;
    for (const line of readFileSync(procs, 'utf8').split('\n')) if (line) pids.add(Number(line));
  }
  return pids;
}

export async function top(args: string[]): Promise<number> {
  // Everything after the container is ps's (`hull top c -o pid,comm`), so only a first --help is ours.
  if (args[0] === '--help' && help(args, { usage: 'hull top CONTAINER [ps OPTIONS]', options: {}, about: 'Display the running processes of a container (ps -ef by default).' })) return 0;
  const [ref, ...psArgs] = args;
  if (!ref) throw new UsageError(`"hull top" requires at least 1 argument: CONTAINER`);
  const config = findContainer(ref);
  const state = observedState(config.id);
  if (!isRunning(state)) throw new ContainerError(`container ${config.name} is not running`, EXIT_ERROR);
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('ps', psArgs.length ? psArgs : ['-ef'], { maxBuffer: 64 << 20 }));
  } catch (err) {
    const e = err as { stderr?: string; code?: unknown };
    if (e.code === 'ENOENT') throw new ContainerError('top: ps not found on this host (install procps)', EXIT_ERROR);
    throw new ContainerError(`top: ps ${psArgs.join(' ')} failed: ${(e.stderr ?? String(err)).trim().split('\n')[0]}`, EXIT_ERROR);
  }
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  const column = header.indexOf('PID');
  if (column < 0) throw new ContainerError(`top: couldn't find the PID field in the ps output (give ps a pid column, e.g. -o pid,comm)`, EXIT_ERROR);
  const pids = containerPids(state.cgroupDirs);
  const rows = lines.slice(1).map((l) => fields(l, header.length)).filter((f) => pids.has(Number(f[column])));
  process.stdout.write(table([header, ...rows]));
  return 0;
}

/** A ps line as the header's number of fields: the last one (CMD) keeps its spaces, as docker splits it. */
function fields(line: string, count: number): string[] {
  const parts = line.trim().split(/\s+/);
  return [...parts.slice(0, count - 1), parts.slice(count - 1).join(' ')];
}

/** docker's tabwriter (minwidth 20, padding 3): each column but the last as wide as its widest cell + 3, at least 20. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(20, ...rows.map((r) => (r[i] ?? '').length + 3)));
  return rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('')}\n`).join('');
}
