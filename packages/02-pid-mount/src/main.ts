// Step 02: run a command as PID 1 of new PID, mount and UTS namespaces.
//   sudo npx tsx packages/02-pid-mount/src/main.ts [--hostname NAME] -- CMD [ARGS...]
import { hostEnv, hostnameFlag, parseStepArgs, runMain } from '@hull/01-uts';
import { runInPidMount } from './run.js';

const USAGE = 'main.ts [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), { hostname: { type: 'string' } });
  const hostname = hostnameFlag(values.hostname as string | undefined);
  return runInPidMount({ hostname, argv: command, env: hostEnv() });
});
