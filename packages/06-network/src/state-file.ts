// The one way hull writes a state file (leases here; images.json, a
// container's config.json and state.json, the registry auth file later):
// a temp file beside it, then rename(2), so a reader sees the old content or
// the new, never half of it (rename is atomic within one file system).
//
// The temp file is created by open(O_CREAT | O_EXCL | O_NOFOLLOW, mode):
// - mode at open time, 0600 by default: the file holds what only its owner
//   may read (a password in auth config.json, root's container configs)
//   from its first byte; a chmod after the write or after the rename leaves a
//   window in which any user can open it, and an fd opened then keeps reading;
// - O_EXCL | O_NOFOLLOW: never reuse, or write through, a file or symlink
//   someone else planted at the temp name.
// The umask can only narrow the mode, never widen it.
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomId } from '@hull/01-uts';

/** Create `path` exclusively with `mode` and return its fd (open(2) with O_EXCL: fails with EEXIST on anything already there, a symlink included). */
export function createExclusive(path: string, mode = 0o600): number {
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
}

/** Write `content` to `path` so that readers see either the old or the new file; the file is `mode` (0600) from its first byte. */
export function writeFileAtomic(path: string, content: string | Buffer, mode = 0o600): void {
  const temp = `${path}.${process.pid}.${randomId(4)}.tmp`;
  const fd = createExclusive(temp, mode);
  try {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    // The data must reach the disk before the name does: a crash after the rename must not leave an empty file.
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(temp);
    } catch {
      // never created, or already renamed
    }
    throw err;
  }
}
