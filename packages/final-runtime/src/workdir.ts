// The init stage's working directory: created if missing (docker creates a
// missing WorkingDir, owned by root, before dropping privileges), then
// entered, one component at a time from the container's "/".
//
// CVE-2024-21626's class: `-w /proc/self/fd/N/x` follows the magic link of
// fd N, wherever it points. If an fd of the host's ever reached this process,
// a plain mkdir -p would create `x` in that host directory, before any check
// of the result could refuse it. So no step here follows a magic link:
// each lookup is openat2(RESOLVE_NO_MAGICLINKS), each mkdir an mkdirat in
// the directory that lookup returned, and the last one is entered with fchdir.
// Ordinary symlinks still resolve, inside the container's root as its own
// processes see them (this runs after pivot_root).
import { posix } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import { close, fchdir, mkdirat, O_CLOEXEC, O_DIRECTORY, O_PATH, open, openat2, RESOLVE_NO_MAGICLINKS, SyscallError } from '@hull/sys';

const DIR = { flags: O_PATH | O_DIRECTORY | O_CLOEXEC, resolve: RESOLVE_NO_MAGICLINKS };

function why(err: unknown): string {
  if (!(err instanceof SyscallError)) return err instanceof Error ? err.message : String(err);
  if (err.code === 'ELOOP') return 'it goes through a /proc magic link (or a symlink loop)';
  if (err.code === 'ENOTDIR') return 'not a directory';
  if (err.code === 'ENOENT') return 'no such file or directory';
  return `${err.syscall}: ${err.code}`;
}

/** Look `name` up in `dirFd` as a directory, making it first if it is missing. */
function enterChild(dirFd: number, name: string): number {
  try {
    return openat2(dirFd, name, DIR);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'ENOENT')) throw err;
  }
  mkdirat(dirFd, name, 0o755);
  return openat2(dirFd, name, DIR);
}

/** mkdir -p `workdir` and chdir into it, never through a magic link (see above). */
export function enterWorkdir(workdir: string): void {
  // `..` is resolved by name first, as docker cleans the path, so no *at() call gets it.
  const names = posix.normalize(workdir).split('/').filter((n) => n !== '' && n !== '.');
  let dirFd = open('/', O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    for (const name of names) {
      const next = enterChild(dirFd, name);
      close(dirFd);
      dirFd = next;
    }
    fchdir(dirFd);
  } catch (err) {
    throw new ContainerError(`working directory ${workdir}: ${why(err)}`);
  } finally {
    close(dirFd);
  }
}
