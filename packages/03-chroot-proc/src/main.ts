// Step 03: run a command in its own root filesystem.
//   sudo npx tsx packages/03-chroot-proc/src/main.ts --rootfs DIR [--hostname NAME] [--print-spec] -- CMD [ARGS...]
import { stepMain } from '@hull/01-uts';
import { runInRootfs } from './run.js';
import { ROOTFS_FLAGS, rootfsOptions, rootfsSpecFromFlags } from './spec.js';

await stepMain({
  flags: ROOTFS_FLAGS,
  about: 'Run CMD in DIR as its root filesystem, with its own /proc, /sys, /dev and /tmp; the host\'s files are out of reach.',
  spec: rootfsSpecFromFlags,
  run: (spec) => runInRootfs(rootfsOptions(spec)),
});
