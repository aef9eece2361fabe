// --userns remap through chapter 05: root inside is host uid 100000; the
// image's layers look like its own through idmapped lower dirs, are never
// chowned, and its writes land in the upper dir as 100000. exec joins the
// user namespace too.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

function hostUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe.skipIf(!requireRoot('final-runtime userns'))('hull run --userns remap', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    await root.hull(['pull', image]);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('refuses a store the mapped root cannot walk through, with the fix', async () => {
    const r = await root.hull(['run', '--rm', '--userns', 'remap', image, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`^hull: --userns remap: the container's root \\(host uid 100000\\) cannot reach .*: ${root.dir} is mode 700 \\(chmod o\\+x ${root.dir}\\)\\n$`));
    expect(root.containers()).toEqual([]);
  });

  it('root inside is 100000 outside; image files are root-owned inside, untouched on disk; writes land as 100000', async () => {
    chmodSync(root.dir, 0o711);
    const name = `u-${randomToken(6)}`;
    const marker = randomToken(10);
    const id = (await root.hull(['run', '-d', '--name', name, '--userns', 'remap', image])).stdout.trim();
    const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { State: { Pid: number }; GraphDriver: { Data: { UpperDir: string; LowerDir: string } } }[];
    expect(hostUid(info!.State.Pid)).toBe(100000);
    const inside = await root.hull(['exec', name, 'sh', '-c', `id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; echo ${marker} > /bin/new && echo wrote`]);
    expect(inside.code).toBe(0);
    const [uid, map, owner, wrote] = inside.stdout.trim().split('\n');
    expect(uid).toBe('0');
    expect(map!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(owner).toBe('0');
    expect(wrote).toBe('wrote');
    expect(statSync(join(info!.GraphDriver.Data.UpperDir, 'bin', 'new')).uid).toBe(100000);
    for (const layer of info!.GraphDriver.Data.LowerDir.split(':')) expect(statSync(layer).uid).toBe(0);
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    expect(root.containers()).not.toContain(id);
  });

  it('a foreground remap run: exit code, hostname, /proc, and nothing left', async () => {
    const r = await root.hull(['run', '--rm', '--userns', 'remap', '--hostname', 'mapped', image, 'sh', '-c', 'hostname; echo $$; exit 7']);
    expect(r.stdout).toBe('mapped\n1\n');
    expect(r.code).toBe(7);
    expect(root.mounts()).toEqual([]);
  });
});
