// --print-spec: chapter 02's config.json is chapter 01's plus pid and mount
// namespaces and rootfsPropagation, and running the same flags does that.
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RuntimeSpec, RecordingSyscalls, MS_REC, MS_SLAVE } from '@hull/sys';
import { descendants, hostSnapshot, leftovers, printedSpec, randomHostname, randomToken, requireRoot, runStep, specNotContained, type HostSnapshot } from '@hull/testkit';
import { pidMountOptions, setRootPropagation } from '../src/index.js';

const CHAPTER = '02-pid-mount';

describe('02-pid-mount: --print-spec', () => {
  it("is chapter 01's spec for the same flags, plus pid and mount namespaces and rootfsPropagation rprivate", async () => {
    const args = ['--hostname', randomHostname(), '--', 'echo', randomToken(8)];
    const [earlier, spec] = await Promise.all([printedSpec<RuntimeSpec>('01-uts', args), printedSpec<RuntimeSpec>(CHAPTER, args)]);
    expect(spec.ociVersion).toBe('1.1.0');
    expect(specNotContained(spec, earlier)).toEqual([]);
    expect(spec.linux?.namespaces).toEqual([{ type: 'uts' }, { type: 'pid' }, { type: 'mount' }]);
    expect(spec.linux?.rootfsPropagation).toBe('rprivate');
    // And nothing else was added.
    expect(specNotContained(earlier, spec, ['linux.namespaces', 'linux.rootfsPropagation'])).toEqual([]);
  });

  it('the init reads rootfsPropagation from the spec: rslave is mount(NULL, "/", MS_REC|MS_SLAVE)', () => {
    const spec: RuntimeSpec = { ociVersion: '1.1.0', hostname: 'x', process: { user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' }, linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], rootfsPropagation: 'rslave' } };
    const { rootfsPropagation } = pidMountOptions(spec);
    const sys = new RecordingSyscalls();
    setRootPropagation(sys, rootfsPropagation!);
    expect(sys.calls).toEqual([{ call: 'mount', args: [null, '/', null, MS_REC | MS_SLAVE, null] }]);
  });
});

describe.skipIf(!requireRoot('02-pid-mount --print-spec, then run'))('02-pid-mount: the printed spec is what runs', () => {
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => {
    // These runs mount nothing: what they could leave is a renamed host or a process (other packages' tests make cgroups and mounts meanwhile).
    expect(leftovers(before).hostname).toBeUndefined();
    expect(descendants()).toEqual([]);
  });

  it('inside: spec.hostname, PID 1, a mount namespace of its own whose "/" propagates nothing (rprivate)', async () => {
    // mountinfo's 7th field on: optional tags ("shared:N", "master:N"), then "-". None for a private mount.
    const script = 'hostname; echo $$; readlink /proc/self/ns/mnt; grep " / / " /proc/self/mountinfo | head -n 1';
    const args = ['--hostname', randomHostname(), '--', 'sh', '-c', script];
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, args);
    const r = await runStep(CHAPTER, args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [hostname, pid, mnt, root] = r.stdout.trim().split('\n');
    expect(hostname).toBe(spec.hostname);
    expect(pid).toBe('1');
    expect(mnt).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    const tags = root!.split(' - ')[0]!.split(' ').slice(6);
    expect(tags.filter((t) => /^(shared|master):/.test(t))).toEqual([]);
  });
});
