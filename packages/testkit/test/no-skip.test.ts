// The no-skip rule holds however vitest is started: `npm test` (turbo, each
// package's config) and `npx vitest run` at the repository root (the root
// config's projects; vitest takes reporters from the root config only, so
// tools/no-skip-reporter.ts is named there too). Proven from the outside: a
// root run that skips tests (a -t filter no test matches makes every test of
// the file a skip) fails under CI=true and only notes the skips without it.
import { describe, expect, it } from 'vitest';
import { randomToken, repoRoot, run } from '../src/index.ts';

const FILE = 'packages/sys/test/nul.test.ts';

async function rootRun(ci: boolean): Promise<{ code: number | null; out: string }> {
  // Not HULL_TEST_SUMMARY_DIR: this inner run's skips are the point of the test, and must not
  // be added to the closing line of the `npm test` that runs this file.
  // (run() merges env over process.env, so it is emptied, not deleted; the reporter skips an empty one.)
  const env: NodeJS.ProcessEnv = { CI: ci ? 'true' : '', HULL_TEST_SUMMARY_DIR: '' };
  const r = await run('npx', ['vitest', 'run', FILE, '-t', `no-test-is-named-${randomToken(8)}`], { cwd: repoRoot, env, timeoutMs: 180_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('the no-skip rule from the repository root (npx vitest run)', () => {
  it('fails a root run with skipped tests under CI=true, naming them', async () => {
    const { code, out } = await rootRun(true);
    expect(out).toMatch(/FAIL: \d+ skipped test\(s\) under CI=true, where a skip is a failure/);
    expect(out).toContain('sys/test/nul.test.ts > ');
    expect(code).toBe(1);
  });

  it('only notes them without CI', async () => {
    const { code, out } = await rootRun(false);
    expect(out).toMatch(/note: \d+ skipped test\(s\):/);
    expect(code).toBe(0);
  });
});
