// The leftover check must be able to see what it claims (../shared/TESTING.md):
// each kind of leak is made on purpose here, with random names the check owns
// (they come from randomToken, or sit in one of this file's temp dirs), and
// the check has to report it; then it is removed by name or pid and the check
// is clean again. A probe that cannot run, or fails, is an error, not
// "nothing found". And what this file does not own is not reported: other
// suites run on this host at the same time.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HULL_PREFIX, hostSnapshot, leftovers, randomToken, repoRoot, requireRoot, waitFor } from '../src/index.ts';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

const parentOf = (pid: number): number => Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

async function killPid(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !alive(pid), 10_000, `pid ${pid} to go`);
}

describe.skipIf(!requireRoot('testkit leftover self-test'))('the leftover check sees each kind of leak', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-testkit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a mount, and a second mount stacked on the same mount point (told apart by mount id)', () => {
    const point = join(dir, `m${randomToken(6)}`);
    mkdirSync(point);
    sh('mount', ['-t', 'tmpfs', 'tmpfs', point]);
    const once = hostSnapshot();
    try {
      sh('mount', ['-t', 'tmpfs', 'tmpfs', point]);
      try {
        // Same mount point, same type, same source: only the mount id differs.
        expect(leftovers(once).mounts).toEqual([expect.stringMatching(new RegExp(`^${point} tmpfs \\(mount id \\d+\\)$`))]);
      } finally {
        sh('umount', [point]);
      }
      expect(leftovers(once)).toEqual({});
    } finally {
      sh('umount', [point]);
    }
  });

  it('a link, a network namespace and an nft table named by this test', () => {
    const name = `${HULL_PREFIX}t${randomToken(5)}`;
    const before = hostSnapshot();
    sh('ip', ['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`]);
    sh('ip', ['netns', 'add', name]);
    sh('nft', ['add', 'table', 'inet', name]);
    try {
      const diff = leftovers(before);
      expect(diff.links).toEqual([`${name}a`, `${name}b`]);
      expect(diff.netns).toEqual([name]);
      expect(diff.nftTables).toEqual([`table inet ${name}`]);
    } finally {
      sh('ip', ['link', 'del', `${name}a`]);
      sh('ip', ['netns', 'del', name]);
      sh('nft', ['delete', 'table', 'inet', name]);
    }
    expect(leftovers(before)).toEqual({});
  });

  it('does not report what another suite names: the same leak under a name this file never drew', () => {
    // Not from randomToken: as another helper's test would name it.
    const foreign = `${HULL_PREFIX}x${randomBytes(3).toString('hex')}`;
    const before = hostSnapshot();
    sh('ip', ['link', 'add', foreign, 'type', 'bridge']);
    try {
      expect(hostSnapshot().links).toContain(foreign);
      expect(leftovers(before)).toEqual({});
    } finally {
      sh('ip', ['link', 'del', foreign]);
    }
  });

  it('a route on a link of ours, and one with no link at all in a table of its own', () => {
    const name = `${HULL_PREFIX}r${randomToken(5)}`;
    // TEST-NET-2 (RFC 5737) in a routing table no rule looks up: no traffic can take these routes.
    const table = String(randomInt(10_000, 60_000));
    const onLink = `198.51.100.${randomInt(1, 255)}`;
    const blackhole = `198.51.100.${randomInt(1, 255)}`;
    sh('ip', ['link', 'add', name, 'type', 'bridge']);
    try {
      // A route needs its link up; without IPv6 on it, up adds no routes of its own.
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1\n');
      sh('ip', ['link', 'set', name, 'up']);
      const before = hostSnapshot();
      sh('ip', ['route', 'add', onLink, 'dev', name, 'table', table]);
      sh('ip', ['route', 'add', 'blackhole', blackhole, 'table', table]);
      try {
        expect(leftovers(before).routesAdded?.sort()).toEqual([`${onLink} dev ${name} table ${table} scope link`, `blackhole ${blackhole} table ${table}`].sort());
      } finally {
        sh('ip', ['route', 'flush', 'table', table]);
      }
      expect(leftovers(before)).toEqual({});
    } finally {
      sh('ip', ['link', 'del', name]);
    }
  });

  describe('cgroups and the processes in them', () => {
    const base = '/sys/fs/cgroup';
    const v2 = existsSync(`${base}/cgroup.controllers`);
    // pure v2: the one tree; hybrid: v1 controllers and the unified tree.
    const roots = v2 ? [base] : [`${base}/pids`, `${base}/memory`, `${base}/unified`].filter((r) => existsSync(`${r}/cgroup.procs`));
    const made: string[] = [];
    const token = `selftest-${randomToken(6)}`;

    afterAll(() => {
      for (const p of made.reverse()) {
        try {
          rmdirSync(p);
        } catch (err) {
          // Our prefix dir may meanwhile hold another test's cgroup: leave it, as the runtime does.
          if (!roots.some((r) => p === `${r}/${HULL_PREFIX}`)) throw err;
        }
      }
    });

    const mkcg = (path: string): void => {
      mkdirSync(path);
      made.push(path);
    };

    it('a cgroup three levels below our prefix, in every hierarchy the host has', () => {
      expect(roots.length).toBeGreaterThan(0);
      const before = hostSnapshot();
      for (const root of roots) {
        const prefix = `${root}/${HULL_PREFIX}`;
        if (!existsSync(prefix)) mkcg(prefix);
        mkcg(`${prefix}/${token}`);
        mkcg(`${prefix}/${token}/a`);
        mkcg(`${prefix}/${token}/a/b`);
      }
      const expected = roots.flatMap((r) => [`${r}/${HULL_PREFIX}/${token}`, `${r}/${HULL_PREFIX}/${token}/a`, `${r}/${HULL_PREFIX}/${token}/a/b`]).sort();
      expect(leftovers(before).cgroups).toEqual(expected);
    });

    it('a process that left our tree into a cgroup of ours, with none of our environment', async () => {
      const cg = `${roots[0]}/${HULL_PREFIX}/${token}/a/b`;
      const pidFile = join(dir, `pid-${randomToken(6)}`);
      const before = hostSnapshot();
      // Double fork: sh joins the cgroup, starts sleep in the background and exits,
      // so sleep is re-parented away from this worker; env -i drops our marker.
      sh('env', ['-i', '/bin/sh', '-c', `echo $$ > ${cg}/cgroup.procs; sleep 600 </dev/null >/dev/null 2>&1 & echo $! > ${pidFile}`]);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        expect(parentOf(pid)).not.toBe(process.pid);
        expect(leftovers(before).processes).toEqual([`${pid} sleep: sleep 600`]);
      } finally {
        await killPid(pid);
      }
      expect(leftovers(before)).toEqual({});
    });

    it('a process that daemonised out of our tree, in no cgroup of ours: it keeps our marker', async () => {
      const pidFile = join(dir, `pid-${randomToken(6)}`);
      const before = hostSnapshot();
      sh('/bin/sh', ['-c', `setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > ${pidFile}`]);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      try {
        await waitFor(() => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep', 5_000, 'sleep to exec');
        expect(parentOf(pid)).not.toBe(process.pid);
        expect(leftovers(before).processes).toEqual([`${pid} sleep: sleep 600`]);
      } finally {
        await killPid(pid);
      }
      expect(leftovers(before)).toEqual({});
    });
  });

  it('a bridge lease file left in one of our roots', () => {
    const root = mkdtempSync(join(tmpdir(), 'hull-testkit-root-'));
    try {
      const before = hostSnapshot();
      mkdirSync(join(root, 'network'));
      const lease = join(root, 'network', `${HULL_PREFIX}${randomToken(5)}.json`);
      writeFileSync(lease, '{"subnet":"10.250.0.0/24","leases":{}}\n');
      expect(leftovers(before).leases).toEqual([lease]);
      rmSync(lease);
      expect(leftovers(before)).toEqual({});
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('ip_forward flipped, or its record rewritten (in a network and mount namespace of its own)', () => {
    // The switch is the host's and other suites' bridges need it: flip it only
    // where nobody else lives. /run/hull (06's record) is a tmpfs of its own there.
    mkdirSync('/run/hull', { recursive: true, mode: 0o700 });
    const out = execFileSync('unshare', ['--net', '--mount', '--propagation', 'private', '/bin/sh', '-c', `mount -t tmpfs tmpfs /run/hull && exec "${process.execPath}" --import tsx packages/testkit/test/ip-forward-leak.ts`], { cwd: repoRoot, encoding: 'utf8' });
    const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(report).toEqual({
      flipped: { ipForward: ['switch 0 -> switch 1'] },
      recordRewritten: { ipForward: ['record 0 -> record 1'] },
      restored: {},
    });
  });

  it('throws when a probe command cannot run, or fails, instead of reporting nothing', () => {
    const path = process.env.PATH;
    try {
      process.env.PATH = join(dir, 'empty');
      expect(() => hostSnapshot()).toThrow(/^leftover check: ip -o link show failed/);
      // An ip that runs and fails (as on a kernel without rtnetlink access), and an nft that does.
      const bin = join(dir, `bin-${randomToken(6)}`);
      mkdirSync(bin);
      writeFileSync(join(bin, 'nft'), '#!/bin/sh\necho "nft: Operation not permitted" >&2\nexit 1\n');
      chmodSync(join(bin, 'nft'), 0o755);
      process.env.PATH = `${bin}:${path}`;
      expect(() => hostSnapshot()).toThrow(/^leftover check: nft list tables failed: nft: Operation not permitted$/);
      writeFileSync(join(bin, 'ip'), '#!/bin/sh\nexit 2\n');
      chmodSync(join(bin, 'ip'), 0o755);
      expect(() => hostSnapshot()).toThrow(/^leftover check: ip -o link show failed/);
    } finally {
      process.env.PATH = path;
    }
  });
});
