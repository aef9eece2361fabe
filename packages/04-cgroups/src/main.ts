// Step 04: run a command in its own rootfs, under cgroup limits.
//   sudo npx tsx packages/04-cgroups/src/main.ts --rootfs DIR [--hostname N] --pids-max N [--memory 64m] [--cpus 0.5] -- CMD...
import { hostnameFlag, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import { parseLimits } from './limits.js';
import { runWithLimits } from './run.js';

const USAGE = 'main.ts --rootfs DIR [--hostname N] --pids-max N [--memory SIZE] [--cpus FLOAT] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const flags = {
    rootfs: { type: 'string' },
    hostname: { type: 'string' },
    'pids-max': { type: 'string' },
    memory: { type: 'string' },
    cpus: { type: 'string' },
  } as const;
  const { values, command } = parseStepArgs(attachDashValues(process.argv.slice(2), Object.keys(flags)), flags);
  const str = (name: string) => values[name] as string | undefined;
  const rootfs = str('rootfs');
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  if (str('pids-max') === undefined) throw new UsageError('missing --pids-max N');
  const hostname = hostnameFlag(str('hostname'));
  const limits = parseLimits({ pidsMax: str('pids-max'), memory: str('memory'), cpus: str('cpus') });
  return runWithLimits({ rootfs, hostname, argv: command, limits });
});

/**
 * node's parseArgs calls `--pids-max -3` ambiguous (is -3 a flag?). Every
 * flag of ours takes a value, so `--flag -X` before the `--` means the value
 * -X: pass it as `--flag=-X` and let the limit's own check say what is wrong.
 */
function attachDashValues(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (names.some((n) => a === `--${n}`) && next !== undefined && next !== '--' && next.startsWith('-')) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
