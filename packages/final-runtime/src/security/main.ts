// The hardening step on its own: chapter 03's container plus every layer of
// docs/hardening.md, with docker's flags to turn each one off, or the
// hardening fields of an OCI config.json (--spec, docs/hardening.md "The
// spec's hardening fields").
//   sudo npx tsx packages/final-runtime/src/security/main.ts --rootfs DIR [--user UID[:GID]]
//     [--cap-add CAP] [--cap-drop CAP] [--security-opt OPT] [--ulimit NAME=SOFT[:HARD]] [--privileged] -- CMD [ARGS...]
//   sudo npx tsx packages/final-runtime/src/security/main.ts --rootfs DIR --spec config.json -- CMD [ARGS...]
import { readFileSync } from 'node:fs';
import { ContainerError, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import type { RuntimeSpec } from '@hull/sys';
import { securityFromSpec } from './oci.js';
import { runHardened } from './run.js';

const USAGE =
  'main.ts --rootfs DIR [--hostname NAME] [--user UID[:GID]] [--cap-add CAP]... [--cap-drop CAP]... [--security-opt OPT]... [--ulimit NAME=SOFT[:HARD]]... [--privileged] -- CMD [ARGS...]\n' +
  '       main.ts --rootfs DIR [--hostname NAME] --spec config.json -- CMD [ARGS...]   (process.user/capabilities/rlimits/noNewPrivileges/oomScoreAdj, linux.seccomp/devices/resources.devices/maskedPaths/readonlyPaths)';

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

function readSpec(path: string): RuntimeSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ContainerError(`--spec ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    const spec = JSON.parse(text) as unknown;
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new Error('not a JSON object');
    return spec as RuntimeSpec;
  } catch (err) {
    throw new ContainerError(`--spec ${path}: invalid JSON: ${(err as Error).message}`);
  }
}

const FLAG_ONLY = ['user', 'cap-add', 'cap-drop', 'security-opt', 'ulimit', 'privileged'] as const;

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), {
    rootfs: { type: 'string' },
    hostname: { type: 'string' },
    spec: { type: 'string' },
    user: { type: 'string' },
    'cap-add': { type: 'string', multiple: true },
    'cap-drop': { type: 'string', multiple: true },
    'security-opt': { type: 'string', multiple: true },
    ulimit: { type: 'string', multiple: true },
    privileged: { type: 'boolean' },
  });
  const rootfs = values.rootfs as string | undefined;
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  const hostname = typeof values.hostname === 'string' ? { hostname: values.hostname } : {};
  if (typeof values.spec === 'string') {
    const clash = FLAG_ONLY.find((f) => values[f] !== undefined);
    if (clash) throw new UsageError(`--spec and --${clash}: the spec's process and linux fields say it all, give one or the other`);
    return runHardened({ rootfs, ...hostname, argv: command, security: { plan: securityFromSpec(readSpec(values.spec)) } });
  }
  const user = typeof values.user === 'string' ? parseUser(values.user) : undefined;
  return runHardened({
    rootfs,
    ...hostname,
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
