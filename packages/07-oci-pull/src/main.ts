// Step 07: pull an OCI image from a registry into the store, and run it.
//   npx tsx packages/07-oci-pull/src/main.ts pull REF [--dest DIR] [--platform os/arch[/variant]]
//   sudo npx tsx packages/07-oci-pull/src/main.ts run REF [-- CMD [ARGS...]]
import { parseArgs } from 'node:util';
import { runMain, UsageError } from '@hull/01-uts';
import { createProgress } from './progress.js';
import { flatten, pull } from './pull.js';
import { runImage } from './run.js';
import { Store } from './store.js';

const USAGE = 'main.ts pull REF [--dest DIR] [--platform os/arch[/variant]] | main.ts run [--platform P] [--hostname NAME] REF [-- CMD [ARGS...]]';

const FLAGS = {
  dest: { type: 'string' },
  platform: { type: 'string' },
  hostname: { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

await runMain(USAGE, async () => {
  const [verb, ...rest] = process.argv.slice(2);
  if (verb !== 'pull' && verb !== 'run') throw new UsageError(verb ? `unknown command ${JSON.stringify(verb)}` : 'missing command (pull or run)');
  const dash = rest.indexOf('--');
  const ours = dash >= 0 ? rest.slice(0, dash) : rest;
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
    if (extra.length || dash >= 0) throw new UsageError(`pull takes one REF, not ${JSON.stringify([...extra, ...rest.slice(dash + 1)].join(' '))}`);
    if (values.hostname !== undefined) throw new UsageError('--hostname belongs to run');
    const image = await pull({ ref, insecure, store, progress, ...(values.platform ? { platform: values.platform } : {}) });
    progress.stop();
    progress.line(`Digest: ${image.record.digest}`);
    progress.line(`Status: ${image.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${image.reference}`);
    if (values.dest) {
      await flatten(store, image.record.manifest, values.dest, (w) => progress.line(`warning: ${w}`));
      progress.line(`Rootfs: ${values.dest}`);
    }
    return 0;
  }

  if (values.dest !== undefined) throw new UsageError('--dest belongs to pull');
  const command = dash >= 0 ? rest.slice(dash + 1) : extra;
  return runImage({ ref, command, insecure, store, progress, ...(values.platform ? { platform: values.platform } : {}), ...(values.hostname ? { hostname: values.hostname } : {}) });
});
