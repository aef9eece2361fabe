// The bins run the esbuild bundle (scripts/bundle.mjs), not tsc's dist/: one
// process per entry point, each loading a few files of build/. Seen from the
// outside through Node's own module log (NODE_DEBUG=esm prints one
// "Translating ... file://URL" line per module it loads, prefixed by the pid
// that loads it: the CLI's host pid, and 1 for the init stage in its pid
// namespace), the supervisor's command line, and what the loaded files hold.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, repoRoot, requireRoot, randomToken, run, waitFor, leftovers } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';
import { RUNTIME_BIN } from './runtime-kit.js';

const pkg = join(repoRoot, 'packages/final-runtime');

/** The files of this repository each process loaded as ES modules, by the pid in Node's log line. */
function loadedModules(stderr: string): Map<string, string[]> {
  const byPid = new Map<string, string[]>();
  for (const m of stderr.matchAll(/^ESM (\d+): Translating \w+ (file:\/\/\S+)$/gm)) {
    const file = fileURLToPath(m[2]!);
    if (!file.startsWith(join(repoRoot, 'packages'))) continue; // koffi, from node_modules
    byPid.set(m[1]!, [...(byPid.get(m[1]!) ?? []), file]);
  }
  return byPid;
}

/** Everything but Node's module log: what a user would have seen. */
const withoutLog = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => !/^ESM \d+: |^\s/.test(l) && !/^\}$/.test(l))
    .join('\n');

const inBuild = (file: string): boolean => file.startsWith(join(pkg, 'build') + '/');
const mentionsUndici = (files: string[]): boolean => files.some((f) => readFileSync(f, 'utf8').includes('node_modules/undici/'));

describe.skipIf(!requireRoot('final-runtime bundle'))('the bins run the bundle', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const marker = randomToken(12);
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Env: ['PATH=/bin', `MARKER=${marker}`], Cmd: ['sh', '-c', 'echo "$MARKER"'] });
  });

  afterAll(() => {
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('hull --version loads bin/hull.js, build/bin.js and a few shared chunks: nothing from dist/, no koffi', async () => {
    const r = await run('node', [BIN, '--version'], { env: { NODE_DEBUG: 'esm' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hull version \d+\.\d+\.\d+ \(node v\d+/);
    const files = [...loadedModules(r.stderr).values()].flat();
    expect(files.slice(0, 2)).toEqual([BIN, join(pkg, 'build/bin.js')]);
    expect(files.slice(2).filter((f) => !f.startsWith(join(pkg, 'build/chunks') + '/'))).toEqual([]);
    expect(files.length).toBeLessThan(8);
    expect(r.stderr).not.toContain('node_modules/koffi');
  });

  it('hull run: the CLI and its init stage load only build/, and the registry client only when a pull is needed', async () => {
    const first = await root.hull(['run', '--rm', '--network', 'none', image], { env: { NODE_DEBUG: 'esm' } });
    expect(first.stdout).toBe(`${marker}\n`);
    expect(first.code).toBe(0);
    expect(withoutLog(first.stderr)).toContain(`Unable to find image '${image}' locally`);

    const again = await root.hull(['run', '--rm', '--network', 'none', image], { env: { NODE_DEBUG: 'esm' } });
    expect(again.stdout).toBe(`${marker}\n`);
    expect(again.code).toBe(0);

    for (const r of [first, again]) {
      const byPid = loadedModules(r.stderr);
      const init = byPid.get('1') ?? [];
      const cli = [...byPid.entries()].filter(([pid]) => pid !== '1').flatMap(([, files]) => files);
      expect(cli[0]).toBe(BIN);
      expect(cli.slice(1).filter((f) => !inBuild(f))).toEqual([]);
      expect(cli.length).toBeLessThan(40); // tsc's dist/ is ~200 modules for the same run
      expect(init[0]).toBe(join(pkg, 'build/runtime/init.js'));
      expect(init.filter((f) => !inBuild(f))).toEqual([]);
    }
    // The pull brought the registry client (undici is bundled in); the run of a local image did not.
    const cliFiles = (r: { stderr: string }): string[] => [...loadedModules(r.stderr).entries()].filter(([pid]) => pid !== '1').flatMap(([, f]) => f);
    expect(mentionsUndici(cliFiles(first))).toBe(true);
    expect(mentionsUndici(cliFiles(again))).toBe(false);
    expect(root.containers()).toEqual([]);
  });

  it('a bad flag is still one line and exit 125 from the bundle, no stack', async () => {
    const bad = `x${randomToken(6)}`;
    const r = await root.hull(['run', '--rm', '--network', bad, image]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`hull: run: --network ${bad}: use none, bridge or host (see hull run --help)\n`);
  });

  it('run -d: the supervisor is build/supervisor.js, and leaves once nothing runs', async () => {
    const r = await root.hull(['run', '-d', '--network', 'none', image, 'sleep', '30']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const supervisor = root.supervisorPid()!;
    const argv = readFileSync(`/proc/${supervisor}/cmdline`, 'utf8').split('\0');
    expect(argv[1]).toBe(join(pkg, 'build/supervisor.js'));
    expect((await root.hull(['rm', '-f', id])).code).toBe(0);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
  });

  it('hull-runtime --version loads bin/hull-runtime.js and build/runtime-bin.js, nothing from dist/', async () => {
    const r = await run('node', [RUNTIME_BIN, '--version'], { env: { NODE_DEBUG: 'esm' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hull-runtime version');
    const files = [...loadedModules(r.stderr).values()].flat();
    expect(files[0]).toBe(RUNTIME_BIN);
    expect(files.slice(1).filter((f) => !inBuild(f))).toEqual([]);
    expect(files).toContain(join(pkg, 'build/runtime-bin.js'));
    expect(mentionsUndici(files)).toBe(false);
  });
});
