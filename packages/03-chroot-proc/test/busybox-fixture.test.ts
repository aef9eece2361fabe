// The busybox fixture (@hull/testkit) that this chapter's tests, and later chapters', run in.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { busyboxApplets, busyboxRootfs, run } from '@hull/testkit';

describe('testkit busyboxRootfs', () => {
  const work = mkdtempSync(join(tmpdir(), 'hull-03-fixture-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds busybox, a symlink per applet, passwd and group, and the empty mount points', () => {
    const root = busyboxRootfs(join(work, 'rootfs'));
    expect(busyboxRootfs(join(work, 'rootfs'))).toBe(root); // built once
    expect(lstatSync(join(root, 'bin/busybox')).isFile()).toBe(true);
    const applets = busyboxApplets();
    expect(applets).toContain('bin/sh');
    for (const applet of applets.filter((a) => a !== 'bin/busybox')) expect(readlinkSync(join(root, applet))).toBe('/bin/busybox');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^root:x:0:0:/m);
    expect(passwd).toMatch(/^nobody:x:65534:65534:/m);
    expect(passwd).toMatch(/^[a-z]+:x:1000:1000:/m);
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).toMatch(/^root:x:0:/m);
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'root']) expect(readdirSync(join(root, d))).toEqual([]);
    expect(lstatSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('removes the default dir of a process that was killed before it could clean up', async () => {
    const tmp = join(work, 'tmp');
    const env = { TMPDIR: tmp };
    rmSync(tmp, { recursive: true, force: true });
    await run('mkdir', [tmp]);
    const build = "import('@hull/testkit').then((t) => { console.log(t.busyboxRootfs()); process.kill(process.pid, 'SIGKILL'); })";
    const killed = await run('npx', ['tsx', '-e', build], { env });
    expect(killed.signal ?? killed.code).toBeTruthy();
    expect(readdirSync(tmp).filter((e) => e.startsWith('hull-busybox-'))).toHaveLength(1);
    // The next process to build one sweeps the dead one's, and removes its own at exit.
    const clean = await run('npx', ['tsx', '-e', "import('@hull/testkit').then((t) => console.log(t.busyboxRootfs()))"], { env });
    expect(clean.code).toBe(0);
    expect(readdirSync(tmp).filter((e) => e.startsWith('hull-busybox-'))).toEqual([]);
  });
});
