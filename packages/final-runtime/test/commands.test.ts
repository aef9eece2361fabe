// top, port, rename, diff and export through the real CLI: what each shows is
// checked against the host (/proc, the upper dir, tar -t), with random names,
// contents and ports, and every error is one line with docker's exit code.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, randomToken, requireRoot, run, settledLeftovers } from '@hull/testkit';
import { BIN, HullRoot, loadBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime commands'))('hull top / port / rename / diff / export', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const image = `localhost/cmds-${randomToken(6)}:t`;
  const keep = randomToken(12);
  let running = '';
  let runningName = '';

  beforeAll(async () => {
    requireBuild();
    await loadBusybox(root, image, { Cmd: ['sleep', '600'] }, [
      { path: 'data', type: 'directory' },
      { path: 'data/f', content: 'f' },
      { path: 'data/g', content: 'g' },
      { path: 'data/keep', content: keep },
      { path: 'data/sub', type: 'directory' },
      { path: 'data/sub/old', content: 'old' },
    ]);
    runningName = `top-${randomToken(6)}`;
    // PID 1 and a child of it: top must show both, and nothing of the host.
    const r = await root.hull(['run', '-d', '--name', runningName, image, 'sh', '-c', 'sleep 601 & exec sleep 600']);
    expect(r.code).toBe(0);
    running = r.stdout.trim();
  });

  afterAll(async () => {
    for (const id of root.containers()) await root.hull(['rm', '-f', id]);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    // The supervisor leaves, and a killed init is reaped, a moment after the last container goes.
    expect(await settledLeftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('top: ps -ef of the container\'s processes only, host pids, docker\'s columns; ps options pass through', async () => {
    const r = await root.hull(['top', runningName]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(header).toMatch(/^UID {17}PID {17}/); // docker's tabwriter: 20 wide
    expect(rows.map((l) => l.split(/\s+/).slice(7).join(' ')).sort()).toEqual(['sleep 600', 'sleep 601']);
    for (const row of rows) {
      const pid = row.split(/\s+/)[1]!;
      expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(running);
    }
    expect(rows.some((l) => l.split(/\s+/)[1] === String(process.pid))).toBe(false);
    const custom = await root.hull(['top', running.slice(0, 12), '-o', 'pid,comm']);
    expect(custom.code).toBe(0);
    expect(custom.stdout.split('\n')[0]!.split(/\s+/).filter(Boolean)).toEqual(['PID', 'COMMAND']);
    expect(custom.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[1])).toEqual(['sleep', 'sleep']);
    expect(await root.hull(['top', runningName, '-o', 'comm'])).toMatchObject({ code: 1, stdout: '' });
  });

  it('top of a stopped container, of no container: one line, exit 1', async () => {
    const name = `done-${randomToken(6)}`;
    expect((await root.hull(['run', '--name', name, image, 'true'])).code).toBe(0);
    expect(await root.hull(['top', name])).toMatchObject({ code: 1, stdout: '', stderr: `hull: container ${name} is not running\n` });
    const ghost = `ghost${randomToken(6)}`;
    expect(await root.hull(['top', ghost])).toMatchObject({ code: 1, stderr: `hull: no such container: ${ghost}\n` });
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('port: every -p mapping, one by private port, and docker\'s error for one that is not published', async () => {
    const name = `port-${randomToken(6)}`;
    const tcp = 20000 + Math.floor(Math.random() * 20000);
    const udp = tcp + 1;
    const r = await root.hull(['run', '--name', name, '--network', 'bridge', '-p', `${tcp}:80`, '-p', `127.0.0.1:${udp}:53/udp`, image, 'true']);
    expect(r.code).toBe(0);
    expect(await root.hull(['port', name])).toMatchObject({ code: 0, stdout: `80/tcp -> 0.0.0.0:${tcp}\n53/udp -> 127.0.0.1:${udp}\n` });
    expect(await root.hull(['port', name, '80'])).toMatchObject({ code: 0, stdout: `0.0.0.0:${tcp}\n` });
    expect(await root.hull(['port', name, '53/udp'])).toMatchObject({ code: 0, stdout: `127.0.0.1:${udp}\n` });
    expect(await root.hull(['port', name, '53'])).toMatchObject({ code: 1, stdout: '', stderr: `hull: no public port '53/tcp' published for ${name}\n` });
    expect((await root.hull(['port', name, 'x80'])).code).toBe(125);
    expect(await root.hull(['port', runningName])).toMatchObject({ code: 0, stdout: '' });
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('rename: the new name finds it everywhere, the old one nowhere; a taken, a bad or the same name is refused', async () => {
    const other = `other-${randomToken(6)}`;
    expect((await root.hull(['run', '--name', other, image, 'true'])).code).toBe(0);
    const fresh = `renamed-${randomToken(6)}`;
    expect(await root.hull(['rename', runningName, fresh])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const inspect = JSON.parse((await root.hull(['inspect', fresh])).stdout) as { Id: string; Name: string }[];
    expect(inspect[0]).toMatchObject({ Id: running, Name: `/${fresh}` });
    expect((await root.hull(['ps'])).stdout).toMatch(new RegExp(`\\s${fresh}\\n`));
    expect(await root.hull(['inspect', runningName])).toMatchObject({ code: 1 });
    expect((await root.hull(['exec', fresh, 'true'])).code).toBe(0); // it is still the same running container
    expect(await root.hull(['rename', fresh, other])).toMatchObject({
      code: 1,
      stderr: `hull: the container name "${other}" is already in use by container ${root.containers().find((id) => id !== running)!.slice(0, 12)}: remove it or pick another name\n`,
    });
    expect(await root.hull(['rename', fresh, 'bad/name'])).toMatchObject({ code: 1, stderr: 'hull: invalid container name "bad/name": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n' });
    expect(await root.hull(['rename', fresh, fresh])).toMatchObject({ code: 1, stderr: 'hull: renaming a container with the same name as its current name\n' });
    expect((await root.hull(['rename', fresh])).code).toBe(125);
    expect((await root.hull(['rename', fresh, runningName])).code).toBe(0);
    expect((await root.hull(['rm', other])).code).toBe(0);
  });

  it('diff: A, C and D from the upper dir, an opaque directory\'s lost files as D; running and stopped alike', async () => {
    const name = `diff-${randomToken(6)}`;
    const added = `n${randomToken(6)}`;
    const script = `echo x > /data/${added}; rm /data/f; echo more >> /data/g; rm -rf /data/sub; mkdir /data/sub; echo z > /data/sub/new; mkdir -p /made/deep`;
    expect((await root.hull(['run', '--name', name, image, 'sh', '-c', script])).code).toBe(0);
    const expected = ['C /data', `A /data/${added}`, 'D /data/f', 'C /data/g', 'C /data/sub', 'A /data/sub/new', 'D /data/sub/old', 'A /made', 'A /made/deep'].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)); // docker's order: by path
    const r = await root.hull(['diff', name]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
    // Running: the same, live.
    expect((await root.hull(['exec', runningName, 'rm', '/data/keep'])).code).toBe(0);
    expect((await root.hull(['diff', runningName])).stdout).toBe('C /data\nD /data/keep\n');
    expect((await root.hull(['diff', `ghost${randomToken(4)}`])).code).toBe(1);
    expect((await root.hull(['rm', name])).code).toBe(0);
  });

  it('export: the merged filesystem as a tar (its changes in, deleted files out, no volumes), to -o FILE or stdout', async () => {
    const name = `exp-${randomToken(6)}`;
    const content = randomToken(16);
    const vol = `v${randomToken(8)}`;
    expect((await root.hull(['run', '--name', name, '-v', `${vol}:/vol`, image, 'sh', '-c', `echo ${content} > /data/new; echo in-volume > /vol/v; rm /data/f`])).code).toBe(0);
    const file = join(root.dir, `export-${randomToken(6)}.tar`);
    expect(await root.hull(['export', '-o', file, name])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const list = await run('tar', ['-tf', file]);
    const names = list.stdout.split('\n');
    expect(names).toEqual(expect.arrayContaining(['bin/busybox', 'data/', 'data/new', 'data/g', 'vol/']));
    expect(names).not.toContain('data/f');
    expect(names).not.toContain('vol/v');
    expect((await run('tar', ['-xOf', file, 'data/new'])).stdout).toBe(`${content}\n`);
    expect((await run('sh', ['-c', `node ${BIN} export ${name} | tar -tf - | grep -c ^data/new$`], { env: { HULL_ROOT: root.dir } })).stdout).toBe('1\n');
    // A failed export leaves no file: nothing half-written under the name asked for.
    const nowhere = join(root.dir, `missing-${randomToken(6)}`, 'x.tar');
    const bad = await root.hull(['export', '-o', nowhere, name]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(root.dir, 'missing'))).toBe(false);
    expect(readdirSync(root.dir).filter((n) => n.endsWith('.hull-export'))).toEqual([]);
    expect((await root.hull(['rm', name])).code).toBe(0);
    expect((await root.hull(['volume', 'rm', vol])).code).toBe(0);
  });
});
