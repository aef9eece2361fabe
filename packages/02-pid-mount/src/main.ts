// Step 02: run a command as PID 1 of new PID, mount and UTS namespaces.
//   sudo npx tsx packages/02-pid-mount/src/main.ts [--hostname NAME] [--print-spec] -- CMD [ARGS...]
import { stepMain } from '@hull/01-uts';
import { runInPidMount } from './run.js';
import { PID_MOUNT_FLAGS, pidMountOptions, pidMountSpecFromFlags } from './spec.js';

await stepMain({
  flags: PID_MOUNT_FLAGS,
  about: 'Run CMD as PID 1 of new PID, mount and UTS namespaces; its mounts stay private to it.',
  spec: pidMountSpecFromFlags,
  run: (spec) => runInPidMount(pidMountOptions(spec)),
});
