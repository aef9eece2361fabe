// The init stage joins the container's cgroup itself, as its last step before
// execve (see docs/04-cgroups.md, "Where to join"). It opens the cgroup.procs
// files while it can still see the host's /sys/fs/cgroup, i.e. before
// pivot_root, and writes "0" ("the writing process") to each right before it
// execs: every thread of the init moves, and whatever CMD forks is born inside.
import { close, O_CLOEXEC, O_WRONLY, open, write } from '@hull/sys';

/** Before pivot_root: open each cgroup.procs for writing. Close-on-exec, so CMD never inherits them. */
export function openCgroupProcs(files: readonly string[]): number[] {
  const fds: number[] = [];
  try {
    for (const file of files) fds.push(open(file, O_WRONLY | O_CLOEXEC));
  } catch (err) {
    fds.forEach(close);
    throw err;
  }
  return fds;
}

/** The last step before execve: move this process (all its threads) into the cgroup. */
export function joinCgroup(fds: readonly number[]): void {
  for (const fd of fds) {
    write(fd, Buffer.from('0'));
    close(fd);
  }
}
