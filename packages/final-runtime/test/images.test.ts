// pull, images, rmi, and the small commands (version, doctor) from the outside.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, requireRoot } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

interface ImageRow {
  Repository: string;
  Tag: string;
  Id: string;
  Layers: string[];
  Size: number;
}

describe.skipIf(!requireRoot('final-runtime images'))('hull pull / images / rmi', () => {
  const root = new HullRoot();
  let image = '';
  let other = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['true'], Env: [`X=${randomToken(6)}`] });
    other = await pushBusybox({ Cmd: ['true'], Env: [`Y=${randomToken(6)}`] });
  });

  afterAll(() => {
    expect(root.mounts()).toEqual([]);
    root.dispose();
  });

  const images = async (): Promise<ImageRow[]> => JSON.parse((await root.hull(['images', '--json'])).stdout) as ImageRow[];

  it('pull stores the image once; images lists it with its layers', async () => {
    const r = await root.hull(['pull', image]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Status: Downloaded newer image for /);
    const again = await root.hull(['pull', image]);
    expect(again.stdout).toMatch(/Status: Image is up to date for /);
    const rows = await images();
    const row = rows.find((x) => `${x.Repository}:${x.Tag}` === image)!;
    expect(row.Layers.length).toBe(2);
    for (const l of row.Layers) expect(existsSync(join(root.dir, 'layers', l.replace('sha256:', '')))).toBe(true);
    expect(row.Size).toBeGreaterThan(100_000); // busybox, counted once, not once per applet link
    expect(row.Size).toBeLessThan(20_000_000);
    const table = await root.hull(['images']);
    expect(table.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+SIZE$/);
    expect(table.stdout).toContain(row.Id.replace('sha256:', '').slice(0, 12));
  });

  it('rmi is refused while a container uses the image, unless -f; it keeps layers another image or container needs', async () => {
    await root.hull(['pull', other]);
    const name = `u-${randomToken(6)}`;
    expect((await root.hull(['run', '--name', name, image])).code).toBe(0);
    const refused = await root.hull(['rmi', image]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^hull: cannot remove ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: container [0-9a-f]{12} \\(${name}\\) uses it`));
    expect((await root.hull(['rmi', '-f', image])).code).toBe(0);
    expect((await images()).map((x) => `${x.Repository}:${x.Tag}`)).toEqual([other]);
    // The container's layers were kept: its rootfs still mounts (exec needs it running, so inspect the lower dirs).
    const [c] = JSON.parse((await root.hull(['inspect', name])).stdout) as { GraphDriver: { Data: { LowerDir: string } } }[];
    for (const dir of c!.GraphDriver.Data.LowerDir.split(':')) expect(existsSync(dir)).toBe(true);
    expect((await root.hull(['rm', name])).code).toBe(0);
    expect((await root.hull(['rmi', other])).stdout).toBe(`Untagged: ${other}\n`);
    expect(await images()).toEqual([]);
    expect(readdirSync(join(root.dir, 'layers'))).toEqual([]);
    expect(readdirSync(join(root.dir, 'blobs', 'sha256'))).toEqual([]);
    const missing = await root.hull(['rmi', image]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`hull: no such image: ${image}\n`);
  });

  it('version and doctor', async () => {
    const v = await root.hull(['version']);
    expect(v.stdout).toMatch(/^hull version \d+\.\d+\.\d+ \(node v\d+/);
    const d = await root.hull(['doctor', '--json']);
    const report = JSON.parse(d.stdout) as { root: string; checks: { name: string; ok: boolean; fix: string }[] };
    expect(report.root).toBe(root.dir);
    expect(report.checks.map((c) => c.name)).toEqual(['kernel', 'privileges', 'cgroups', 'overlayfs', 'user namespaces', 'nft', 'cc', 'newuidmap']);
    expect(report.checks.every((c) => c.fix.length > 0)).toBe(true);
    expect(d.code).toBe(report.checks.every((c) => c.ok) ? 0 : 1);
  });
});
