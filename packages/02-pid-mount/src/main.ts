// Step 02: run a command as PID 1 of new PID, mount and UTS namespaces.
//   sudo npx tsx packages/02-pid-mount/src/main.ts [--hostname NAME] -- CMD [ARGS...]
import { generateHostname, hostnameProblem, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import { runInPidMount } from './run.js';

const USAGE = 'main.ts [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), { hostname: { type: 'string' } });
  const hostname = (values.hostname as string | undefined) ?? generateHostname();
  const problem = hostnameProblem(hostname);
  if (problem) throw new UsageError(`--hostname ${JSON.stringify(hostname)} ${problem}`);
  return runInPidMount({ hostname, argv: command, env: hostEnv() });
});

/** No rootfs yet (chapter 03): the command runs on the host's files, with our env. */
function hostEnv(): string[] {
  return Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
}
