// Under CI=true a skipped test is a failure: a green run must mean that
// everything was exercised (../shared/TESTING.md). Locally, skips are listed
// with their reason so a non-root run says why it did less.
import type { Reporter, TestModule } from 'vitest/node';

export default class NoSkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped: string[] = [];
    for (const mod of testModules) {
      for (const test of mod.children.allTests('skipped')) skipped.push(`${mod.moduleId.split('/packages/')[1] ?? mod.moduleId} > ${test.fullName}`);
    }
    if (skipped.length === 0) return;
    const ci = process.env.CI === 'true';
    process.stderr.write(`\n${ci ? 'FAIL' : 'note'}: ${skipped.length} skipped test(s)${ci ? ' under CI=true, where a skip is a failure' : ''}:\n`);
    for (const s of skipped.slice(0, 50)) process.stderr.write(`  - ${s}\n`);
    if (ci) process.exitCode = 1;
  }
}
