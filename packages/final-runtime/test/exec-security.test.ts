// hull exec gets the container's hardening, as docker exec does: setns()
// carries no capabilities, no_new_privs or seccomp filter, so without it an
// exec'd process would keep hull's own (full) capabilities. Each container
// here is a different `hull run` security config; the exec'd process must
// match the container's PID 1, and the relaxed one proves the checks can fail.
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { statusMask } from '../src/security/capabilities.js';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

/** docker's 14 default capabilities, as /proc/PID/status shows them. */
const DEFAULT_MASK = 0xa80425fbn;
const SETS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'] as const;
/** Both escapes the default profile and capabilities stop, and their exit codes. */
const ESCAPES = (dir: string) => `mkdir -p ${dir}; mount -t tmpfs none ${dir}; echo mount=$?; unshare -U true; echo userns=$?`;

describe.skipIf(!requireRoot('final-runtime exec hardening'))('hull exec: the container\'s capabilities, no_new_privs and seccomp', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const hardened = `eh-${randomToken(6)}`;
  const relaxed = `er-${randomToken(6)}`;
  const privsOff = `en-${randomToken(6)}`;
  const remapped = `eu-${randomToken(6)}`;
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sleep', '300'] });
    const runs = await Promise.all([
      root.hull(['run', '-d', '--name', hardened, image]),
      root.hull(['run', '-d', '--name', relaxed, '--cap-add', 'ALL', '--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges=false', image]),
      root.hull(['run', '-d', '--name', privsOff, '--security-opt', 'no-new-privileges=false', image]),
    ]);
    // The remapped root (host uid 100000) must reach its rootfs through the store's directories, as hull's message says.
    for (const dir of [root.dir, join(root.dir, 'containers')]) chmodSync(dir, 0o711);
    runs.push(await root.hull(['run', '-d', '--name', remapped, '--userns', 'remap', image]));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await root.hull(['rm', '-f', hardened, relaxed, privsOff, remapped]);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  /** The exec'd process's /proc/self/status and PID 1's, separated by a marker line. */
  async function statusOfExecAndInit(ctr: string, extra: string[] = []): Promise<{ exec: string; init: string }> {
    const marker = `--${randomToken(8)}--`;
    const r = await root.hull(['exec', ...extra, ctr, 'sh', '-c', `cat /proc/self/status; echo ${marker}; cat /proc/1/status`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [exec, init] = r.stdout.split(`${marker}\n`);
    return { exec: exec!, init: init! };
  }

  it('root in a default container: the same capability sets as PID 1, no_new_privs, seccomp filter mode', async () => {
    const { exec, init } = await statusOfExecAndInit(hardened);
    for (const set of SETS) expect(statusMask(exec, set)).toBe(statusMask(init, set));
    for (const set of ['CapPrm', 'CapEff', 'CapBnd'] as const) expect(statusMask(exec, set)).toBe(DEFAULT_MASK);
    expect(statusMask(exec, 'CapInh')).toBe(0n);
    expect(statusMask(exec, 'CapAmb')).toBe(0n);
    expect(exec).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(exec).toMatch(/^Seccomp:\s+2$/m);
    // hull itself has more than that: the sets were really cut, not inherited equal.
    expect(statusMask(readFileSync('/proc/self/status', 'utf8'), 'CapEff')).not.toBe(DEFAULT_MASK);
  });

  it('mount and unshare -U fail in an exec into a default container, and succeed in one that opted out', async () => {
    const dir = `/tmp/m-${randomToken(6)}`;
    const denied = await root.hull(['exec', hardened, 'sh', '-c', ESCAPES(dir)]);
    expect(denied.stdout).toMatch(/^mount=[1-9]\d*\nuserns=[1-9]\d*\n$/);
    expect(denied.stderr).toMatch(/denied|not permitted/i);
    const allowed = await root.hull(['exec', relaxed, 'sh', '-c', `${ESCAPES(dir)}; umount ${dir}`]);
    expect(allowed.stdout).toBe('mount=0\nuserns=0\n');
    const { exec, init } = await statusOfExecAndInit(relaxed);
    expect(statusMask(exec, 'CapEff')).toBe(statusMask(init, 'CapEff'));
    expect(exec).toMatch(/^NoNewPrivs:\s+0$/m);
    expect(exec).toMatch(/^Seccomp:\s+0$/m);
  });

  it('-u 1000 ends with no capabilities, under the same bounding set, no_new_privs and filter', async () => {
    const { exec } = await statusOfExecAndInit(hardened, ['-u', '1000']);
    expect(exec).toMatch(/^Uid:\s+1000\s/m);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'] as const) expect(statusMask(exec, set)).toBe(0n);
    expect(statusMask(exec, 'CapBnd')).toBe(DEFAULT_MASK);
    expect(exec).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(exec).toMatch(/^Seccomp:\s+2$/m);
  });

  it('no-new-privileges=false: no no_new_privs, but the filter is still loaded (before the capabilities go), for root and -u 1000', async () => {
    for (const extra of [[], ['-u', '1000']]) {
      const { exec, init } = await statusOfExecAndInit(privsOff, extra);
      expect(exec).toMatch(/^NoNewPrivs:\s+0$/m);
      expect(exec).toMatch(/^Seccomp:\s+2$/m);
      expect(statusMask(exec, 'CapBnd')).toBe(statusMask(init, 'CapBnd'));
      expect(statusMask(exec, 'CapEff')).toBe(extra.length ? 0n : statusMask(init, 'CapEff'));
    }
    const denied = await root.hull(['exec', privsOff, 'sh', '-c', ESCAPES(`/tmp/m-${randomToken(6)}`)]);
    expect(denied.stdout).toMatch(/^mount=[1-9]\d*\nuserns=[1-9]\d*\n$/);
  });

  it('--userns remap: after joining the user namespace (all capabilities in it), the same cut', async () => {
    const { exec, init } = await statusOfExecAndInit(remapped);
    for (const set of SETS) expect(statusMask(exec, set)).toBe(statusMask(init, set));
    expect(statusMask(exec, 'CapEff')).toBe(DEFAULT_MASK);
    expect(exec).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(exec).toMatch(/^Seccomp:\s+2$/m);
    const denied = await root.hull(['exec', remapped, 'sh', '-c', ESCAPES(`/tmp/m-${randomToken(6)}`)]);
    expect(denied.stdout).toMatch(/^mount=[1-9]\d*\nuserns=[1-9]\d*\n$/);
  });
});
