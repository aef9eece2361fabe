// One vitest setup for every package: @hull/* resolves to sources (as tsx
// does for learners), generous timeouts (real namespaces, real registries),
// and the no-skip rule under CI.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function hullProject(packageDir: string, extra: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: {
      alias: [{ find: /^@hull\/([^/]+)$/, replacement: `${repoRoot}/packages/$1/src/index.ts` }],
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
    },
  });
}
