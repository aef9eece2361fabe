// Step 07: pull an OCI image from a registry into the store, and run it.
//   npx tsx packages/07-oci-pull/src/main.ts pull REF [--dest DIR] [--platform os/arch[/variant]]
//   sudo npx tsx packages/07-oci-pull/src/main.ts run [flags] REF [[--] CMD [ARGS...]]
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ContainerError, hostnameProblem, operandIndex, runMain, UsageError } from '@hull/01-uts';
import { parseLimits } from '@hull/04-cgroups';
import { NET_MODES, type NetMode } from '@hull/06-network';
import { createProgress } from './progress.js';
import { pull } from './pull.js';
import { flatten } from './unpack.js';
import { runImage } from './run.js';
import { Store } from './store.js';

const USAGE =
  'main.ts pull REF [--dest DIR] [--platform os/arch[/variant]] | main.ts run [--platform P] [--hostname NAME] [--net bridge|none|host] [--pids-max N] [--memory SIZE] [--cpus N] REF [[--] CMD [ARGS...]]';

const FLAGS = {
  dest: { type: 'string' },
  platform: { type: 'string' },
  hostname: { type: 'string' },
  net: { type: 'string' },
  'pids-max': { type: 'string' },
  memory: { type: 'string' },
  cpus: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

await runMain(USAGE, async () => {
  const [verb, ...rest] = process.argv.slice(2);
  if (verb !== 'pull' && verb !== 'run') throw new UsageError(verb ? `unknown command ${JSON.stringify(verb)}` : 'missing command (pull or run)');
  // pull: flags anywhere. run: as in docker, whatever follows REF is the command
  // (an optional `--` first), so `run IMG sh -c 'x'` keeps its -c.
  const split = verb === 'run' ? afterRef(rest) : rest.indexOf('--');
  const ours = split >= 0 ? rest.slice(0, split) : rest;
  let parsed;
  try {
    parsed = parseArgs({ args: ours, options: FLAGS, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
  const { values, positionals } = parsed;
  const [ref, ...extra] = positionals;
  if (!ref) throw new UsageError('missing REF');
  const insecure = [...(values['insecure-registry'] ?? []), ...(process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean)];
  const store = new Store();
  // run keeps stdout for the container's own output.
  const progress = createProgress(verb === 'run' ? process.stderr : process.stdout);

  if (verb === 'pull') {
    if (extra.length || split >= 0) throw new UsageError(`pull takes one REF, not ${JSON.stringify([...extra, ...rest.slice(split + 1)].join(' '))}`);
    for (const flag of ['hostname', 'net', 'pids-max', 'memory', 'cpus'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} belongs to run`);
    }
    // Flattening onto a tree that has files would mix two roots (and `--dest /` would rewrite the host).
    const dest = values.dest === undefined ? undefined : checkDest(values.dest);
    const image = await pull({ ref, insecure, store, progress, ...(values.platform ? { platform: values.platform } : {}) });
    progress.stop();
    progress.line(`Digest: ${image.record.digest}`);
    progress.line(`Status: ${image.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${image.reference}`);
    if (dest) {
      const created = !existsSync(dest);
      try {
        await flatten(store, image.record.manifest, dest, (w) => progress.warn(w));
      } catch (err) {
        // Nothing of a refused image stays: the tree we made goes, and an empty
        // --dest given to us is emptied again (checkDest made sure it was empty).
        if (created) rmSync(dest, { recursive: true, force: true });
        else for (const entry of readdirSync(dest)) rmSync(join(dest, entry), { recursive: true, force: true });
        throw err;
      }
      progress.line(`Rootfs: ${dest}`);
    }
    return 0;
  }

  if (values.dest !== undefined) throw new UsageError('--dest belongs to pull');
  const command = split >= 0 ? rest.slice(rest[split] === '--' ? split + 1 : split) : extra;
  const net = values.net ?? 'bridge';
  if (!(NET_MODES as readonly string[]).includes(net)) throw new UsageError(`--net ${JSON.stringify(net)}: must be one of ${NET_MODES.join(', ')}`);
  if (values.hostname !== undefined) {
    const problem = hostnameProblem(values.hostname);
    if (problem) throw new UsageError(`--hostname ${JSON.stringify(values.hostname)} ${problem}`);
  }
  const limits = parseLimits({ pidsMax: values['pids-max'], memory: values.memory, cpus: values.cpus });
  return runImage({
    ref,
    command,
    insecure,
    store,
    progress,
    net: net as NetMode,
    limits,
    ...(values.platform ? { platform: values.platform } : {}),
    ...(values.hostname ? { hostname: values.hostname } : {}),
  });
});

/** --dest must be a new or empty directory; returns its absolute path. */
function checkDest(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) return abs;
  if (!statSync(abs).isDirectory()) throw new ContainerError(`--dest ${dir}: not a directory`);
  if (readdirSync(abs).length > 0) throw new ContainerError(`--dest ${dir}: not empty (give a new or empty directory)`);
  return abs;
}

/** run: the index where the command starts, i.e. just after REF (or the `--` after it); -1 without one. */
function afterRef(args: readonly string[]): number {
  // Chapter 01's scan, the one every step's command line uses: flags end at REF (or a `--`).
  const i = operandIndex(args, FLAGS);
  if (args[i] === '--') return i;
  if (i + 1 >= args.length) return -1;
  return i + 1;
}
