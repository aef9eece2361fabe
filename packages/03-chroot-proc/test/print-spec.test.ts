// --print-spec: chapter 03's config.json is chapter 02's plus root, mounts,
// process.cwd (and docker's env), and running the same flags does that.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxRootfs, descendants, hostSnapshot, leftovers, printedSpec, randomHostname, requireRoot, runStep, specNotContained, type HostSnapshot } from '@hull/testkit';
import { ROOTFS_MOUNTS, TMP_MOUNT } from '../src/index.js';

const CHAPTER = '03-chroot-proc';

describe.skipIf(!requireRoot('03-chroot-proc --print-spec'))('03-chroot-proc: --print-spec, then run', () => {
  let before: HostSnapshot;
  let rootfs: string;
  beforeAll(() => {
    before = hostSnapshot();
    rootfs = busyboxRootfs();
  });
  afterAll(() => {
    // What this chapter could leave: a renamed host, a mount of its rootfs, a process (other packages' tests make cgroups meanwhile).
    const { hostname, mounts } = leftovers(before);
    expect({ hostname, mounts: (mounts ?? []).filter((m) => m.includes(rootfs)) }).toEqual({ hostname: undefined, mounts: [] });
    expect(descendants()).toEqual([]);
  });

  it("is chapter 02's spec for the same flags, plus an ipc namespace, root, mounts, and cwd / with docker's env", async () => {
    const hostname = randomHostname();
    const cmd = ['--', 'sh', '-c', 'true'];
    const [earlier, spec] = await Promise.all([
      printedSpec<RuntimeSpec>('02-pid-mount', ['--hostname', hostname, ...cmd]),
      printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--hostname', hostname, ...cmd]),
    ]);
    expect(spec.ociVersion).toBe('1.1.0');
    // Inside its own rootfs the host's env and directory mean nothing: those two are this chapter's to set.
    expect(specNotContained(spec, earlier, ['process.env', 'process.cwd'])).toEqual([]);
    expect(spec.root).toEqual({ path: rootfs });
    expect(spec.mounts).toEqual([...ROOTFS_MOUNTS, TMP_MOUNT]);
    expect(spec.process?.cwd).toBe('/');
    expect(spec.process?.env).toContain(`HOSTNAME=${hostname}`);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['uts', 'pid', 'mount', 'ipc']);
  });

  it('inside: spec.hostname, spec.process.cwd, spec.process.env, and each of spec.mounts with its type (and ro where it says so)', async () => {
    const args = ['--rootfs', rootfs, '--hostname', randomHostname(), '--', 'sh', '-c', 'hostname; pwd; env | sort | tr "\\n" " "; echo; cat /proc/mounts'];
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, args);
    const r = await runStep(CHAPTER, args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [hostname, cwd, env, ...mounts] = r.stdout.trim().split('\n');
    expect(hostname).toBe(spec.hostname);
    expect(cwd).toBe(spec.process?.cwd);
    // sh adds PWD and SHLVL of its own.
    expect(env!.trim().split(' ').filter((e) => !/^(PWD|SHLVL)=/.test(e))).toEqual([...spec.process!.env!].sort());
    const table = new Map(mounts.map((l) => l.split(' ')).map(([, target, type, options]) => [target!, { type: type!, options: options!.split(',') }]));
    for (const m of spec.mounts!) {
      expect(table.get(m.destination)?.type, m.destination).toBe(m.type);
      if (m.options?.includes('ro')) expect(table.get(m.destination)?.options, m.destination).toContain('ro');
    }
    expect(hostSnapshot().hostname).toBe(before.hostname);
  });
});
