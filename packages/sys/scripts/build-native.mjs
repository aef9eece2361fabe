// Compiles native/spawn.c into build/libhull_spawn.so. Runs on `npm ci` (via
// the root prepare -> turbo build). The only C in hull; see native/spawn.c.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cc = process.env.CC || 'cc';
if (process.platform !== 'linux') {
  console.error('hull: build: the native spawn helper needs Linux; skipping it on ' + process.platform);
  process.exit(0);
}
const probe = spawnSync(cc, ['--version'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.error(`hull: build: no C compiler ("${cc}") found: install one (Debian: apt-get install gcc) and run npm ci again`);
  process.exit(1);
}
mkdirSync(join(root, 'build'), { recursive: true });
const out = join(root, 'build', 'libhull_spawn.so');
const tmp = out + '.tmp';
execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', tmp, join(root, 'native', 'spawn.c')], { stdio: 'inherit' });
renameSync(tmp, out);
