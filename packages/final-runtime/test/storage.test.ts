// The rootfs drivers: overlay (the default: one mount, layers shared and
// never written) and copy (chapter 07's flatten into a plain directory, used
// where overlayfs is unavailable; HULL_STORAGE_DRIVER=copy forces it here,
// since this machine has overlayfs). Both honour whiteouts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime storage'))('rootfs drivers', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const marker = randomToken(12);
  let image = '';

  beforeAll(async () => {
    requireBuild();
    // A top layer that adds /marker and deletes /bin/ls with a whiteout.
    image = await pushBusybox({ Cmd: ['sleep', '300'] }, [
      { entries: [{ path: 'marker', content: marker }, { path: 'bin/.wh.ls', content: '' }] },
    ]);
    await root.hull(['pull', image]);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  const script = 'cat /marker; echo; test -e /bin/ls && echo ls-here || echo ls-gone; echo x > /bin/new && echo wrote';

  for (const driver of ['overlay', 'copy'] as const) {
    it(`${driver}: whiteouts honoured, writes in the container's own files, layers untouched`, async () => {
      const env = { HULL_STORAGE_DRIVER: driver };
      const name = `s-${driver}-${randomToken(5)}`;
      const r = await root.hull(['run', '-d', '--name', name, image], { env });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const id = r.stdout.trim();
      const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { GraphDriver: { Name: string; Data: { LowerDir: string; MergedDir: string; UpperDir: string } } }[];
      expect(info!.GraphDriver.Name).toBe(driver);
      // Only the overlay is a mount; the copy is a directory.
      expect(root.mounts().includes(info!.GraphDriver.Data.MergedDir)).toBe(driver === 'overlay');
      const inside = await root.hull(['exec', name, 'sh', '-c', script]);
      expect(inside.stdout).toBe(`${marker}\nls-gone\nwrote\n`);
      const written = driver === 'overlay' ? join(info!.GraphDriver.Data.UpperDir, 'bin', 'new') : join(info!.GraphDriver.Data.MergedDir, 'bin', 'new');
      expect(existsSync(written)).toBe(true);
      for (const layer of info!.GraphDriver.Data.LowerDir.split(':')) expect(existsSync(join(layer, 'bin', 'new'))).toBe(false);
      expect((await root.hull(['rm', '-f', name])).code).toBe(0);
      expect(readdirSync(join(root.dir, 'containers'))).not.toContain(id);
    });
  }

  it('copy in the foreground says so on stderr, and --rm leaves nothing', async () => {
    const r = await root.hull(['run', '--rm', image, 'cat', '/marker'], { env: { HULL_STORAGE_DRIVER: 'copy' } });
    expect(r.stdout).toBe(marker);
    expect(r.stderr).toMatch(/^hull: HULL_STORAGE_DRIVER=copy: copying the image into .* \(start time grows with the image size\)\n$/);
    expect(root.containers()).toEqual([]);
  });

  it('a bad HULL_STORAGE_DRIVER is refused; copy with --userns remap is refused', async () => {
    const bad = await root.hull(['run', '--rm', image, 'true'], { env: { HULL_STORAGE_DRIVER: 'zfs' } });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('hull: HULL_STORAGE_DRIVER=zfs: use overlay or copy\n');
    const remap = await root.hull(['run', '--rm', '--userns', 'remap', image, 'true'], { env: { HULL_STORAGE_DRIVER: 'copy' } });
    expect(remap.code).toBe(125);
    expect(remap.stderr).toBe('hull: HULL_STORAGE_DRIVER=copy: --userns remap needs overlayfs\n');
    expect(root.containers()).toEqual([]);
  });
});
