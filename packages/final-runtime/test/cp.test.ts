// hull cp, both directions, running and stopped containers, and the attacks
// on it: a container's symlink (absolute, relative, swapped in a loop while
// we copy) or a `..` must never reach the host. Host markers with random
// contents sit where each hostile link points, and must stay as they were.
import { chownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, randomToken, rawTar, requireRoot, tarOf, settledLeftovers } from '@hull/testkit';
import { HullRoot, loadBusybox, requireBuild } from './hull.js';

/** Run hull with stdin bytes and collect stdout as bytes (a tar is not text). */
function hullBytes(root: HullRoot, args: string[], input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = root.start(args);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin!.end(input ?? Buffer.alloc(0));
  });
}

/** Names in a tar, by `tar -t` (the real tool reads what we wrote). */
async function tarNames(root: HullRoot, tar: Buffer): Promise<string[]> {
  const file = join(root.dir, `t-${randomToken(6)}.tar`);
  writeFileSync(file, tar);
  const { run } = await import('@hull/testkit');
  const r = await run('tar', ['-tf', file]);
  expect(r.code).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

interface Marker {
  path: string;
  content: string;
  mtimeMs: number;
  mode: number;
}

function marker(dir: string, name: string): Marker {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const content = randomToken(24);
  writeFileSync(path, content, { mode: 0o640 });
  const st = statSync(path);
  return { path, content, mtimeMs: st.mtimeMs, mode: st.mode };
}

function expectUntouched(m: Marker): void {
  expect(readFileSync(m.path, 'utf8')).toBe(m.content);
  const st = statSync(m.path);
  expect(st.mtimeMs).toBe(m.mtimeMs);
  expect(st.mode).toBe(m.mode);
}

describe.skipIf(!requireRoot('final-runtime cp'))('hull cp', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  // Where the hostile links point: a host directory holding markers (never to be read or written through a link).
  const hostDir = join(root.dir, `host-${randomToken(6)}`);
  const hostSecret = marker(hostDir, 'secret');
  const hostVictim = marker(hostDir, 'victim');
  const inside = randomToken(16); // the container's own file at the same path
  const dataContent = randomToken(20);
  const owned = randomToken(12);
  const image = `localhost/cp-${randomToken(6)}:t`;
  const rel = hostDir.slice(1); // the same path inside the image, so links resolve to the container's copy of it
  let running = '';
  let stopped = '';

  beforeAll(async () => {
    requireBuild();
    await loadBusybox(root, image, { Cmd: ['sleep', '600'] }, [
      { path: 'evil', type: 'symlink', linkname: hostDir },
      { path: 'evilrel', type: 'symlink', linkname: `../../../../../../../..${hostDir}` },
      { path: 'data', type: 'directory' },
      { path: 'data/f', content: dataContent },
      { path: 'data/sub', type: 'directory' },
      { path: 'data/sub/g', content: `g-${dataContent}` },
      { path: 'data/tolink', type: 'symlink', linkname: hostDir },
      { path: 'data/owned', content: owned, uid: 1000, gid: 1000 },
      { path: 'w', type: 'directory', mode: 0o777 },
      ...rel.split('/').map((_, i, parts) => ({ path: parts.slice(0, i + 1).join('/'), type: 'directory' as const })),
      { path: `${rel}/secret`, content: inside },
    ]);
    const a = await root.hull(['run', '-d', '--name', `run-${randomToken(6)}`, image]);
    expect(a.code).toBe(0);
    running = a.stdout.trim();
    const b = await root.hull(['run', '--name', `stop-${randomToken(6)}`, image, 'true']);
    expect(b.code).toBe(0);
    stopped = b.stdout.trim() || (await root.hull(['ps', '-a', '-q'])).stdout.split('\n').find((id) => id && !running.startsWith(id))!;
  });

  afterAll(async () => {
    for (const id of root.containers()) await root.hull(['rm', '-f', id]);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    expectUntouched(hostSecret);
    expectUntouched(hostVictim);
    expect(readdirSync(hostDir).sort()).toEqual(['secret', 'victim']);
    root.dispose();
    // The supervisor leaves, and a killed init is reaped, a moment after the last container goes.
    expect(await settledLeftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  // The running container's own rootfs is mounted; cp must add nothing to the host's mount table.
  const extraMounts = () => root.mounts().filter((m) => !m.includes(running));
  const upperOf = (id: string) => join(root.dir, 'containers', readdirSync(join(root.dir, 'containers')).find((d) => d.startsWith(id))!, 'upper');

  for (const which of ['running', 'stopped'] as const) {
    it(`${which}: a file and a directory out, a file and a directory in; both sides hold the same bytes`, async () => {
      const id = which === 'running' ? running : stopped;
      const out = join(root.dir, `out-${randomToken(6)}`);
      expect(await root.hull(['cp', `${id}:/data/f`, out])).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(out, 'utf8')).toBe(dataContent);
      const outDir = join(root.dir, `outdir-${randomToken(6)}`);
      expect((await root.hull(['cp', `${id}:/data`, outDir])).code).toBe(0);
      expect(readFileSync(join(outDir, 'sub/g'), 'utf8')).toBe(`g-${dataContent}`);
      // A symlink in the tree is copied as a symlink, its target as text: nothing of the host's is read through it.
      expect(readlinkSync(join(outDir, 'tolink'))).toBe(hostDir);
      // docker: copied out, files belong to whoever ran cp; -a keeps the container's owners.
      expect(statSync(join(outDir, 'owned')).uid).toBe(0);
      const archived = join(root.dir, `a-${randomToken(6)}`);
      expect((await root.hull(['cp', '-a', `${id}:/data/owned`, archived])).code).toBe(0);
      expect(statSync(archived).uid).toBe(1000);

      const content = randomToken(20);
      const src = join(root.dir, `in-${randomToken(6)}`);
      writeFileSync(src, content);
      chownSync(src, 4321, 4321);
      const name = `n${randomToken(6)}`;
      expect(await root.hull(['cp', src, `${id}:/w/${name}`])).toMatchObject({ code: 0, stdout: '', stderr: '' });
      const inUpper = join(upperOf(id), 'w', name);
      expect(readFileSync(inUpper, 'utf8')).toBe(content);
      expect(statSync(inUpper).uid).toBe(0); // docker: the container's root, unless -a
      expect((await root.hull(['cp', '-a', src, `${id}:/w/${name}-a`])).code).toBe(0);
      expect(statSync(`${inUpper}-a`).uid).toBe(4321);
      if (which === 'running') expect((await root.hull(['exec', id, 'cat', `/w/${name}`])).stdout).toBe(content);
      // A directory into an existing directory lands under its own name.
      const dir = join(root.dir, `d${randomToken(6)}`);
      mkdirSync(join(dir, 'deep'), { recursive: true });
      writeFileSync(join(dir, 'deep', 'x'), content);
      expect((await root.hull(['cp', dir, `${id}:/w`])).code).toBe(0);
      expect(readFileSync(join(upperOf(id), 'w', dir.split('/').pop()!, 'deep', 'x'), 'utf8')).toBe(content);
      expect(extraMounts()).toEqual([]);
    });
  }

  it('"-": a tar of the source on stdout, and a tar from stdin extracted into a directory', async () => {
    const r = await hullBytes(root, ['cp', `${running}:/data`, '-']);
    expect(r.code).toBe(0);
    const names = await tarNames(root, r.stdout);
    expect(names).toEqual(expect.arrayContaining(['data/', 'data/f', 'data/sub/', 'data/sub/g', 'data/tolink']));
    const content = randomToken(16);
    const tar = await tarOf([
      { path: 'fromtar', type: 'directory' },
      { path: 'fromtar/x', content, uid: 77, gid: 78 },
    ]);
    const put = await hullBytes(root, ['cp', '-', `${running}:/w`], tar);
    expect(put.code).toBe(0);
    const landed = join(upperOf(running), 'w', 'fromtar', 'x');
    expect(readFileSync(landed, 'utf8')).toBe(content);
    expect(statSync(landed).uid).toBe(77); // a tar's owners stand, as in docker
  });

  for (const link of ['evil', 'evilrel'] as const) {
    it(`copy in through the container's symlink /${link} -> the host's marker directory: lands in the container, the host file is untouched`, async () => {
      const content = randomToken(20);
      const src = join(root.dir, `atk-${randomToken(6)}`);
      writeFileSync(src, content);
      const r = await root.hull(['cp', src, `${running}:/${link}/victim`]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expectUntouched(hostVictim);
      expect(readFileSync(join(upperOf(running), rel, 'victim'), 'utf8')).toBe(content);
    });

    it(`copy out through /${link}: the container's file, never the host's secret`, async () => {
      const out = join(root.dir, `leak-${randomToken(6)}`);
      expect((await root.hull(['cp', `${running}:/${link}/secret`, out])).code).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe(inside);
      expect(readFileSync(out, 'utf8')).not.toBe(hostSecret.content);
    });
  }

  it('a ".." path stops at the container\'s root, both directions', async () => {
    const up = `/../../../../..${hostDir}`;
    const out = join(root.dir, `dd-${randomToken(6)}`);
    expect((await root.hull(['cp', `${running}:${up}/secret`, out])).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(inside);
    const content = randomToken(20);
    const src = join(root.dir, `ddin-${randomToken(6)}`);
    writeFileSync(src, content);
    expect((await root.hull(['cp', src, `${stopped}:${up}/victim`])).code).toBe(0);
    expect(readFileSync(join(upperOf(stopped), rel, 'victim'), 'utf8')).toBe(content);
    expectUntouched(hostVictim);
  });

  it('the symlink itself is copied, not followed; -L follows it inside the container', async () => {
    const out = join(root.dir, `l-${randomToken(6)}`);
    expect((await root.hull(['cp', `${running}:/evil`, out])).code).toBe(0);
    expect(lstatSync(out).isSymbolicLink()).toBe(true);
    expect(readlinkSync(out)).toBe(hostDir);
    const followed = join(root.dir, `lf-${randomToken(6)}`);
    expect((await root.hull(['cp', '-L', `${stopped}:/evil`, followed])).code).toBe(0);
    expect(lstatSync(followed).isDirectory()).toBe(true);
    expect(readFileSync(join(followed, 'secret'), 'utf8')).toBe(inside);
  });

  it('a hostile tar on stdin: a symlink then a write through it stays in the container; a ".." entry is refused, one line', async () => {
    const content = randomToken(20);
    const tar = await tarOf([
      { path: 'hop', type: 'symlink', linkname: hostDir },
      { path: 'hop/victim', content },
    ]);
    const r = await hullBytes(root, ['cp', '-', `${running}:/w`], tar);
    expect(r.code).toBe(0);
    expectUntouched(hostVictim);
    expect(readFileSync(join(upperOf(running), rel, 'victim'), 'utf8')).toBe(content);
    const name = `esc${randomToken(6)}`;
    const dotdot = rawTar([{ path: `../../../../../../..${hostDir}/${name}`, content: Buffer.from(content) }]);
    const bad = await hullBytes(root, ['cp', '-', `${running}:/w`], dotdot);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^hull: .*"\.\." component\n$/);
    expect(existsSync(join(hostDir, name))).toBe(false);
  });

  it('CVE-2018-15664: a container swapping a directory for a host symlink while we copy never gets a byte onto the host', async () => {
    // The container flips /w/race between a real directory and a symlink to the host's marker directory as fast as it can.
    const loop = root.start(['exec', running, 'sh', '-c', `mkdir -p /w/real; i=0; while [ $i -lt 200000 ]; do ln -sfn ${hostDir} /w/race; rm -f /w/race; ln -sfn /w/real /w/race; rm -f /w/race; mkdir -p /w/race; rmdir /w/race; i=$((i+1)); done`]);
    const content = randomToken(20);
    const src = join(root.dir, `race-${randomToken(6)}`);
    writeFileSync(src, content);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await root.hull(['cp', src, `${running}:/w/race/victim`]);
        // Whether it found a directory, a symlink resolved inside the container, or nothing: never the host.
        expect(r.stderr).not.toMatch(/at |Error:/);
        expectUntouched(hostVictim);
        const out = join(root.dir, `raceout-${randomToken(6)}`);
        await root.hull(['cp', `${running}:/w/race/secret`, out]);
        if (existsSync(out)) expect(readFileSync(out, 'utf8')).not.toBe(hostSecret.content);
      }
    } finally {
      loop.kill('SIGTERM'); // hull exec forwards it to the loop in the container
      await new Promise((r) => loop.once('close', r));
    }
    expect(readdirSync(hostDir).sort()).toEqual(['secret', 'victim']);
  }, 120_000);

  it('volumes are part of the view: a named volume read and written through cp, a :ro bind refused with one line', async () => {
    const vol = `v${randomToken(8)}`;
    const roDir = join(root.dir, `ro-${randomToken(6)}`);
    mkdirSync(roDir);
    const name = `vols-${randomToken(6)}`;
    expect((await root.hull(['run', '-d', '--name', name, '-v', `${vol}:/vol`, '-v', `${roDir}:/ro:ro`, image])).code).toBe(0);
    const content = randomToken(20);
    const src = join(root.dir, `vin-${randomToken(6)}`);
    writeFileSync(src, content);
    expect((await root.hull(['cp', src, `${name}:/vol/in`])).code).toBe(0);
    expect(readFileSync(join(root.dir, 'volumes', vol, '_data', 'in'), 'utf8')).toBe(content);
    expect((await root.hull(['exec', name, 'cat', '/vol/in'])).stdout).toBe(content);
    const back = join(root.dir, `vout-${randomToken(6)}`);
    expect((await root.hull(['cp', `${name}:/vol/in`, back])).code).toBe(0);
    expect(readFileSync(back, 'utf8')).toBe(content);
    const ro = await root.hull(['cp', src, `${name}:/ro/x`]);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toMatch(/^hull: archive entry "x": .*EROFS.*\n$/);
    expect(readdirSync(roDir)).toEqual([]);
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    expect((await root.hull(['volume', 'rm', vol])).code).toBe(0);
  });

  it('SRC/. copies the contents, a trailing ".." resolves inside the container, a stdin that is no tar is refused', async () => {
    const out = join(root.dir, `dot-${randomToken(6)}`);
    expect((await root.hull(['cp', `${stopped}:/data/.`, out])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['f', 'owned', 'sub', 'tolink']);
    const content = randomToken(20);
    const src = join(root.dir, `up-${randomToken(6)}`);
    writeFileSync(src, content);
    expect((await root.hull(['cp', src, `${stopped}:/data/sub/..`])).code).toBe(0);
    expect(readFileSync(join(upperOf(stopped), 'data', src.split('/').pop()!), 'utf8')).toBe(content);
    const junk = await hullBytes(root, ['cp', '-', `${stopped}:/w`], Buffer.from(randomToken(100)));
    expect(junk).toMatchObject({ code: 1, stderr: expect.stringMatching(/^hull: the archive is not a valid tar: .*\n$/) });
  });

  it("bad input: docker's words, exit 1 (125 for usage), one line, nothing written", async () => {
    const ghost = `ghost${randomToken(6)}`;
    expect(await root.hull(['cp', `${ghost}:/x`, root.dir])).toMatchObject({ code: 1, stderr: `hull: no such container: ${ghost}\n` });
    const missing = `/nope-${randomToken(6)}`;
    const miss = await root.hull(['cp', `${running}:${missing}`, join(root.dir, 'never')]);
    expect(miss).toMatchObject({ code: 1, stderr: `hull: could not find the file ${missing} in container ${running}\n` });
    expect(existsSync(join(root.dir, 'never'))).toBe(false);
    expect(await root.hull(['cp', '/etc/hostname', join(root.dir, 'x')])).toMatchObject({ code: 125, stderr: 'hull: cp: must specify at least one container source (see hull cp --help)\n' });
    expect((await root.hull(['cp', `${running}:/a`, `${stopped}:/b`])).code).toBe(125);
    const file = join(root.dir, `file-${randomToken(6)}`);
    writeFileSync(file, 'x');
    const dirToFile = await root.hull(['cp', `${running}:/data`, file]);
    expect(dirToFile).toMatchObject({ code: 1, stderr: `hull: cp: cannot copy a directory to a file: ${file}\n` });
    expect(readFileSync(file, 'utf8')).toBe('x');
    const noSrc = await root.hull(['cp', join(root.dir, 'no-such-file'), `${running}:/w`]);
    expect(noSrc).toMatchObject({ code: 1, stderr: `hull: cp: ${join(root.dir, 'no-such-file')}: no such file or directory\n` });
    const noParent = await root.hull(['cp', file, `${running}:/nope-${randomToken(4)}/x`]);
    expect(noParent.code).toBe(1);
    expect(noParent.stderr).toMatch(/^hull: could not find the file \/nope-\w+ in container \w+\n$/);
    expect(extraMounts()).toEqual([]);
  });
});
