// Step 01: run a command in a new UTS namespace with its own hostname.
//   sudo npx tsx packages/01-uts/src/main.ts --hostname NAME -- CMD [ARGS...]
import { parseStepArgs, UsageError } from './cli.js';
import { runMain } from './errors.js';
import { generateHostname, hostnameProblem } from './hostname.js';
import { runInUts } from './run.js';

const USAGE = 'main.ts [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), { hostname: { type: 'string' } });
  const hostname = (values.hostname as string | undefined) ?? generateHostname();
  const problem = hostnameProblem(hostname);
  if (problem) throw new UsageError(`--hostname ${JSON.stringify(hostname)} ${problem}`);
  return runInUts({ hostname, argv: command, env: hostEnv() });
});

/** Chapter 01 has no rootfs yet: the command runs on the host's files, with our env. */
function hostEnv(): string[] {
  return Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
}
