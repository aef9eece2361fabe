// Under CI=true a skipped test is a failure: a green run must mean that
// everything was exercised (../shared/TESTING.md). Locally, skips are listed
// with their reason so a non-root run says why it did less.
// It also leaves this package's counts for tools/test.mjs's closing line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class NoSkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped: string[] = [];
    let passed = 0;
    let failed = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else if (state === 'skipped') skipped.push(`${mod.moduleId.split('/packages/')[1] ?? mod.moduleId} > ${test.fullName}`);
      }
    }
    const summaryDir = process.env.HULL_TEST_SUMMARY_DIR;
    if (summaryDir) {
      mkdirSync(summaryDir, { recursive: true });
      const name = (process.env.npm_package_name ?? `pid-${process.pid}`).replace(/[^a-z0-9-]/gi, '_');
      writeFileSync(join(summaryDir, `${name}.json`), JSON.stringify({ passed, failed, skipped: skipped.length }));
    }
    if (skipped.length === 0) return;
    const ci = process.env.CI === 'true';
    process.stderr.write(`\n${ci ? 'FAIL' : 'note'}: ${skipped.length} skipped test(s)${ci ? ' under CI=true, where a skip is a failure' : ''}:\n`);
    for (const s of skipped.slice(0, 50)) process.stderr.write(`  - ${s}\n`);
    if (ci) process.exitCode = 1;
  }
}
