// The contract every chapter's main.ts shares: `main.ts [--flags] -- CMD [ARGS...]`.
// Usage errors are one line on stderr and exit code 2, like most Unix tools.
// The flags are one option table (options.ts): it parses them and writes the
// usage line and --help, so neither is written by hand.
import type { RuntimeSpec } from '@hull/sys';
import { runMain } from './errors.js';
import { helpText, type OptionSpecs, type OptionValues, parseOptions, requireOptions, STEP_WORDING, usageSynopsis } from './options.js';
import { printSpec } from './spec.js';
import { UsageError } from './usage-error.js';

/** @deprecated the option table type is OptionSpecs; kept for callers of parseStepArgs. */
export type FlagSpec = OptionSpecs;
export type FlagValues = OptionValues;

export interface StepArgs {
  values: OptionValues;
  command: string[];
}

/**
 * Parse `[flags] [--] CMD [ARGS...]`. Flags end at the first word that is
 * not one (or at `--`); that word and everything after it are the command,
 * untouched: its own flags belong to it.
 */
export function parseStepArgs(argv: readonly string[], flags: OptionSpecs): StepArgs {
  const { values, positionals } = parseOptions(argv, flags, { stopAtPositional: true, wording: STEP_WORDING });
  if (positionals.length === 0 && values.help !== true) throw new UsageError('missing CMD');
  return { values, command: positionals };
}

/** The flags every step has besides its own: they come last in its usage line. */
export const STEP_FLAGS: OptionSpecs = {
  'print-spec': { type: 'boolean', help: 'Print the config.json (OCI runtime spec) this run would use, and exit' },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
};

export interface Step {
  /** The step's own flags; --print-spec and --help are added. */
  flags: OptionSpecs;
  /** What the step does, for --help. */
  about: string;
  /** Flags and CMD -> the runtime spec; a bad flag is a UsageError. */
  spec(values: OptionValues, command: string[]): RuntimeSpec | Promise<RuntimeSpec>;
  /** Run what the spec says; resolves to the exit code. */
  run(spec: RuntimeSpec): Promise<number>;
}

/** The usage line of a step, from its option table. */
export function stepUsage(flags: OptionSpecs): string {
  return `main.ts ${usageSynopsis({ ...flags, ...STEP_FLAGS })} -- CMD [ARGS...]`.replace(/ {2,}/g, ' ');
}

/**
 * A step's whole main: parse, --help, required flags, build the spec, then
 * print it (--print-spec, exit 0, nothing runs) or run it.
 */
export function stepMain(step: Step): Promise<never> {
  const flags = { ...step.flags, ...STEP_FLAGS };
  const usage = stepUsage(step.flags);
  return runMain(usage, async () => {
    const { values, command } = parseStepArgs(process.argv.slice(2), flags);
    if (values.help === true) {
      process.stdout.write(helpText(usage, flags, step.about));
      return 0;
    }
    requireOptions(values, flags);
    const spec = await step.spec(values, command);
    if (values['print-spec'] === true) {
      printSpec(spec);
      return 0;
    }
    return step.run(spec);
  });
}
