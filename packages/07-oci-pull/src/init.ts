// Chapter 07's init stage: chapter 03's rootfs setup, then what the image
// config asks for: the working directory and the user, dropped last so
// everything before still runs as root.
import { runStage } from '@hull/01-uts';
import { type RootfsSpec, setupRootfs } from '@hull/03-chroot-proc';
import { linux, setgroups, setresgid, setresuid, SyscallError } from '@hull/sys';

export interface ImageSpec extends RootfsSpec {
  workdir: string;
  user: { uid: number; gid: number; groups: number[] };
}

runStage<ImageSpec>((spec) => {
  setupRootfs(linux, spec);
  // docker creates a missing WorkingDir; doing it here, after pivot_root,
  // means an image's symlink cannot point the mkdir at the host.
  try {
    linux.chdir(spec.workdir);
  } catch (err) {
    if (!(err instanceof SyscallError) || err.code !== 'ENOENT') throw err;
    linux.mkdir(spec.workdir, 0o755);
    linux.chdir(spec.workdir);
  }
  // Groups first: after setresuid we would no longer be allowed to change them.
  setgroups(spec.user.groups);
  setresgid(spec.user.gid, spec.user.gid, spec.user.gid);
  setresuid(spec.user.uid, spec.user.uid, spec.user.uid);
});
