// Step 01: run a command in a new UTS namespace with its own hostname.
//   sudo npx tsx packages/01-uts/src/main.ts [--hostname NAME] [--print-spec] -- CMD [ARGS...]
import { stepMain } from './cli.js';
import { runInUts } from './run.js';
import { UTS_FLAGS, utsOptions, utsSpecFromFlags } from './spec.js';

await stepMain({
  flags: UTS_FLAGS,
  about: 'Run CMD in a new UTS namespace: it may rename its host, and the real host keeps its name.',
  spec: utsSpecFromFlags,
  run: (spec) => runInUts(utsOptions(spec)),
});
