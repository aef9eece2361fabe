// `hull stop`: SIGTERM, then SIGKILL after the grace period.
import { catchesSignal, ContainerError, UsageError } from '@hull/01-uts';
import { intOption, type OptionSpecs, parseOptions } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { isRunning, observedState } from '../store.js';
import { eachArgument } from './each-argument.js';
import { help } from './help.js';
import { signalContainer, waitSettled } from './signal-container.js';

const OPTIONS: OptionSpecs = {
  time: { type: 'string', short: 't', value: 'SECONDS', help: 'Grace period before SIGKILL (default 10)' },
};

export async function stop(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull stop [OPTIONS] CONTAINER...', options: OPTIONS, about: 'SIGTERM, then SIGKILL after the grace period.' })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length === 0) throw new UsageError(`"hull stop" requires at least 1 argument: CONTAINER`);
  const grace = intOption(values, 'time') ?? 10;
  return eachArgument(positionals, async (ref) => {
    const { id } = findContainer(ref);
    const state = observedState(id);
    if (isRunning(state)) {
      // PID 1 of a PID namespace never dies of a signal it does not handle
      // (the kernel drops it), so waiting out the grace period would only
      // delay the SIGKILL that docker sends in the end anyway.
      if (catchesSignal(state.pid, 'SIGTERM')) {
        signalContainer(state, 'SIGTERM');
        if (await waitSettled(id, grace * 1000)) {
          process.stdout.write(`${ref}\n`);
          return;
        }
      }
      signalContainer(state, 'SIGKILL');
    }
    if (!(await waitSettled(id, 10_000))) throw new ContainerError(`container ${ref} did not stop`, EXIT_ERROR);
    process.stdout.write(`${ref}\n`);
  });
}
