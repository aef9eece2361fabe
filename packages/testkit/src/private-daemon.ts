// Tearing down what a real client (podman, containerd) left on the host.
// These clients daemonise: conmon, slirp4netns and containerd's shims are
// reparented to PID 1, so "our children" cannot find them. What is ours is
// known precisely instead: processes whose command line names our private
// directory, and processes in cgroups under our own cgroup prefix. Each is
// found, then killed by pid (never by name: other suites run the same binaries).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { directoriesUnder } from './host.js';

const CGROUP_BASE = '/sys/fs/cgroup';

/** Every cgroup directory for `path` (e.g. "/hull/podman-x"): the one tree on v2, each hierarchy on v1/hybrid. */
export function cgroupDirs(path: string): string[] {
  if (existsSync(`${CGROUP_BASE}/cgroup.controllers`)) return [join(CGROUP_BASE, path)].filter((d) => existsSync(d));
  return readdirSync(CGROUP_BASE)
    .map((h) => join(CGROUP_BASE, h, path))
    .filter((d) => existsSync(d));
}

/** Pids in the cgroup `path` or below, in any hierarchy. */
export function cgroupPids(path: string): number[] {
  const pids = new Set<number>();
  for (const root of cgroupDirs(path)) {
    for (const d of directoriesUnder(root)) {
      try {
        for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.add(Number(l));
      } catch {
        // removed while we looked
      }
    }
  }
  return [...pids];
}

/** Live processes whose argv names `needle` (a private directory or socket), zombies excluded. */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    // A zombie has no cmdline and only waits for its (new) parent to reap it: it holds nothing.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILL each pid, then wait (bounded) until none is alive. */
export async function killPids(pids: readonly number[], timeoutMs = 10_000): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`processes still alive after SIGKILL: ${pids.filter(alive).join(' ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Mount points at or under `dir` in our mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[4]!)
    // mountinfo escapes spaces and such as octal; our temp dirs have none.
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .reverse();
}

/** Unmount everything at or under `dir`, innermost first, then check that nothing is left. */
export function unmountUnder(dir: string): void {
  for (const point of mountsUnder(dir)) {
    try {
      execFileSync('umount', [point], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch {
      // Busy (a process we just killed still holds it while the kernel tears it
      // down): detach it, it goes once the last reference does.
      execFileSync('umount', ['-l', point], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  }
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted under ${dir}: ${left.join(' ')}`);
}

/** rmdir the cgroup `path` and everything below it, in every hierarchy (the processes must be gone). */
export async function removeCgroupTree(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const root of cgroupDirs(path)) {
    for (const d of directoriesUnder(root)) {
      for (;;) {
        try {
          rmdirSync(d);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          // EBUSY while the kernel finishes a killed task's exit.
          if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cgroup ${d}: ${code}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }
}

/** rm -rf `dir` once nothing is mounted below it: never delete through a mount. */
export function removePrivateDir(dir: string): void {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}
