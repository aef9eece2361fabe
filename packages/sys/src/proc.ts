// /proc/PID/stat (proc(5)), the one reader. A pid alone does not name a
// process: the kernel reuses it once the process is reaped. The pair
// (pid, start time) does, so every record hull keeps about a live process (a
// container's init, a lease owner, a pull in progress) stores both.
import { readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat that hull reads. */
export interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), T, t, I. */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 22: when the process started, in clock ticks since boot. */
  startTime: number;
}

/** /proc/PID/stat of a process, or null when there is none by that pid. */
export function procStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 is the command name in parentheses, and it may hold blanks and
  // ")": the fields after it start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), startTime: Number(fields[19]) };
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. 0 if gone. */
export function processStartTime(pid: number): number {
  return procStat(pid)?.startTime ?? 0;
}
