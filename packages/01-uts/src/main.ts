// Step 01: run a command in a new UTS namespace with its own hostname.
//   sudo npx tsx packages/01-uts/src/main.ts --hostname NAME -- CMD [ARGS...]
import { parseStepArgs } from './cli.js';
import { runMain } from './errors.js';
import { hostnameFlag } from './hostname.js';
import { hostEnv, runInUts } from './run.js';

const USAGE = 'main.ts [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), { hostname: { type: 'string' } });
  const hostname = hostnameFlag(values.hostname as string | undefined);
  return runInUts({ hostname, argv: command, env: hostEnv() });
});
