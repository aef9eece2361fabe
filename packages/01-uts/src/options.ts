// The one argument parser: every chapter's main.ts, 07's pull/run, `hull`,
// `hull-runtime`. A command describes its options once, in an OptionSpecs
// table; the parser reads argv against it and the help text is generated
// from it, so the two cannot drift.
//
// It parses docker's way: short booleans combine (`-it`, `-dit`), values
// attach or follow (`-eA=1`, `-e A=1`, `--env=A=1`), a repeated option
// collects (`-e A -e B`), and a value is the next word even when it starts
// with "-" (`--pids-max -3` is a bad limit, not an unknown flag). With
// `stopAtPositional`, options end at the first word that is not one, because
// everything after IMAGE or `--` belongs to the command (`hull run img ls
// -l`). Node's parseArgs can do neither.
//
// This module imports only usage-error.js, so the CLI's entry point can load
// it without koffi (`@hull/01-uts/options`).
import { UsageError } from './usage-error.js';

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  /** Collect every occurrence into a list. */
  multiple?: boolean;
  /** The value's name in the help text: DIR, N, SIZE (default VALUE). */
  value?: string;
  /** One line for the help text. */
  help?: string;
  /** Shown without brackets in the usage line; requireOptions() enforces it. */
  required?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

/** How a parse error reads. The hull CLIs speak docker's (cobra's) words; the chapters keep Node parseArgs's, which their pages show. */
export interface ParseWording {
  /** `option` is "--name" or "-x"; `arg` the word it came in. */
  unknown(option: string, arg: string): string;
  needsValue(option: string, arg: string): string;
}

export const DOCKER_WORDING: ParseWording = {
  unknown: (option, arg) => (option.startsWith('--') ? `unknown flag: ${option}` : `unknown shorthand flag: '${option.slice(1)}' in ${arg}`),
  needsValue: (option, arg) => (option.startsWith('--') ? `flag needs an argument: ${option}` : `flag needs an argument: '${option.slice(1)}' in ${arg}`),
};

export const STEP_WORDING: ParseWording = {
  unknown: (option) => `Unknown option '${option}'`,
  needsValue: (option) => `Option '${option} <value>' argument missing`,
};

export interface ParseOptions {
  /** The first non-option word and everything after it are positionals, untouched. */
  stopAtPositional?: boolean;
  wording?: ParseWording;
}

/**
 * Parse argv against `specs`. `--` ends the options; what follows it is
 * positional. The third argument may be a boolean: `stopAtPositional`.
 */
export function parseOptions(argv: readonly string[], specs: OptionSpecs, how: boolean | ParseOptions = {}): ParsedArgs {
  const { stopAtPositional = false, wording = DOCKER_WORDING } = typeof how === 'boolean' ? { stopAtPositional: how } : how;
  const values: OptionValues = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));

  const set = (name: string, value: string | boolean) => {
    if (specs[name]!.multiple) {
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
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) throw new UsageError(wording.unknown(`--${name}`, arg));
      if (spec.type === 'boolean') {
        if (eq >= 0) {
          const v = arg.slice(eq + 1);
          if (v !== 'true' && v !== 'false') throw new UsageError(`invalid argument "${v}" for "--${name}" flag: expected true or false`);
          set(name, v === 'true');
        } else set(name, true);
      } else if (eq >= 0) set(name, arg.slice(eq + 1));
      else {
        if (i + 1 >= argv.length) throw new UsageError(wording.needsValue(`--${name}`, arg));
        set(name, argv[++i]!);
      }
      continue;
    }
    // One or more short options: -i, -it, -eA=1, -e A=1
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const name = byShort.get(letter);
      if (!name) throw new UsageError(wording.unknown(`-${letter}`, arg));
      if (specs[name]!.type === 'boolean') {
        set(name, true);
        continue;
      }
      const rest = arg.slice(j + 1).replace(/^=/, '');
      if (rest) set(name, rest);
      else {
        if (i + 1 >= argv.length) throw new UsageError(wording.needsValue(`-${letter}`, arg));
        set(name, argv[++i]!);
      }
      break;
    }
  }
  positionals.push(...argv.slice(i));
  return { values, positionals };
}

/** The first required option that is absent, as a usage error: "missing --rootfs DIR". */
export function requireOptions(values: OptionValues, specs: OptionSpecs): void {
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && values[name] === undefined) throw new UsageError(`missing ${optionSynopsis(name, spec)}`);
  }
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

// ---------------------------------------------------------------- help text

/** "--rootfs DIR", "--userns". */
function optionSynopsis(name: string, spec: OptionSpec): string {
  return spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
}

/**
 * The options part of a usage line, in table order: required ones bare,
 * the others in brackets, repeatable ones followed by "...":
 * `--rootfs DIR [--hostname NAME] [--uid-map C:H:N]...`.
 * Options without `help` are internal and left out, as is --help.
 */
export function usageSynopsis(specs: OptionSpecs): string {
  return Object.entries(specs)
    .filter(([name, spec]) => spec.help !== undefined && name !== 'help')
    .map(([name, spec]) => {
      const text = optionSynopsis(name, spec);
      return `${spec.required ? text : `[${text}]`}${spec.multiple ? '...' : ''}`;
    })
    .join(' ');
}

/** One aligned line per documented option, docker's layout: `  -f, --follow      Follow the output`. */
export function optionsHelp(specs: OptionSpecs): string {
  const rows = Object.entries(specs)
    .filter(([, spec]) => spec.help !== undefined)
    .map(([name, spec]) => [`${spec.short ? `-${spec.short}, ` : '    '}${optionSynopsis(name, spec)}`, spec.help!] as const);
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `  ${left.padEnd(width)}  ${help}\n`).join('');
}

/** A whole help text: `Usage: LINE`, an optional paragraph, then the options table. */
export function helpText(usageLine: string, specs: OptionSpecs, about?: string): string {
  const options = optionsHelp(specs);
  return `Usage: ${usageLine}\n${about ? `\n${about}\n` : ''}${options ? `\nOptions:\n${options}` : ''}`;
}
