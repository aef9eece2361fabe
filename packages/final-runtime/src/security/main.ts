// The hardening step on its own: chapter 03's container plus every layer of
// docs/hardening.md, with docker's flags to turn each one off.
//   sudo npx tsx packages/final-runtime/src/security/main.ts --rootfs DIR [--user UID[:GID]]
//     [--cap-add CAP] [--cap-drop CAP] [--security-opt OPT] [--ulimit NAME=SOFT[:HARD]] [--privileged] -- CMD [ARGS...]
import { parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import { runHardened } from './run.js';

const USAGE =
  'main.ts --rootfs DIR [--hostname NAME] [--user UID[:GID]] [--cap-add CAP]... [--cap-drop CAP]... [--security-opt OPT]... [--ulimit NAME=SOFT[:HARD]]... [--privileged] -- CMD [ARGS...]';

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** Numeric only: this step has no image config; `hull run -u NAME` resolves names against the image's /etc/passwd. */
function parseUser(text: string): { uid: number; gid: number; groups: number[] } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`--user ${text}: expected UID or UID:GID`);
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if (uid > 2 ** 32 - 2 || gid > 2 ** 32 - 2) throw new UsageError(`--user ${text}: id out of range`);
  return { uid, gid, groups: [gid] };
}

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), {
    rootfs: { type: 'string' },
    hostname: { type: 'string' },
    user: { type: 'string' },
    'cap-add': { type: 'string', multiple: true },
    'cap-drop': { type: 'string', multiple: true },
    'security-opt': { type: 'string', multiple: true },
    ulimit: { type: 'string', multiple: true },
    privileged: { type: 'boolean' },
  });
  const rootfs = values.rootfs as string | undefined;
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  const user = typeof values.user === 'string' ? parseUser(values.user) : undefined;
  return runHardened({
    rootfs,
    ...(typeof values.hostname === 'string' ? { hostname: values.hostname } : {}),
    argv: command,
    security: {
      capAdd: list(values['cap-add']),
      capDrop: list(values['cap-drop']),
      securityOpt: list(values['security-opt']),
      ulimit: list(values.ulimit),
      privileged: values.privileged === true,
      ...(user ? { user } : {}),
    },
  });
});
