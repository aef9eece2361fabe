// Step 03: run a command in its own root filesystem.
//   sudo npx tsx packages/03-chroot-proc/src/main.ts --rootfs DIR [--hostname NAME] -- CMD [ARGS...]
import { hostnameFlag, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import { runInRootfs } from './run.js';

const USAGE = 'main.ts --rootfs DIR [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), {
    rootfs: { type: 'string' },
    hostname: { type: 'string' },
  });
  const rootfs = values.rootfs as string | undefined;
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  const hostname = hostnameFlag(values.hostname as string | undefined);
  return runInRootfs({ rootfs, hostname, argv: command });
});
