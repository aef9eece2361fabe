// `hull prune`: remove every stopped container.
import { UsageError } from '@hull/01-uts';
import { parseOptions } from '../args.js';
import { containerIds, observedState } from '../store.js';
import { eachArgument } from './each-argument.js';
import { help } from './help.js';
import { removeContainer } from './rm.js';

/** Remove every container that is not running (the crash repair of `rm` included). */
export async function prune(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull prune', options: {}, about: 'Remove all stopped containers (no confirmation prompt).' })) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length) throw new UsageError(`"hull prune" accepts no arguments`);
  const stopped = containerIds().filter((id) => {
    try {
      return observedState(id).status !== 'running';
    } catch {
      return false;
    }
  });
  process.stdout.write('Deleted Containers:\n');
  const code = await eachArgument(stopped, async (id) => {
    await removeContainer(id);
    process.stdout.write(`${id}\n`);
  });
  return code;
}
