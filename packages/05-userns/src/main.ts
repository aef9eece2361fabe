// Step 05: a rootfs container in its own user namespace.
//   sudo npx tsx packages/05-userns/src/main.ts --rootfs DIR --userns [--uid-map C:H:N]... [--gid-map C:H:N]... [--print-spec] -- CMD...
//   npx tsx packages/05-userns/src/main.ts --rootfs DIR -- CMD...        (rootless: no sudo)
import { stepMain } from '@hull/01-uts';
import { runInUserns } from './run.js';
import { USERNS_FLAGS, usernsOptions, usernsSpecFromFlags } from './spec.js';

await stepMain({
  flags: USERNS_FLAGS,
  about: "Run CMD in chapter 03's container, in a user namespace of its own: its root is not the host's.",
  spec: usernsSpecFromFlags,
  run: (spec) => runInUserns(usernsOptions(spec)),
});
