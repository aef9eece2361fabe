// vitest setupFiles, for every package (tools/vitest.shared.ts): the one
// leftover check, after each test file, of what that file owns
// (leftover-scope.ts). It runs last: vitest runs after-hooks in reverse order
// of registration (sequence.hooks "stack"), and this file registers first, so
// the test file's own cleanup has run. The snapshot is taken as the file is
// loaded, before the test file's top-level code makes anything.
//
// Without root there is nothing to compare (ip and nft cannot list, a test
// that needs root skips and says why, and under CI=true that skip fails).
import { afterAll, expect } from 'vitest';
import { hostSnapshot, settledLeftovers, watchOurCgroups } from './host.js';
import { claimTempDirs } from './leftover-scope.js';

claimTempDirs();

if (process.getuid?.() === 0) {
  const before = hostSnapshot();
  watchOurCgroups();
  afterAll(async () => {
    expect(await settledLeftovers(before), 'left behind by this test file (packages/testkit/src/host.ts)').toEqual({});
  });
}
