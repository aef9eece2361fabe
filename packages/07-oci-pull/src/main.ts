// Step 07: pull an OCI image from a registry into the store, and run it.
//   npx tsx packages/07-oci-pull/src/main.ts pull REF [--dest DIR] [--platform os/arch[/variant]]
//   sudo npx tsx packages/07-oci-pull/src/main.ts run [flags] [--print-spec] REF [[--] CMD [ARGS...]]
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  ContainerError,
  helpText,
  hostnameFlag,
  listOption,
  type OptionSpecs,
  parseOptions,
  runMain,
  STEP_WORDING,
  stringOption,
  usageSynopsis,
  UsageError,
} from '@hull/01-uts';
import { limitFlags } from '@hull/04-cgroups';
import { NET_MODES, type NetMode } from '@hull/06-network';
import { createProgress } from './progress.js';
import { pull } from './pull.js';
import { flatten } from './unpack.js';
import { runImage } from './run.js';
import { Store } from './store.js';

/** One table for both verbs: a flag of the other verb is refused by name ("--dest belongs to pull"). */
const FLAGS = {
  dest: { type: 'string', value: 'DIR', help: 'pull: also flatten the layers into DIR (new or empty)' },
  platform: { type: 'string', value: 'os/arch[/variant]', help: 'The platform to pick from an image index (default: this machine)' },
  hostname: { type: 'string', value: 'NAME', help: "run: the container's hostname" },
  net: { type: 'string', value: 'bridge|none|host', help: 'run: the network (chapter 06; default bridge)' },
  'pids-max': { type: 'string', value: 'N', help: 'run: pids.max (chapter 04)' },
  memory: { type: 'string', value: 'SIZE', help: 'run: memory limit, e.g. 64m (chapter 04)' },
  cpus: { type: 'string', value: 'N', help: 'run: CPUs worth of time, e.g. 0.5 (chapter 04)' },
  'insecure-registry': { type: 'string', multiple: true, value: 'HOST[:PORT]', help: 'Talk plain HTTP to this registry (repeatable; also HULL_INSECURE_REGISTRIES)' },
  'print-spec': { type: 'boolean', help: "run: print the config.json converted from the image's config and the flags, and exit" },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
} as const satisfies OptionSpecs;

const PULL_ONLY = ['dest'] as const;
const RUN_ONLY = ['hostname', 'net', 'pids-max', 'memory', 'cpus', 'print-spec'] as const;
const only = (names: readonly string[]): OptionSpecs => Object.fromEntries(Object.entries(FLAGS).filter(([n]) => !(names as readonly string[]).includes(n)));

const USAGE = `main.ts pull ${usageSynopsis(only(RUN_ONLY))} REF | main.ts run ${usageSynopsis(only(PULL_ONLY))} REF [[--] CMD [ARGS...]]`;

await runMain(USAGE, async () => {
  const [verb, ...rest] = process.argv.slice(2);
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(helpText(USAGE, FLAGS, 'pull: download an image into the store. run: pull it if needed, and run it with chapters 03-06.'));
    return 0;
  }
  if (verb !== 'pull' && verb !== 'run') throw new UsageError(verb ? `unknown command ${JSON.stringify(verb)}` : 'missing command (pull or run)');
  // pull: flags anywhere. run: as in docker, whatever follows REF is the command
  // (an optional `--` first), so `run IMG sh -c 'x'` keeps its -c.
  const parsed = parseOptions(rest, FLAGS, { stopAtPositional: verb === 'run', wording: STEP_WORDING });
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  const [ref, ...extra] = positionals;
  if (!ref) throw new UsageError('missing REF');
  const platform = stringOption(values, 'platform');
  const insecure = [...listOption(values, 'insecure-registry'), ...(process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean)];
  const store = new Store();
  // run keeps stdout for the container's own output.
  const progress = createProgress(verb === 'run' ? process.stderr : process.stdout);

  if (verb === 'pull') {
    if (extra.length) throw new UsageError(`pull takes one REF, not ${JSON.stringify(extra.join(' '))}`);
    for (const flag of RUN_ONLY) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} belongs to run`);
    }
    // Flattening onto a tree that has files would mix two roots (and `--dest /` would rewrite the host).
    const destFlag = stringOption(values, 'dest');
    const dest = destFlag === undefined ? undefined : checkDest(destFlag);
    const image = await pull({ ref, insecure, store, progress, ...(platform ? { platform } : {}) });
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
  const command = extra[0] === '--' ? extra.slice(1) : extra;
  const net = stringOption(values, 'net') ?? 'bridge';
  if (!(NET_MODES as readonly string[]).includes(net)) throw new UsageError(`--net ${JSON.stringify(net)}: must be one of ${NET_MODES.join(', ')}`);
  const hostname = stringOption(values, 'hostname');
  if (hostname !== undefined) hostnameFlag(hostname);
  const limits = limitFlags(values);
  return runImage({
    ref,
    command,
    insecure,
    store,
    progress,
    net: net as NetMode,
    limits,
    printSpec: values['print-spec'] === true,
    ...(platform ? { platform } : {}),
    ...(hostname ? { hostname } : {}),
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
