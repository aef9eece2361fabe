// `--help` for the container commands: the usage text on stdout, exit 0, as docker does.
// The text comes from the same option table the command parses with: a
// command describes its options once (`value` and `help` on each entry).
import { helpText, type OptionSpecs } from '../args.js';

export interface CommandHelp {
  /** After "Usage: ", e.g. "hull logs [OPTIONS] CONTAINER". */
  usage: string;
  options: OptionSpecs;
  /** A paragraph under the usage line. */
  about?: string;
}

/** Print the help and say so when `args` asks for it (`--help` anywhere). */
export function help(args: string[], text: CommandHelp): boolean {
  if (!args.includes('--help')) return false;
  process.stdout.write(helpText(text.usage, text.options, text.about));
  return true;
}
