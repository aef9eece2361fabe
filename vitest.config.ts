// `npx vitest` at the root runs every package as a project; `npm test` runs
// them through turbo instead (building first). Both use tools/vitest.shared.ts.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts'],
  },
});
