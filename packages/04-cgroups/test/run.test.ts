// The library as the final CLI uses it: runWithLimits reports the usage at
// exit, so `hull inspect` can say OOMKilled like docker does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, descendants, hostSnapshot, requireRoot, run, type HostSnapshot, settledLeftovers } from '@hull/testkit';
import type { CgroupUsage } from '../src/index.js';

interface Report {
  code: number;
  usage: CgroupUsage;
}

async function runWithLimits(rootfs: string, limits: object, argv: string[]): Promise<Report> {
  const r = await run('npx', ['tsx', 'packages/04-cgroups/test/fixtures/run-with-limits.ts', rootfs, JSON.stringify(limits), '--', ...argv]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
}

describe.skipIf(!requireRoot('04-cgroups runWithLimits'))('runWithLimits', () => {
  let before: HostSnapshot;
  let rootfs: string;
  beforeAll(() => {
    before = hostSnapshot();
    rootfs = busyboxRootfs();
  });
  afterAll(async () => {
    expect(await settledLeftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('reports the OOM kill and the peak at the limit', async () => {
    const { code, usage } = await runWithLimits(rootfs, { pidsMax: 10, memoryBytes: 32 << 20 }, ['sh', '-c', 'x=0123456789abcdef; while :; do x=$x$x; done']);
    expect(code).toBe(137);
    // The kernel's counter (memory.events or memory.oom_control), read through the library: one hog, one kill.
    expect(usage.oomKills).toBe(1);
    expect(usage.memoryPeakBytes).toBeGreaterThan(16 << 20);
    expect(usage.memoryPeakBytes).toBeLessThanOrEqual(32 << 20);
  });

  it('reports no OOM kill, and the CPU time used, for a command that stays under its limits', async () => {
    const { code, usage } = await runWithLimits(rootfs, { pidsMax: 10, memoryBytes: 32 << 20 }, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done']);
    expect(code).toBe(0);
    expect(usage.oomKills).toBe(0);
    expect(usage.cpuUsageUsec).toBeGreaterThan(0);
    expect(usage.pidsCurrent).toBe(0);
  });
});
