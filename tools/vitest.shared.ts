// One vitest setup for every package: @hull/* resolves to sources (as tsx
// does for learners), generous timeouts (real namespaces, real registries),
// the no-skip rule under CI, and the leftover check after every test file.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const toArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

export function hullProject(packageDir: string, extra: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: {
      alias: [
        { find: /^@hull\/([^/]+)$/, replacement: `${repoRoot}/packages/$1/src/index.ts` },
        // A subpath export (@hull/01-uts/usage-error) is one source module: the
        // same one the package's index re-exports, so a class stays one class.
        { find: /^@hull\/([^/]+)\/([^/]+)$/, replacement: `${repoRoot}/packages/$1/src/$2.ts` },
      ],
    },
    test: {
      name: packageDir.split('/').pop(),
      root: packageDir,
      include: ['test/**/*.test.ts'],
      testTimeout: 120_000,
      hookTimeout: 180_000,
      pool: 'forks',
      reporters: ['default', `${repoRoot}/tools/no-skip-reporter.ts`],
      ...extra,
      // The leftover check after every test file, in every package; a
      // package's own setup files come after it.
      setupFiles: [`${repoRoot}/packages/testkit/src/leftover-check.setup.ts`, ...toArray(extra.setupFiles)],
    },
  });
}

/**
 * The cgroup version this kernel runs: 2 when /sys/fs/cgroup is the unified
 * tree (it has cgroup.controllers), 1 on a v1 or hybrid host such as ours.
 * Test files that only apply to one version are left out of the other's run
 * rather than skipped. HULL_CGROUP_EXPECT=v1|v2 (set by the cgroup v2 guest)
 * turns a host of the other kind into an error instead of a quieter run.
 */
export function cgroupVersion(): 1 | 2 {
  const version = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
  const expected = process.env.HULL_CGROUP_EXPECT;
  if (expected !== undefined && expected !== `v${version}`) {
    throw new Error(`HULL_CGROUP_EXPECT=${expected}, but this kernel runs cgroup v${version} at /sys/fs/cgroup`);
  }
  return version;
}
