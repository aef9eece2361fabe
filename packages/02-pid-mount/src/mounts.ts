import { MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE, type SpecLinux, type Syscalls } from '@hull/sys';

export type RootfsPropagation = NonNullable<SpecLinux['rootfsPropagation']>;

/** config-linux.md "Rootfs Mount Propagation": the spec's names, as mount(2) flags. */
export const ROOTFS_PROPAGATION: Record<RootfsPropagation, number> = {
  private: MS_PRIVATE,
  rprivate: MS_REC | MS_PRIVATE,
  slave: MS_SLAVE,
  rslave: MS_REC | MS_SLAVE,
  shared: MS_SHARED,
  rshared: MS_REC | MS_SHARED,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_REC | MS_UNBINDABLE,
};

/** What chapter 02 asks for: nothing propagates, either way. */
export const CONTAINER_PROPAGATION: RootfsPropagation = 'rprivate';

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
  setRootPropagation(sys, CONTAINER_PROPAGATION);
}

/** linux.rootfsPropagation applied to "/" of this mount namespace. */
export function setRootPropagation(sys: Syscalls, propagation: RootfsPropagation): void {
  sys.mount(null, '/', null, ROOTFS_PROPAGATION[propagation]);
}
