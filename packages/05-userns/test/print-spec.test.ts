// --print-spec: chapter 05's config.json is chapter 03's plus a user
// namespace with linux.uidMappings/gidMappings and the volumes as bind
// mounts. Running it is in remap.test.ts: its leftover check counts every
// idmapped mount on the host, so the runs of this package stay in one file.
import { randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxRootfs, descendants, hostSnapshot, leftovers, printedSpec, randomHostname, randomToken, requireRoot, runStep, specNotContained, type HostSnapshot } from '@hull/testkit';
import { idmapMounts, ownMounts } from './host.js';

const CHAPTER = '05-userns';

describe.skipIf(!requireRoot('05-userns --print-spec'))('05-userns: --print-spec, then run', () => {
  let before: HostSnapshot;
  let tmp: string;
  let rootfs: string;
  let volume: string;
  beforeAll(() => {
    before = hostSnapshot();
    tmp = mkdtempSync(join(tmpdir(), 'hull-userns-spec-'));
    // The container's root is another host uid: it must be able to walk to the rootfs and the volume.
    chmodSync(tmp, 0o755);
    rootfs = busyboxRootfs(join(tmp, 'rootfs'));
    mkdirSync(join(rootfs, 'mnt'));
    volume = join(tmp, 'volume');
    mkdirSync(volume, { mode: 0o755 });
  });
  afterAll(() => {
    expect(leftovers(before).hostname).toBeUndefined();
    expect(descendants()).toEqual([]);
    expect(ownMounts(tmp)).toEqual([]);
    expect(idmapMounts()).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Random maps (host ids in 200000..4000000, 65536 ids each), as flags and as the spec must say them. */
  function randomMaps() {
    const uidHost = randomInt(4, 60) * 65536;
    const gidHost = randomInt(4, 60) * 65536;
    return {
      flags: ['--uid-map', `0:${uidHost}:65536`, '--gid-map', `0:${gidHost}:65536`],
      uidMappings: [{ containerID: 0, hostID: uidHost, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: gidHost, size: 65536 }],
    };
  }

  it("is chapter 03's spec for the same flags, plus a user namespace, the maps given, and each volume as a bind mount", async () => {
    const hostname = randomHostname();
    const maps = randomMaps();
    const cmd = ['--', 'true'];
    const [earlier, spec] = await Promise.all([
      printedSpec<RuntimeSpec>('03-chroot-proc', ['--rootfs', rootfs, '--hostname', hostname, ...cmd]),
      printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--hostname', hostname, ...maps.flags, '--volume', `${volume}:/mnt`, ...cmd]),
    ]);
    expect(spec.ociVersion).toBe('1.1.0');
    expect(specNotContained(spec, earlier)).toEqual([]);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['uts', 'pid', 'mount', 'ipc', 'user']);
    expect(spec.linux?.uidMappings).toEqual(maps.uidMappings);
    expect(spec.linux?.gidMappings).toEqual(maps.gidMappings);
    expect(spec.mounts?.at(-1)).toEqual({ destination: '/mnt', type: 'bind', source: volume, options: ['bind'] });
    expect(specNotContained(earlier, spec, ['linux.namespaces', 'linux.uidMappings', 'linux.gidMappings', 'mounts'])).toEqual([]);
  });

  it('--userns alone prints the default map, 0 -> 100000 x 65536; without it (as root) no user namespace at all', async () => {
    const remapped = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--userns', '--', 'true']);
    expect(remapped.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    const plain = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--', 'true']);
    expect(plain.linux?.namespaces?.some((n) => n.type === 'user')).toBe(false);
    expect(plain.linux?.uidMappings).toBeUndefined();
  });

  it('a bad map is refused with --print-spec as without: exit 2, nothing printed', async () => {
    const r = await runStep(CHAPTER, ['--print-spec', '--rootfs', rootfs, '--uid-map', '1:100000:100', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hull: --uid-map: container uid 0 is not mapped/);
  });
});
