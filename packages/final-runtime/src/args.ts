// docker's command line: `hull run [OPTIONS] IMAGE [COMMAND] [ARG...]`.
// Options stop at the first word that is not an option, because everything
// after the image belongs to the command (`hull run img ls -l`). Short
// booleans combine (`-it`, `-dit`), values attach or follow (`-eA=1`,
// `-e A=1`, `--env=A=1`), and a repeated option collects (`-e A -e B`).
// Node's parseArgs cannot stop at the first positional, hence these 80 lines.
import { UsageError } from '@hull/01-uts/usage-error';

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  /** Collect every occurrence into a list. */
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

/**
 * Parse argv against `specs`. With `stopAtPositional`, the first
 * non-option word and everything after it are positionals, untouched.
 */
export function parseOptions(argv: readonly string[], specs: OptionSpecs, stopAtPositional = false): ParsedArgs {
  const values: OptionValues = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));

  const set = (name: string, value: string | boolean) => {
    const spec = specs[name]!;
    if (spec.multiple) {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(value as string);
      values[name] = list;
    } else {
      values[name] = value;
    }
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtPositional) break;
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = specs[name];
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.type === 'boolean') {
        if (eq >= 0) {
          const v = arg.slice(eq + 1);
          if (v !== 'true' && v !== 'false') throw new UsageError(`invalid argument "${v}" for "--${name}" flag: expected true or false`);
          set(name, v === 'true');
        } else set(name, true);
      } else if (eq >= 0) set(name, arg.slice(eq + 1));
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        set(name, argv[++i]!);
      }
      continue;
    }
    // One or more short options: -i, -it, -eA=1, -e A=1
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const name = byShort.get(letter);
      if (!name) throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`);
      const spec = specs[name]!;
      if (spec.type === 'boolean') {
        set(name, true);
        continue;
      }
      const rest = arg.slice(j + 1).replace(/^=/, '');
      if (rest) set(name, rest);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${letter}' in ${arg}`);
        set(name, argv[++i]!);
      }
      break;
    }
  }
  positionals.push(...argv.slice(i));
  return { values, positionals };
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOption(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : [];
}

export function boolOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** `--tail 5`, `-t 3`: a non-negative integer or a usage error naming the flag. */
export function intOption(values: OptionValues, name: string): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`invalid argument "${v}" for "--${name}" flag: not a non-negative integer`);
  return Number(v);
}
