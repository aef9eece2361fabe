// Rootless: an unprivileged user runs the step, no sudo. The test (as root)
// creates that user, gives it a rootfs it owns, and runs the step through
// setpriv, exactly as the user would type it.
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownMounts } from './host.js';
import {
  busyboxRootfs,
  collect,
  descendants,
  hostSnapshot,
  leftovers,
  randomHostname,
  randomToken,
  requireRoot,
  run,
  start,
  stepCommand,
  waitFor,
  withPasswdLockRetry,
  type HostSnapshot,
  type RunOptions,
} from '@hull/testkit';

const STEP = '05-userns';

function statusIds(pid: number, field: 'Uid' | 'Gid'): string[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))!;
  return line.split(/\s+/).slice(1);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

describe.skipIf(!requireRoot(STEP))('05-userns: rootless (an unprivileged user, no sudo)', () => {
  const name = `hull-u${randomToken(6)}`;
  const home = `/home/${name}`;
  let uid: number;
  let gid: number;
  let rootfs: string;
  let marker: string;
  let before: HostSnapshot;
  // A subordinate range of our own, aligned like useradd's, far from the defaults.
  const subBase = 1_000_000 + randomInt(0, 4000) * 65536;

  function asUser(args: string[]): [string, string[], RunOptions] {
    const [cmd, argv] = stepCommand(STEP, args);
    return [
      'setpriv',
      ['--reuid', String(uid), '--regid', String(gid), '--init-groups', cmd, ...argv],
      { env: { HOME: home, USER: name, LOGNAME: name, npm_config_cache: join(home, '.npm'), TMPDIR: '/tmp' } },
    ];
  }
  const runAsUser = (args: string[]) => run(...asUser(args));

  beforeAll(() => {
    before = hostSnapshot();
    // SUB_*_COUNT=0: no automatic /etc/subuid range; the test adds its own later.
    withPasswdLockRetry('useradd', ['--create-home', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '--shell', '/bin/sh', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
    rootfs = busyboxRootfs(join(home, 'rootfs'));
    marker = `only-in-this-rootfs-${randomToken()}`;
    writeFileSync(join(rootfs, marker), '');
    execFileSync('chown', ['-R', '-h', `${uid}:${gid}`, rootfs]);
  }, 120_000);

  afterAll(() => {
    // userdel removes the user's /etc/subuid and /etc/subgid lines too.
    withPasswdLockRetry('userdel', ['--remove', name]);
    for (const file of ['/etc/passwd', '/etc/subuid', '/etc/subgid']) {
      expect(readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${name}:`))).toEqual([]);
    }
    // The one leftover check, scoped to what this file made (other suites run meanwhile).
    expect(leftovers(before)).toEqual({});
    expect(ownMounts(home)).toEqual([]);
    expect(descendants()).toEqual([]);
  });

  it('is root inside with only its own uid mapped, setgroups denied, its own hostname, PID 1 and rootfs', async () => {
    const hostname = randomHostname();
    const r = await runAsUser([
      '--rootfs', rootfs, '--hostname', hostname,
      '--', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; echo $$; ls /',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['0', '0']);
    expect(lines.slice(2, 4).map((l) => l.trim().split(/\s+/))).toEqual([
      ['0', String(uid), '1'],
      ['0', String(gid), '1'],
    ]);
    expect(lines.slice(4, 7)).toEqual(['deny', hostname, '1']);
    expect(lines.slice(7)).toContain(marker);
    expect(lines.slice(7)).not.toContain('work');
    expect(hostSnapshot().hostname).toBe(before.hostname);
  });

  it('runs every process as the user on the host, in a user namespace of its own', async () => {
    const token = `${randomInt(100000, 999999)}`;
    const [cmd, argv, opts] = asUser(['--rootfs', rootfs, '--', 'sleep', token]);
    const child = start(cmd, argv, opts);
    const done = collect(child);
    let pid = 0;
    await waitFor(() => {
      pid = descendants().find((p) => commandLine(p) === `sleep\0${token}\0`) ?? 0;
      return pid > 0;
    }, 60_000, 'the container command');
    expect(statusIds(pid, 'Uid')).toEqual([uid, uid, uid, uid].map(String));
    expect(statusIds(pid, 'Gid')).toEqual([gid, gid, gid, gid].map(String));
    expect(readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(readlinkSync('/proc/self/ns/user'));
    // Everything under setpriv: npx, the step, the init stage that became sleep.
    for (const p of descendants(child.pid!)) {
      if (commandLine(p)) expect(statusIds(p, 'Uid')[1]).toBe(String(uid));
    }
    process.kill(pid, 'SIGKILL');
    expect((await done).code).toBe(137);
  });

  it('has its own /proc and working /dev nodes (bound from the host: mknod is refused in a user namespace)', async () => {
    const r = await runAsUser(['--rootfs', rootfs, '--', 'sh', '-c', 'ls /proc | grep -c "^[0-9]"; echo x > /dev/null && head -c 5 /dev/zero | wc -c; mknod /tmp/n c 1 3']);
    const lines = r.stdout.trim().split('\n');
    // sh, ls, grep and maybe a zombie: a /proc of its own PID namespace, and mounted (not an empty directory).
    expect(Number(lines[0])).toBeGreaterThanOrEqual(2);
    expect(Number(lines[0])).toBeLessThanOrEqual(4);
    expect(lines[1]).toBe('5');
    expect(r.stderr).toMatch(/mknod: \/tmp\/n: Operation not permitted/);
  });

  it('with /etc/subuid and /etc/subgid ranges, maps them from 1 up through newuidmap/newgidmap, as podman does', async () => {
    const last = subBase + 65535;
    withPasswdLockRetry('usermod', ['--add-subuids', `${subBase}-${last}`, '--add-subgids', `${subBase}-${last}`, name]);
    // A file of uid 1000 in the image, as a rootless image unpacker would leave it: host uid subBase+999.
    execFileSync('chown', [`${subBase + 999}:${subBase + 999}`, join(rootfs, 'home/user')]);
    const r = await runAsUser(['--rootfs', rootfs, '--', 'sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; stat -c "%u %g" /home/user /bin']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual([
      `0 ${uid} 1`,
      `1 ${subBase} 65536`,
      `0 ${gid} 1`,
      `1 ${subBase} 65536`,
      '1000 1000',
      '0 0',
    ]);
  });

  it.each([
    (u: number, base: number) => [`0:${u}:1`, `1:${base + 65536}:10`],
    (_u: number, _base: number) => ['0:0:1'],
    (u: number, base: number) => [`0:${u}:1`, `1:${base}:65537`],
  ])('refuses host ids it does not own with exit 2 and one line (%#)', async (maps) => {
    const r = await runAsUser(['--rootfs', rootfs, ...maps(uid, subBase).flatMap((m) => ['--uid-map', m]), '--', 'true']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^hull: --uid-map \\S+: host uids? \\S+ (is|are) not yours to map \\(you are uid ${uid}; your /etc/subuid ranges for ${name}: ${subBase}\\.\\.${subBase + 65535}\\)`));
  });
});
