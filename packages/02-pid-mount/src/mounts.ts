import { MS_PRIVATE, MS_REC, type Syscalls } from '@hull/sys';

/**
 * Cut this mount namespace off from the host's mount events, both ways.
 *
 * A new mount namespace starts as a copy of its parent, and a copy of a
 * *shared* mount stays in the same peer group as the original: a mount made
 * inside then appears on the host too (and the other way round). systemd makes
 * "/" shared at boot, so without this a container's mounts leak into the host
 * (lizrice/containers-from-scratch issue #3). MS_REC applies it to every mount
 * below "/"; MS_PRIVATE only changes *our* copies, never the host's.
 */
export function makeMountsPrivate(sys: Syscalls): void {
  sys.mount(null, '/', null, MS_REC | MS_PRIVATE);
}
