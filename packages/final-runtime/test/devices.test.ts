// Device nodes, from the outside, through the real `hull run`. The "host's
// disk" is a loop device this test makes over a temp file holding a random
// marker (never a node of a real disk). Each layer is proven on its own:
//   - nodev on the rootfs: an image's node is refused with EACCES even with
//     --privileged, which has no device allow list at all;
//   - the eBPF device program: with HULL_DEVICE_CONTROL=program (the v1
//     devices cgroup ignored, as on a pure v2 host), a node made with mknod
//     on /dev (a tmpfs without nodev) or found in a volume is refused with
//     EPERM, while /dev/null, zero, urandom, tty and ptmx keep working;
//   - the same runs with --privileged read the marker, so each assertion
//     can fail when its protection is missing;
//   - a kernel that refuses the program (bpf(2) denied by seccomp) is a
//     refusal to run: one line, exit 125, nothing left behind.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, requireRoot, run, waitFor } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';

const DENY_BPF = fileURLToPath(new URL('./fixtures/deny-bpf.mjs', import.meta.url));
const PROGRAM_ONLY = { HULL_DEVICE_CONTROL: 'program' };

describe.skipIf(!requireRoot('final-runtime device nodes'))('hull run: device nodes from images, mknod and volumes', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const dir = mkdtempSync(join(tmpdir(), 'hull-devices-'));
  const marker = `marker-${randomBytes(16).toString('hex')}`;
  let loop = '';
  let major = 0;
  let minor = 0;
  let image = '';

  beforeAll(async () => {
    requireBuild();
    const backing = join(dir, 'disk.img');
    writeFileSync(backing, Buffer.concat([Buffer.from(`${marker}\n`), Buffer.alloc(1 << 20)]));
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
    const rdev = BigInt(statSync(loop).rdev);
    major = Number((rdev >> 8n) & 0xfffn);
    minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xfff00n));
    // The node of "the host's disk" in the image: on its rootfs, and in its /dev (which hull covers with its own tmpfs).
    const node = (path: string) => ({ path, type: 'block-device' as const, devmajor: major, devminor: minor, mode: 0o666 });
    image = await pushBusybox({ Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] }, [{ entries: [node('disk'), { path: 'dev', type: 'directory', mode: 0o755 }, node('dev/disk')] }]);
    // A volume holding the same node, made on the host.
    execFileSync('mkdir', ['-p', join(dir, 'vol')]);
    execFileSync('mknod', [join(dir, 'vol', 'disk'), 'b', String(major), String(minor)]);
  });

  afterAll(() => {
    if (loop) execFileSync('losetup', ['-d', loop]);
    rmSync(dir, { recursive: true, force: true });
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  /** Read the node at `path` inside; prints the first line or the shell's error. */
  const readNode = (path: string) => `head -n1 ${path} 2>&1; echo rc=$?`;

  it('the loop device really holds the marker (the test can see a successful read)', () => {
    expect(execFileSync('head', ['-n1', loop], { encoding: 'utf8' }).trim()).toBe(marker);
  });

  it("an image's node is refused by nodev (EACCES) on overlay, the copy driver and --read-only, and even with --privileged", async () => {
    for (const [label, args, env] of [
      ['default', [], {}],
      ['copy driver', [], { HULL_STORAGE_DRIVER: 'copy' }],
      ['--read-only', ['--read-only'], {}],
      // --privileged has neither the v1 devices cgroup nor the program: nodev alone stands.
      ['--privileged', ['--privileged'], {}],
    ] as const) {
      const r = await root.hull(['run', '--rm', ...args, image, 'sh', '-c', readNode('/disk')], { env });
      expect(r.code, `${label}: ${r.stderr}`).toBe(0);
      expect(r.stdout, label).toContain('Permission denied');
      expect(r.stdout, label).toContain('rc=1');
      expect(r.stdout, label).not.toContain(marker);
    }
  });

  it("the image's /dev is hull's own tmpfs: its node is not there, and /dev still has its devices", async () => {
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', 'ls /dev; test -e /dev/disk && echo disk=present || echo disk=absent']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('disk=absent');
    for (const name of ['null', 'zero', 'urandom', 'tty', 'pts', 'shm', 'ptmx']) expect(r.stdout).toMatch(new RegExp(`^${name}$`, 'm'));
  });

  it('the eBPF program alone refuses a node made with mknod on /dev (no nodev there): EPERM, no marker', async () => {
    const script = [
      `mknod /dev/disk b ${major} ${minor} && echo mknod=ok`,
      readNode('/dev/disk'),
      'grep -E "^0::|devices" /proc/self/cgroup',
    ].join('; ');
    const r = await root.hull(['run', '--rm', '--cap-add', 'MKNOD', image, 'sh', '-c', script], { env: PROGRAM_ONLY });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('mknod=ok'); // "b *:* m": making a node is allowed, opening it is not
    expect(r.stdout).toContain('Operation not permitted');
    expect(r.stdout).not.toContain(marker);
    // Only the program guards it: no v1 devices cgroup, and the container sits in its unified-tree cgroup.
    expect(r.stdout).toMatch(/^0::\/hull\/[0-9a-f]{64}$/m);
    expect(r.stdout).not.toMatch(/devices:\/hull/);
    // The control: without the program (--privileged) the same steps read the disk.
    const open = await root.hull(['run', '--rm', '--privileged', image, 'sh', '-c', script], { env: PROGRAM_ONLY });
    expect(open.stdout).toContain(marker);
  });

  it('the eBPF program alone refuses a node in a volume (-v keeps working for files)', async () => {
    const file = `f-${randomBytes(6).toString('hex')}`;
    const script = `echo ${marker.slice(0, 10)} > /data/${file} && cat /data/${file}; ${readNode('/data/disk')}`;
    const r = await root.hull(['run', '--rm', '-v', `${join(dir, 'vol')}:/data`, image, 'sh', '-c', script], { env: PROGRAM_ONLY });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(marker.slice(0, 10));
    expect(r.stdout).toContain('Operation not permitted');
    expect(r.stdout).not.toContain(marker);
    rmSync(join(dir, 'vol', file));
    const open = await root.hull(['run', '--rm', '--privileged', '-v', `${join(dir, 'vol')}:/data`, image, 'sh', '-c', readNode('/data/disk')], { env: PROGRAM_ONLY });
    expect(open.stdout).toContain(marker);
  });

  it('under the program, the devices every container needs still work', async () => {
    const script = [
      'echo x > /dev/null && echo null=ok',
      'head -c 4 /dev/zero | wc -c',
      'head -c 4 /dev/urandom | wc -c',
      '(echo x > /dev/full) 2>&1; echo full=$?',
      // No controlling terminal without -t: ENXIO from the tty driver, not EPERM from the program.
      '(: < /dev/tty) 2>&1',
      '(exec 3<>/dev/ptmx) && echo ptmx=ok',
    ].join('; ');
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', script], { env: PROGRAM_ONLY });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('null=ok');
    expect(r.stdout).toMatch(/^4\n4$/m);
    expect(r.stdout).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/No such device or address/);
    expect(r.stdout).toContain('ptmx=ok');
    expect(r.stdout).not.toContain('Operation not permitted');
    // and with a pty (-t), /dev/tty and the pty itself (a c 136:N node, reopened through /proc) open.
    const t = await root.hull(['run', '--rm', '-t', image, 'sh', '-c', '(: < /dev/tty) && echo tty=ok; (: < /proc/self/fd/0) && echo pts=ok; stat -L -c %t /proc/self/fd/0'], { env: PROGRAM_ONLY });
    expect(t.stdout).toContain('tty=ok');
    expect(t.stdout).toContain('pts=ok');
    expect(t.stdout).toMatch(/^88\r?$/m); // major 136 = 0x88
  });

  it('hull exec runs under the same program: it joins the unified-tree cgroup, and its open is refused', async () => {
    const name = `dev-${randomBytes(4).toString('hex')}`;
    const d = await root.hull(['run', '-d', '--name', name, '--cap-add', 'MKNOD', image, 'sleep', '300'], { env: PROGRAM_ONLY });
    expect(d.code, d.stderr).toBe(0);
    const id = d.stdout.trim();
    try {
      const script = `grep "^0::" /proc/self/cgroup; mknod /dev/disk2 b ${major} ${minor}; ${readNode('/dev/disk2')}`;
      const r = await root.hull(['exec', name, 'sh', '-c', script], { env: PROGRAM_ONLY });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`0::/hull/${id}`);
      expect(r.stdout).toContain('Operation not permitted');
      expect(r.stdout).not.toContain(marker);
    } finally {
      await root.hull(['rm', '-f', name]);
    }
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
  });

  it('when the kernel refuses the program, hull refuses to run: one line, exit 125, nothing left behind', async () => {
    // The same hull, under a seccomp filter that makes bpf(2) fail with EPERM.
    const r = await run('node', [DENY_BPF, 'node', BIN, 'run', '--rm', image, 'echo', 'ran'], {
      env: { ...process.env, HULL_ROOT: root.dir, HULL_BRIDGE: root.bridge, HULL_SUBNET: root.subnet },
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(125);
    expect(r.stdout).not.toContain('ran');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hull: cgroup hull\/[0-9a-f]{64}: cannot attach the device program, and hull does not run without a device allow list: bpf\("BPF_PROG_LOAD", .*\): EPERM/);
    expect(root.mounts()).toEqual([]);
    expect(leftovers(before)).toEqual({});
    expect(root.containers()).toEqual([]);
  });
});
