// `hull export [-o FILE] CONTAINER`: the container's filesystem as one tar
// (its layers and its own changes merged, without its volumes, as docker
// exports it), packed by tree-tar.ts, which never follows a symlink of it.
import { closeSync, createWriteStream, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { ContainerError, UsageError } from '@hull/01-uts';
import { close } from '@hull/sys';
import { type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { ContainerFs } from '../container-fs.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { observedState } from '../store.js';
import { TreePacker } from '../tree-tar.js';
import { help } from './help.js';

const OPTIONS: OptionSpecs = { output: { type: 'string', short: 'o', value: 'FILE', help: 'Write to a file, instead of STDOUT' } };

export async function exportCommand(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull export [OPTIONS] CONTAINER', options: OPTIONS, about: "Export a container's filesystem as a tar archive." })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`"hull export" requires exactly 1 argument: CONTAINER`);
  const output = stringOption(values, 'output');
  if (output === undefined && process.stdout.isTTY) throw new ContainerError('cowardly refusing to save to a terminal. Use the -o flag or redirect', EXIT_ERROR);
  const config = findContainer(positionals[0]!);
  const fs = await ContainerFs.open(config, observedState(config.id), false);
  const rootFd = fs.resolve('/', true);
  // -o: a temp file beside it, renamed when complete, so a failure leaves no partial FILE.
  const temp = output === undefined ? undefined : join(dirname(output), `.${randomBytes(6).toString('hex')}.hull-export`);
  try {
    const packer = new TreePacker();
    const produced = (async () => {
      await packer.add(rootFd, '');
      packer.finalize();
    })();
    if (temp === undefined) {
      await Promise.all([produced, packer.toStream(process.stdout)]);
    } else {
      const fd = openSync(temp, 'wx', 0o666);
      try {
        await Promise.all([produced, pipeline(packer.pack, createWriteStream('', { fd, autoClose: false }))]);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, output!);
    }
  } catch (err) {
    if (temp !== undefined) rmSync(temp, { force: true });
    throw err;
  } finally {
    close(rootFd);
    fs.close();
  }
  return 0;
}
