// `hull rm`: remove containers (-f kills a running one first), and the removal `prune` shares.
import { existsSync } from 'node:fs';
import { ContainerError, UsageError } from '@hull/01-uts';
import { drainAndRemove, hostCgroupFs } from '@hull/04-cgroups';
import { boolOption, type OptionSpecs, parseOptions } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { unmountRootfs } from '../rootfs.js';
import { DeviceCgroup } from '../security/devices.js';
import { observedState, removeContainerDir, withStoreLock } from '../store.js';
import { eachArgument } from './each-argument.js';
import { help } from './help.js';
import { signalContainer, waitSettled } from './signal-container.js';

/** Remove a stopped container, repairing what a crash may have left: a rootfs still mounted, cgroups still there. */
export async function removeContainer(id: string): Promise<void> {
  const dirs = observedState(id).cgroupDirs.filter((d) => existsSync(d));
  if (dirs.length) await drainAndRemove(hostCgroupFs, `hull/${id}`, dirs);
  DeviceCgroup.find(id)?.remove(); // empty now: its processes were in the cgroups drained above
  withStoreLock(() => {
    unmountRootfs(id);
    removeContainerDir(id);
  });
}

const OPTIONS: OptionSpecs = {
  force: { type: 'boolean', short: 'f', help: 'Kill a running container first' },
};

export async function rm(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull rm [OPTIONS] CONTAINER...', options: OPTIONS })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length === 0) throw new UsageError(`"hull rm" requires at least 1 argument: CONTAINER`);
  const force = boolOption(values, 'force');
  return eachArgument(positionals, async (ref) => {
    const { id, name } = findContainer(ref);
    const state = observedState(id);
    if (state.status === 'running') {
      if (!force) throw new ContainerError(`cannot remove container ${name}: it is running: stop it first or use rm -f`, EXIT_ERROR);
      signalContainer(state, 'SIGKILL');
      if (!(await waitSettled(id, 10_000))) throw new ContainerError(`container ${name} did not die`, EXIT_ERROR);
    }
    await removeContainer(id);
    process.stdout.write(`${ref}\n`);
  });
}
