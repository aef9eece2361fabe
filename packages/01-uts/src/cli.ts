// The contract every chapter's main.ts shares: `main.ts [--flags] -- CMD [ARGS...]`.
// Usage errors are one line on stderr and exit code 2, like most Unix tools.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface StepArgs {
  values: FlagValues;
  command: string[];
}

/**
 * Where the flags end: the index of the first word that is neither a flag nor
 * a flag's value, or of a `--` (argv.length when there is none). A flag takes
 * the next word as its value when its spec is a string and it holds no `=`.
 */
export function operandIndex(argv: readonly string[], flags: FlagSpec): number {
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    const name = a.replace(/^--?/, '').split('=')[0]!;
    const spec = flags[name] ?? Object.values(flags).find((f) => f.short === name);
    i += spec && spec.type === 'string' && !a.includes('=') ? 2 : 1;
  }
  return Math.min(i, argv.length);
}

/**
 * Parse `[flags] -- CMD [ARGS...]`. Everything after the first `--` (or the
 * first non-flag word) is the command, untouched: its own flags belong to it.
 */
export function parseStepArgs(argv: readonly string[], flags: FlagSpec): StepArgs {
  const dash = argv.indexOf('--');
  let flagPart: string[];
  let command: string[];
  if (dash >= 0) {
    flagPart = argv.slice(0, dash);
    command = argv.slice(dash + 1);
  } else {
    // No `--`: the command starts at the first word that is neither a flag nor a flag's value.
    const i = operandIndex(argv, flags);
    flagPart = argv.slice(0, i);
    command = argv.slice(i);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: flagPart, options: flags, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  if (command.length === 0) throw new UsageError('missing CMD');
  return { values: parsed.values as FlagValues, command };
}
