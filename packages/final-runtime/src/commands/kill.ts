// `hull kill`: one signal to running containers.
import { ContainerError, UsageError } from '@hull/01-uts';
import { signalNumber } from '@hull/sys';
import { type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { isRunning, observedState } from '../store.js';
import { eachArgument } from './each-argument.js';
import { help } from './help.js';
import { signalContainer } from './signal-container.js';

const OPTIONS: OptionSpecs = {
  signal: { type: 'string', short: 's', value: 'SIGNAL', help: 'Signal to send, by name or number (default SIGKILL)' },
};

/** A signal as docker takes it: 9, KILL, kill or SIGKILL; `hull kill -s` and the daemon's /kill share it. */
export function signalOf(raw: string): number {
  try {
    return signalNumber(/^\d+$/.test(raw) ? Number(raw) : raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`);
  } catch {
    throw new UsageError(`invalid signal: ${raw}`);
  }
}

export async function kill(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull kill [OPTIONS] CONTAINER...', options: OPTIONS })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length === 0) throw new UsageError(`"hull kill" requires at least 1 argument: CONTAINER`);
  const signal = signalOf(stringOption(values, 'signal') ?? 'SIGKILL');
  return eachArgument(positionals, async (ref) => {
    const { id, name } = findContainer(ref);
    const state = observedState(id);
    if (!isRunning(state)) throw new ContainerError(`cannot kill container ${name}: it is not running`, EXIT_ERROR);
    signalContainer(state, signal);
    process.stdout.write(`${ref}\n`);
  });
}
