// Root-remapped containers, run as root: `--userns` maps container 0..65535
// to host 100000..165535 (or what --uid-map/--gid-map say), and the rootfs is
// seen through an idmapped mount.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idmapDirs, idmapMounts, ownMounts } from './host.js';
import {
  busyboxRootfs,
  descendants,
  hostSnapshot,
  leftovers,
  randomExitCode,
  randomHostname,
  randomToken,
  requireRoot,
  run,
  runStep,
  startStep,
  waitFor,
  collect,
  stepCommand,
  printedSpec,
  type HostSnapshot,
} from '@hull/testkit';
import type { RuntimeSpec } from '@hull/sys';

const STEP = '05-userns';

/** The host's view of a process: its uid and gid lines (real, effective, saved, fs). */
function ids(pid: number): { uid: string[]; gid: string[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => /^(\w+):\s+(.*)$/m.exec(status.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '')?.[2]!.split(/\s+/) ?? [];
  return { uid: field('Uid'), gid: field('Gid') };
}

describe.skipIf(!requireRoot(STEP))('05-userns: root-remapped containers (--userns)', () => {
  let before: HostSnapshot;
  let tmp: string;
  let rootfs: string;
  let volume: string;
  let secret: string;
  let secretText: string;
  let idmapDirsBefore: string[];

  beforeAll(() => {
    before = hostSnapshot();
    idmapDirsBefore = idmapDirs();
    tmp = mkdtempSync(join(tmpdir(), 'hull-userns-test-'));
    // The init stage binds volumes as the container's root (host uid 100000): it must be able to walk to them.
    chmodSync(tmp, 0o755);
    rootfs = busyboxRootfs(join(tmp, 'rootfs'));
    mkdirSync(join(rootfs, 'mnt'));
    writeFileSync(join(rootfs, 'secret'), '');
    // A volume the container's root may write to: its owner on the host will tell who wrote.
    volume = join(tmp, 'volume');
    mkdirSync(volume);
    chmodSync(volume, 0o1777);
    // A root-only host file: host root may read it; the container's root must not.
    secret = join(tmp, 'secret');
    secretText = randomToken(16);
    writeFileSync(secret, secretText, { mode: 0o600 });
  });

  afterAll(() => {
    // The one leftover check, scoped to what this file made (other suites run meanwhile).
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
    expect(ownMounts(tmp)).toEqual([]);
    expect(idmapMounts()).toEqual([]);
    expect(idmapDirs().filter((d) => !idmapDirsBefore.includes(d))).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs what --print-spec prints: /proc/self/uid_map and gid_map are the spec maps, the hostname is spec.hostname, and the volume is there', async () => {
    const uidHost = randomInt(4, 60) * 65536;
    const gidHost = randomInt(4, 60) * 65536;
    const maps = { flags: ['--uid-map', `0:${uidHost}:65536`, '--gid-map', `0:${gidHost}:65536`] };
    const token = randomToken(16);
    writeFileSync(join(volume, `token-${token}`), token, { mode: 0o644 });
    const args = ['--rootfs', rootfs, '--hostname', randomHostname(), ...maps.flags, '--volume', `${volume}:/mnt`, '--', 'sh', '-c', `hostname; cat /proc/self/uid_map /proc/self/gid_map /mnt/token-${token}`];
    const spec = await printedSpec<RuntimeSpec>(STEP, args);
    const r = await runStep(STEP, args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [hostname, uidMap, gidMap, seen] = r.stdout.trim().split('\n');
    expect(hostname).toBe(spec.hostname);
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: uidHost, size: 65536 }]);
    const line = (m: { containerID: number; hostID: number; size: number }) => [m.containerID, m.hostID, m.size].map(String);
    expect(uidMap!.trim().split(/\s+/)).toEqual(line(spec.linux!.uidMappings![0]!));
    expect(gidMap!.trim().split(/\s+/)).toEqual(line(spec.linux!.gidMappings![0]!));
    expect(seen).toBe(token);
  });

  it('is root inside, with the default map 0 -> 100000 x 65536 in /proc/self/uid_map and gid_map', async () => {
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['0', '0']);
    expect(lines.slice(2).map((l) => l.trim().split(/\s+/))).toEqual([
      ['0', '100000', '65536'],
      ['0', '100000', '65536'],
    ]);
  });

  it('writes a file in a volume as host uid 100000', async () => {
    const name = `f-${randomToken()}`;
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--volume', `${volume}:/mnt`, '--', 'sh', '-c', `touch /mnt/${name}; stat -c '%u %g' /mnt/${name}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('0 0');
    const st = statSync(join(volume, name));
    expect([st.uid, st.gid]).toEqual([100000, 100000]);
  });

  it('takes --uid-map and --gid-map: files written show the chosen host ids', async () => {
    const uidBase = 200000 + randomInt(0, 100) * 65536;
    const gidBase = 200000 + randomInt(0, 100) * 65536;
    const name = `f-${randomToken()}`;
    const r = await runStep(STEP, [
      '--rootfs', rootfs,
      '--uid-map', `0:${uidBase}:1000`,
      '--uid-map', `1000:${uidBase + 5000}:10`,
      '--gid-map', `0:${gidBase}:65536`,
      '--volume', `${volume}:/mnt`,
      '--', 'sh', '-c', `cat /proc/self/uid_map; touch /mnt/${name} /mnt/${name}-1000; chown 1000 /mnt/${name}-1000`,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 2).map((l) => l.trim().split(/\s+/))).toEqual([
      ['0', String(uidBase), '1000'],
      ['1000', String(uidBase + 5000), '10'],
    ]);
    const st = statSync(join(volume, name));
    expect([st.uid, st.gid]).toEqual([uidBase, gidBase]);
    expect(statSync(join(volume, `${name}-1000`)).uid).toBe(uidBase + 5000);
  });

  it("cannot read a root-only host file: host root is not mapped, so it is nobody's", async () => {
    const inside = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--volume', `${secret}:/secret`, '--', 'sh', '-c', 'stat -c "%u %g %a" /secret; cat /secret']);
    expect(inside.stdout.trim()).toBe('65534 65534 600');
    expect(inside.stdout).not.toContain(secretText);
    expect(inside.stderr).toMatch(/cat: can't open '\/secret': Permission denied/);
    expect(inside.code).toBe(1);
    // The same run without a user namespace is real root, and reads it: the map is what stops it.
    const real = await runStep(STEP, ['--rootfs', rootfs, '--volume', `${secret}:/secret`, '--', 'cat', '/secret']);
    expect(real.stdout).toBe(secretText);
  });

  it('sees the rootfs owners through the idmapped mount: root owns /bin, uid 1000 keeps /home/user; nothing is chowned on disk', async () => {
    const hostname = randomHostname();
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--hostname', hostname, '--', 'sh', '-c', 'stat -c "%n %u %g" /bin /bin/busybox /home/user; hostname; echo $$; touch /tmp/t /root/r && echo writable']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['/bin 0 0', '/bin/busybox 0 0', '/home/user 1000 1000', hostname, '1', 'writable']);
    expect(hostSnapshot().hostname).toBe(before.hostname);
    for (const [path, owner] of [
      ['bin', 0],
      ['home/user', 1000],
    ] as const) {
      const st = statSync(join(rootfs, path));
      expect([st.uid, st.gid]).toEqual([owner, owner]);
    }
    // Written through the idmapped mount by container root: on disk that is root again.
    expect(statSync(join(rootfs, 'root/r')).uid).toBe(0);
    rmSync(join(rootfs, 'root/r'));
  });

  it('runs as host uid 100000: the host sees the command with Uid/Gid 100000', async () => {
    const token = `${randomInt(100000, 999999)}`;
    const child = startStep(STEP, ['--rootfs', rootfs, '--userns', '--', 'sleep', token]);
    const done = collect(child);
    let pid = 0;
    await waitFor(() => {
      pid = descendants().find((p) => commandLine(p) === `sleep\0${token}\0`) ?? 0;
      return pid > 0;
    }, 60_000, 'the container command');
    expect(ids(pid)).toEqual({ uid: ['100000', '100000', '100000', '100000'], gid: ['100000', '100000', '100000', '100000'] });
    process.kill(pid, 'SIGKILL');
    expect((await done).code).toBe(137);
  });

  it("exits with the command's status", async () => {
    const code = randomExitCode();
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--', 'sh', '-c', `exit ${code}`]);
    expect(r.code).toBe(code);
  });

  it('refuses a rootfs on a filesystem that cannot be idmapped (ramfs) with 125, and removes its directory', async () => {
    const ramfs = join(tmp, 'ramfs');
    mkdirSync(ramfs);
    await run('mount', ['-t', 'ramfs', 'ramfs', ramfs]);
    try {
      await run('cp', ['-a', `${rootfs}/.`, ramfs]);
      const r = await runStep(STEP, ['--rootfs', ramfs, '--userns', '--', 'true']);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^hull: rootfs ${ramfs}: its filesystem cannot be idmapped \\(mount_setattr\\(.*\\): EINVAL`));
      expect(r.code).toBe(125);
      expect(idmapDirs().filter((d) => !idmapDirsBefore.includes(d))).toEqual([]);
    } finally {
      await run('umount', [ramfs]);
    }
  });

  it('refuses a host with user namespaces disabled with exit 125 and one line', async () => {
    // user.max_user_namespaces is per user namespace: setting it to 0 inside
    // one of our own disables them for the step only, not for the host.
    const [cmd, argv] = stepCommand(STEP, ['--rootfs', rootfs, '--userns', '--', 'true']);
    const r = await run('unshare', ['--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', 'sh', cmd, ...argv]);
    expect(r.stderr.trim().split('\n')).toEqual(['hull: user namespaces are disabled on this host (sysctl user.max_user_namespaces = 0)']);
    expect(r.code).toBe(125);
  });
});

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

describe.skipIf(!requireRoot(STEP))('05-userns: bad maps and flags', () => {
  let tmp: string;
  let rootfs: string;
  let idmapDirsBefore: string[];
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'hull-userns-bad-'));
    rootfs = busyboxRootfs(join(tmp, 'rootfs'));
    idmapDirsBefore = idmapDirs();
  });
  afterAll(() => {
    expect(ownMounts(tmp)).toEqual([]);
    expect(idmapMounts()).toEqual([]);
    expect(idmapDirs().filter((d) => !idmapDirsBefore.includes(d))).toEqual([]);
    expect(descendants()).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it.each([
    [['--uid-map', '0:100000'], /--uid-map "0:100000": expected CONTAINER:HOST:COUNT/],
    [['--gid-map', 'x:y:z'], /--gid-map "x:y:z": expected CONTAINER:HOST:COUNT/],
    [['--uid-map', '0:100000:0'], /COUNT must be at least 1/],
    [['--uid-map', '0:4294967290:10'], /host uids 4294967290..4294967299 go past 4294967294/],
    [['--uid-map', '0:100000:100', '--uid-map', '50:300000:10'], /0:100000:100 and 50:300000:10 overlap inside the container/],
    [['--gid-map', '0:100000:100', '--gid-map', '100:100050:10'], /0:100000:100 and 100:100050:10 overlap on the host/],
    [['--uid-map', '1:100000:100'], /container uid 0 is not mapped/],
    [['--volume', 'relative:/mnt'], /--volume "relative:\/mnt": expected \/HOST\/PATH:\/CONTAINER\/PATH/],
  ])('%j exits 2 with one line and leaves nothing behind', async (flags, message) => {
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', ...(flags as string[]), '--', 'true']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hull: /);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('refuses a volume whose destination is missing in the rootfs with 125', async () => {
    const r = await runStep(STEP, ['--rootfs', rootfs, '--userns', '--volume', `${tmp}:/no-such-dir`, '--', 'true']);
    expect(r.stderr.trim().split('\n')).toEqual([`hull: volume ${tmp}:/no-such-dir: /no-such-dir must exist in the rootfs as a directory (symlinks are not followed)`]);
    expect(r.code).toBe(125);
  });
});
