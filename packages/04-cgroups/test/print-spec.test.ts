// --print-spec: chapter 04's config.json is chapter 03's plus
// linux.resources and linux.cgroupsPath, and running the same flags makes
// exactly that cgroup with exactly those limits.
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxRootfs, collect, descendants, hostSnapshot, printedSpec, settledLeftovers, randomHostname, randomToken, requireRoot, runStep, specNotContained, startStep, waitFor, type HostSnapshot } from '@hull/testkit';
import { detectLayout } from '../src/index.js';

const CHAPTER = '04-cgroups';
const ID_PREFIX = 'spec-';

describe.skipIf(!requireRoot('04-cgroups --print-spec'))('04-cgroups: --print-spec, then run', () => {
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

  /** Random limits, as flags and as the spec must say them. */
  function randomLimits() {
    const pids = randomInt(5, 500);
    const mib = randomInt(8, 512);
    const cpus = randomInt(1, 100) / 100;
    const id = `${ID_PREFIX}${randomToken(8)}`;
    return {
      id,
      flags: ['--pids-max', String(pids), '--memory', `${mib}m`, '--cpus', String(cpus), '--id', id],
      resources: { pids: { limit: pids }, memory: { limit: mib << 20, swap: mib << 20 }, cpu: { quota: Math.round(cpus * 100_000), period: 100_000 } },
    };
  }

  it("is chapter 03's spec for the same flags, plus linux.resources and cgroupsPath /hull/ID, with exactly the values given", async () => {
    const hostname = randomHostname();
    const limits = randomLimits();
    const cmd = ['--', 'true'];
    const [earlier, spec] = await Promise.all([
      printedSpec<RuntimeSpec>('03-chroot-proc', ['--rootfs', rootfs, '--hostname', hostname, ...cmd]),
      printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--hostname', hostname, ...limits.flags, ...cmd]),
    ]);
    expect(spec.ociVersion).toBe('1.1.0');
    expect(specNotContained(spec, earlier)).toEqual([]);
    expect(spec.linux?.resources).toEqual(limits.resources);
    expect(spec.linux?.cgroupsPath).toBe(`/hull/${limits.id}`);
    expect(specNotContained(earlier, spec, ['linux.resources', 'linux.cgroupsPath'])).toEqual([]);
  });

  it('without --id, cgroupsPath is /hull/ and 12 random hex digits; only --pids-max is required', async () => {
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--pids-max', '3', '--', 'true']);
    expect(spec.linux?.cgroupsPath).toMatch(/^\/hull\/[0-9a-f]{12}$/);
    expect(spec.linux?.resources).toEqual({ pids: { limit: 3 } });
  });

  it('refuses a bad --id as usage', async () => {
    const r = await runStep(CHAPTER, ['--print-spec', '--rootfs', rootfs, '--pids-max', '3', '--id', '../x', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hull: --id: cgroup id "\.\.\/x": /);
  });

  it('running it: CMD is in the cgroup cgroupsPath names, whose files hold the limits linux.resources gives; then it is gone', async () => {
    const limits = randomLimits();
    const args = ['--rootfs', rootfs, '--hostname', randomHostname(), ...limits.flags, '--', 'sh', '-c', 'cat /proc/self/cgroup; sleep 3'];
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, args);
    const layout = detectLayout();
    const path = spec.linux!.cgroupsPath!;
    const file = (controller: 'pids' | 'memory' | 'cpu', name: string) => `${layout.version === 2 ? layout.root : layout.hierarchies[controller]}${path}/${name}`;
    const files =
      layout.version === 2
        ? { pids: file('pids', 'pids.max'), memory: file('memory', 'memory.max'), cpu: file('cpu', 'cpu.max') }
        : { pids: file('pids', 'pids.max'), memory: file('memory', 'memory.limit_in_bytes'), cpu: file('cpu', 'cpu.cfs_quota_us') };
    const done = collect(startStep(CHAPTER, args), { timeoutMs: 90_000 });
    let seen: Record<string, string> | undefined;
    await waitFor(
      () => {
        try {
          seen = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, readFileSync(f, 'utf8').trim()]));
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'the cgroup cgroupsPath names',
    );
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { resources } = spec.linux!;
    expect(seen).toEqual({
      pids: String(resources!.pids!.limit),
      memory: String(resources!.memory!.limit),
      cpu: layout.version === 2 ? `${resources!.cpu!.quota} ${resources!.cpu!.period}` : String(resources!.cpu!.quota),
    });
    // /proc/self/cgroup inside: the pids hierarchy (v1) or the one line of v2 ends in cgroupsPath.
    expect(r.stdout.split('\n').filter((l) => /^\d+:(pids)?:/.test(l)).map((l) => l.split(':')[2])).toContain(path);
    expect(existsSync(files.pids)).toBe(false);
  });
});
