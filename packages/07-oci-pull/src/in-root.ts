// Reading a file of a tree we do not trust (an image's rootfs, an unpacked
// archive) from the host. A plain open of join(root, path) lets the host's
// kernel follow every symlink on the way, so an image whose /etc is a
// symlink to the host's /etc makes a root process read the host's passwd or
// shadow. Here the kernel itself keeps the walk inside `root` (openat2(2)
// resolve flags, checked at every component, atomically), and the file is
// opened O_PATH first: a device node or a FIFO planted at the name is looked
// at (fstat) but never opened, which for some devices has side effects and
// for a FIFO blocks.
import { fstatSync } from 'node:fs';
import { close, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY, open, openat2, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, SyscallError } from '@hull/sys';

/** As the container will see it: symlinks, absolute or with `..`, resolve inside `root` (docker's securejoin, done by the kernel). */
export const RESOLVE_AS_CONTAINER = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
/** No symlink at all, and nothing outside `root`: for trees whose names should never need one (an OCI layout, a docker-archive). */
export const RESOLVE_STRICTLY_BENEATH = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

export type NotOpened = 'missing' | 'not a regular file' | 'reached through a symlink' | 'outside the root';

/**
 * A readable fd (O_RDONLY | O_CLOEXEC) of the regular file at `path` under
 * `root`, resolved with `resolve`; or why there is none. The caller closes it.
 */
export function openRegularInRoot(root: string, path: string, resolve: number): number | NotOpened {
  const rootFd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  let pathFd = -1;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        pathFd = openat2(rootFd, path.replace(/^\/+/, '') || '.', { flags: O_PATH | O_CLOEXEC, resolve });
        break;
      } catch (err) {
        if (!(err instanceof SyscallError)) throw err;
        if (err.code === 'EAGAIN' && attempt < 5) continue; // RESOLVE_IN_ROOT: a rename raced with a ".." lookup
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return 'missing';
        if (err.code === 'ELOOP') return 'reached through a symlink';
        if (err.code === 'EXDEV') return 'outside the root';
        throw err;
      }
    }
    if (!fstatSync(pathFd).isFile()) return 'not a regular file';
    // Re-open the very inode we checked, through its fd's magic link: no second walk, no race.
    return open(`/proc/self/fd/${pathFd}`, O_RDONLY | O_CLOEXEC);
  } finally {
    if (pathFd >= 0) close(pathFd);
    close(rootFd);
  }
}
