// cgroupfs is driven with plain file operations: mkdir makes a cgroup, writes
// set limits and move processes, rmdir removes it. They all go through this
// interface so the v2 logic can run against a fake tree that enforces the
// kernel's rules (test/fake-cgroup2.ts) on a machine that has no v2.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { type BpfInsn, errnoValue, pidfdOpen, pidfdSendSignal, SyscallError, close } from '@hull/sys';
import { attachDeviceProgram } from './device-attach.js';

export interface CgroupFs {
  exists(path: string): boolean;
  read(path: string): string;
  /** One write(2): cgroupfs acts on each write as a whole, so never split or append. */
  write(path: string, value: string): void;
  mkdir(path: string): void;
  rmdir(path: string): void;
  /** SIGKILL a process, but only if it is still in the cgroup at `dir` (pids get recycled). */
  killMember(pid: number, dir: string): void;
  /** Load a BPF_PROG_TYPE_CGROUP_DEVICE program and attach it to the cgroup at `dir` (cgroup2 only). */
  attachDeviceProgram(dir: string, program: readonly BpfInsn[]): void;
}

/** Node's fs errors carry the errno name; turn them into our one error type. */
function asSyscallError(err: unknown, syscall: string, args: unknown[]): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return err;
  try {
    return new SyscallError(syscall, errnoValue(code), args);
  } catch {
    return err;
  }
}

function wrap<T>(syscall: string, args: unknown[], fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asSyscallError(err, syscall, args);
  }
}

/** The real cgroupfs, with sync fs only (this may run in a process whose main thread moved namespaces). */
export const hostCgroupFs: CgroupFs = {
  exists: (path) => existsSync(path),
  read: (path) => wrap('read', [path], () => readFileSync(path, 'utf8')),
  write: (path, value) => wrap('write', [path, value], () => writeFileSync(path, value)),
  mkdir: (path) => wrap('mkdir', [path], () => mkdirSync(path)),
  rmdir: (path) => wrap('rmdir', [path], () => rmdirSync(path)),
  attachDeviceProgram,
  killMember(pid, dir) {
    // Take a pidfd first, then check membership, then signal through the pidfd:
    // if the pid was recycled before pidfd_open, the check sees the stranger and
    // skips it; if our process dies after, the signal goes nowhere (ESRCH).
    let pidfd: number;
    try {
      pidfd = pidfdOpen(pid);
    } catch {
      return; // already gone
    }
    try {
      if (!processInCgroup(pid, dir)) return;
      pidfdSendSignal(pidfd, 'SIGKILL');
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === 'ESRCH')) throw err;
    } finally {
      close(pidfd);
    }
  },
};

/** Is `pid` listed in `dir`'s cgroup.procs right now? */
function processInCgroup(pid: number, dir: string): boolean {
  try {
    return parsePids(readFileSync(`${dir}/cgroup.procs`, 'utf8')).includes(pid);
  } catch {
    return false;
  }
}

/** cgroup.procs: one pid per line. */
export function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

/** Flat keyed files (cpu.stat, memory.events, memory.oom_control): "key value" per line. */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}
