// `npm test`: every package's vitest through turbo (building first), then one
// closing line that adds up all packages: "tests: N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const summaryDir = mkdtempSync(join(tmpdir(), 'hull-test-summary-'));
const turbo = spawnSync('npx', ['turbo', 'run', 'test', '--concurrency=1', '--env-mode=loose', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, HULL_TEST_SUMMARY_DIR: summaryDir, TURBO_TELEMETRY_DISABLED: '1' },
});
const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of readdirSync(summaryDir)) {
  const counts = JSON.parse(readFileSync(join(summaryDir, file), 'utf8'));
  for (const key of Object.keys(total)) total[key] += counts[key];
}
rmSync(summaryDir, { recursive: true, force: true });
const code = turbo.status ?? 1;
// A package that crashed before reporting counts as a failure too.
if (code !== 0 && total.failed === 0) total.failed = 1;
console.log(`\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(code);
