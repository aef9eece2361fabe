// What one test file owns, so that its leftover check (host.ts) reports only
// what the file made: helpers run other suites on this host at the same time,
// and their links, mounts and cgroups come and go while we look
// (../shared/TESTING.md, "Concurrency").
//
// A test file owns, without having to say so:
// - every random name it drew with randomToken() (bridges, netns, nft tables,
//   cgroup names, podman's cgroup parent: every host resource we name is named
//   with one);
// - every temp dir it made with mkdtemp (HULL_ROOTs, rootfs copies): the mounts
//   on and under them, and the bridge leases in <dir>/network/;
// - every process that carries its marker in its environment (the supervisor,
//   a daemonised sleep: they leave the worker's tree but keep its env).
// A harness adds what it learns later with claimLeftovers() (container ids
// hull chose, a device cgroup named after a hash).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

export interface LeftoverScope {
  /** Substrings naming our links, netns, nft tables, cgroups, routes' devices. */
  readonly names: Set<string>;
  /** Our directories: mounts on or under them, leases in <dir>/network. */
  readonly paths: Set<string>;
  /** HULL_TEST_SCOPE=<marker> is in the environment of every process this file starts. */
  readonly marker: string;
}

/** The environment variable that marks this test file's processes. */
export const SCOPE_ENV = 'HULL_TEST_SCOPE';

/**
 * Shorter tokens would match other helpers' resources by chance (a 4-hex
 * token is in one 64-hex container id out of ~1000); randomToken(5) and
 * longer are what tests use for names.
 */
const MIN_NAME = 5;

const scope: LeftoverScope = { names: new Set(), paths: new Set(), marker: randomBytes(12).toString('hex') };
process.env[SCOPE_ENV] = scope.marker;

export function leftoverScope(): LeftoverScope {
  return scope;
}

/** Add names (substrings) and paths (directories) to what this test file owns. */
export function claimLeftovers(claim: { names?: readonly string[]; paths?: readonly string[] }): void {
  for (const n of claim.names ?? []) if (n.length >= MIN_NAME) scope.names.add(n);
  for (const p of claim.paths ?? []) scope.paths.add(p.replace(/\/+$/, ''));
}

/** Does this text (a link name, a mountinfo line, a cgroup path) name something of ours? */
export function namesOurs(text: string, s: LeftoverScope = scope): boolean {
  for (const n of s.names) if (text.includes(n)) return true;
  for (const p of s.paths) if (text.includes(`${p}/`) || text.endsWith(p) || text.includes(`${p} `)) return true;
  return false;
}

let tempDirsClaimed = false;

/**
 * Every mkdtemp of this worker claims its directory. Patching the fs module
 * (and syncing the ESM named exports to it) reaches the `import { mkdtempSync }
 * from 'node:fs'` in every test file and helper without touching each one.
 */
export function claimTempDirs(): void {
  if (tempDirsClaimed) return;
  tempDirsClaimed = true;
  const sync = fs.mkdtempSync;
  const callback = fs.mkdtemp;
  const promised = fs.promises.mkdtemp;
  fs.mkdtempSync = ((prefix: string, options?: fs.EncodingOption) => {
    const dir = sync(prefix, options);
    claimLeftovers({ paths: [String(dir)] });
    return dir;
  }) as typeof fs.mkdtempSync;
  fs.mkdtemp = ((prefix: string, ...rest: unknown[]) => {
    const cb = rest.pop() as (err: NodeJS.ErrnoException | null, dir: string) => void;
    (callback as (p: string, ...a: unknown[]) => void)(prefix, ...rest, (err: NodeJS.ErrnoException | null, dir: string) => {
      if (!err) claimLeftovers({ paths: [String(dir)] });
      cb(err, dir);
    });
  }) as typeof fs.mkdtemp;
  fs.promises.mkdtemp = (async (prefix: string, options?: fs.EncodingOption) => {
    const dir = await promised(prefix, options);
    claimLeftovers({ paths: [String(dir)] });
    return dir;
  }) as typeof fs.promises.mkdtemp;
  syncBuiltinESMExports();
}
