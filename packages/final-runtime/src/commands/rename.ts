// `hull rename CONTAINER NEW_NAME`: docker's rule for the name, and the
// same check `run --name` makes, under the same store lock, so a rename and
// a `run --name` racing for one name never both get it.
import { ContainerError, UsageError } from '@hull/01-uts';
import { parseOptions } from '../args.js';
import { checkName, EXIT_ERROR, findContainer } from '../names.js';
import { containerIds, readConfig, withStoreLock, writeConfig } from '../store.js';
import { help } from './help.js';

export async function rename(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull rename CONTAINER NEW_NAME', options: {}, about: 'Rename a container.' })) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length !== 2) throw new UsageError(`"hull rename" requires exactly 2 arguments: CONTAINER NEW_NAME`);
  const [ref, name] = positionals as [string, string];
  // docker accepts "/name" for a name, as `inspect` shows it.
  const wanted = name.replace(/^\//, '');
  try {
    checkName(wanted);
  } catch (err) {
    if (err instanceof ContainerError) throw new ContainerError(err.message, EXIT_ERROR);
    throw err;
  }
  withStoreLock(() => {
    const config = findContainer(ref);
    if (config.name === wanted) throw new ContainerError(`renaming a container with the same name as its current name`, EXIT_ERROR);
    const other = containerIds().find((id) => id !== config.id && readConfig(id).name === wanted);
    if (other) throw new ContainerError(`the container name "${wanted}" is already in use by container ${other.slice(0, 12)}: remove it or pick another name`, EXIT_ERROR);
    writeConfig({ ...config, name: wanted });
  });
  return 0;
}
