// `npx vitest` at the root runs every package as a project; `npm test` runs
// them through turbo instead (building first). Both use tools/vitest.shared.ts.
// vitest takes reporters from the root config only, so the no-skip rule is
// named here too: a skip under CI=true fails a root run as well.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts'],
    reporters: ['default', './tools/no-skip-reporter.ts'],
  },
});
