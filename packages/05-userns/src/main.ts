// Step 05: a rootfs container in its own user namespace.
//   sudo npx tsx packages/05-userns/src/main.ts --rootfs DIR --userns [--uid-map C:H:N]... [--gid-map C:H:N]... -- CMD...
//   npx tsx packages/05-userns/src/main.ts --rootfs DIR -- CMD...        (rootless: no sudo)
import { hostnameFlag, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import type { BindMount } from '@hull/03-chroot-proc';
import { type IdMapEntry, parseIdMapEntry } from './idmap.js';
import { runInUserns } from './run.js';

const USAGE = 'main.ts --rootfs DIR [--userns] [--uid-map C:H:N]... [--gid-map C:H:N]... [--volume HOST:CTR]... [--hostname NAME] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), {
    rootfs: { type: 'string' },
    hostname: { type: 'string' },
    userns: { type: 'boolean' },
    'uid-map': { type: 'string', multiple: true },
    'gid-map': { type: 'string', multiple: true },
    volume: { type: 'string', multiple: true },
  });
  const rootfs = values.rootfs as string | undefined;
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  const hostname = hostnameFlag(values.hostname as string | undefined);
  const uidMap = maps(values['uid-map'], 'uid');
  const gidMap = maps(values['gid-map'], 'gid');
  // A map asks for a user namespace as clearly as --userns does.
  const userns = values.userns === true || uidMap !== undefined || gidMap !== undefined;
  return runInUserns({
    rootfs,
    hostname,
    argv: command,
    ...(userns ? { userns: { ...(uidMap ? { uidMap } : {}), ...(gidMap ? { gidMap } : {}) } } : {}),
    volumes: strings(values.volume).map(parseVolume),
  });
});

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function maps(v: unknown, kind: 'uid' | 'gid'): IdMapEntry[] | undefined {
  const list = strings(v);
  return list.length ? list.map((text) => parseIdMapEntry(text, kind)) : undefined;
}

function parseVolume(text: string): BindMount {
  const i = text.indexOf(':');
  const [source, destination] = i < 0 ? ['', ''] : [text.slice(0, i), text.slice(i + 1)];
  if (!source.startsWith('/') || !destination.startsWith('/') || destination.split('/').includes('..')) {
    throw new UsageError(`--volume ${JSON.stringify(text)}: expected /HOST/PATH:/CONTAINER/PATH (absolute, no "..")`);
  }
  return { source, destination };
}
