// `npm test`: every package's vitest through turbo (building first), then the
// cgroup v2 tests in a QEMU guest (tools/cgroup2/harness.mjs: our hosts are
// cgroup v1 hybrid, most users' are pure v2), then one closing line that adds
// up all of them: "tests: N passed, N failed, N skipped".
//
// The guest always runs, after the host suite (both want the same 2 cores;
// side by side the emulated guest would crawl). Where it cannot run (not root,
// no qemu/debootstrap), it counts as one skip with the reason printed, as a
// test that needs root does: locally a note, under CI=true a failure, for
// there the harness runs all the same and fails with its one line. No
// /dev/kvm is no reason: the harness falls back to TCG emulation.
// HULL_CGROUP2=skip leaves it out on purpose (a quick local run), counted the
// same way: one skip, so CI cannot be made green with it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingTool } from './cgroup2/image.mjs';

const ci = process.env.CI === 'true';
const summaryDir = mkdtempSync(join(tmpdir(), 'hull-test-summary-'));
const env = { ...process.env, HULL_TEST_SUMMARY_DIR: summaryDir, TURBO_TELEMETRY_DISABLED: '1' };
const turbo = spawnSync('npx', ['turbo', 'run', 'test', '--concurrency=1', '--env-mode=loose', ...process.argv.slice(2)], { stdio: 'inherit', env });

/** Why the guest cannot run here, or null. */
function guestUnavailable() {
  if (process.env.HULL_CGROUP2 === 'skip') return 'HULL_CGROUP2=skip';
  if (process.getuid?.() !== 0) return 'needs root';
  return missingTool();
}

const guestCounts = join(summaryDir, 'cgroup2.json');
let guestCode = 0;
let guestSkipped = 0;
const unavailable = guestUnavailable();
if (unavailable && (!ci || process.env.HULL_CGROUP2 === 'skip')) {
  process.stderr.write(`\n${ci ? 'FAIL' : 'note'}: the cgroup v2 guest (npm run test:cgroup2) skipped: ${unavailable}${ci ? ', under CI=true, where a skip is a failure' : ''}\n`);
  guestSkipped = 1;
  if (ci) guestCode = 1;
} else {
  process.stdout.write('\ncgroup2: the cgroup v2 tests in a QEMU guest (docs/testing-cgroup2.md)\n');
  const guest = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'cgroup2', 'harness.mjs')], { stdio: 'inherit', env });
  guestCode = guest.status ?? 1;
}

const total = { passed: 0, failed: 0, skipped: guestSkipped };
for (const file of readdirSync(summaryDir)) {
  const counts = JSON.parse(readFileSync(join(summaryDir, file), 'utf8'));
  for (const key of Object.keys(total)) total[key] += counts[key];
}
const guestReported = existsSync(guestCounts);
rmSync(summaryDir, { recursive: true, force: true });
const turboCode = turbo.status ?? 1;
// A package (or the guest) that crashed before reporting counts as a failure too.
if ((turboCode !== 0 || (guestCode !== 0 && !guestReported)) && total.failed === 0) total.failed = 1;
console.log(`\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(turboCode !== 0 ? turboCode : guestCode !== 0 || (ci && total.skipped > 0) ? 1 : 0);
