// The leftover check must be able to see what it claims (../shared/TESTING.md):
// each kind of leak is made on purpose here, and the check has to report it;
// a probe that cannot run is an error, not "nothing found".
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HULL_PREFIX, hostSnapshot, leftovers, randomToken, requireRoot } from '../src/index.ts';

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'ignore' });
}

/**
 * The part of a leftover diff that names `token`: other suites (and this
 * package's clients.test.ts) make mounts and cgroups under our prefix at the
 * same time, and those are theirs to check, not this self-test's.
 */
function mine(diff: ReturnType<typeof leftovers>, token: string): ReturnType<typeof leftovers> {
  const out: ReturnType<typeof leftovers> = {};
  for (const [key, list] of Object.entries(diff) as [keyof typeof diff, string[]][]) {
    const kept = list.filter((e) => e.includes(token));
    if (kept.length) out[key] = kept;
  }
  return out;
}

describe.skipIf(!requireRoot('testkit leftover self-test'))('the leftover check sees each kind of leak', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-testkit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a mount, and a second mount stacked on the same mount point', () => {
    const point = join(dir, `m${randomToken(6)}`);
    mkdirSync(point);
    sh('mount', ['-t', 'tmpfs', 'tmpfs', point]);
    const once = hostSnapshot();
    try {
      sh('mount', ['-t', 'tmpfs', 'tmpfs', point]);
      try {
        // Same mount point, same type: only the count differs.
        expect(mine(leftovers(once), point).mounts).toEqual([`${point} tmpfs`]);
      } finally {
        sh('umount', [point]);
      }
      expect(mine(leftovers(once), point)).toEqual({});
    } finally {
      sh('umount', [point]);
    }
  });

  it('a link, a network namespace and an nft table with our prefix', () => {
    const name = `${HULL_PREFIX}t${randomToken(5)}`;
    const before = hostSnapshot();
    sh('ip', ['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`]);
    sh('ip', ['netns', 'add', name]);
    sh('nft', ['add', 'table', 'inet', name]);
    try {
      const diff = mine(leftovers(before), name);
      expect(diff.links).toEqual([`${name}a`, `${name}b`]);
      expect(diff.netns).toEqual([name]);
      expect(diff.nftTables).toEqual([`table inet ${name}`]);
    } finally {
      sh('ip', ['link', 'del', `${name}a`]);
      sh('ip', ['netns', 'del', name]);
      sh('nft', ['delete', 'table', 'inet', name]);
    }
    expect(mine(leftovers(before), name)).toEqual({});
  });

  it('a cgroup two levels below our prefix, in every hierarchy the host has', () => {
    const base = '/sys/fs/cgroup';
    const v2 = existsSync(`${base}/cgroup.controllers`);
    // pure v2: the one tree; hybrid: a v1 controller and the unified tree.
    const roots = v2 ? [base] : [`${base}/pids`, `${base}/unified`].filter((r) => existsSync(`${r}/cgroup.procs`));
    expect(roots.length).toBeGreaterThan(0);
    const made: string[] = [];
    const token = `selftest-${randomToken(6)}`;
    const before = hostSnapshot();
    try {
      for (const root of roots) {
        const prefix = `${root}/${HULL_PREFIX}`;
        if (!existsSync(prefix)) {
          mkdirSync(prefix);
          made.push(prefix);
        }
        const parent = `${prefix}/${token}`;
        mkdirSync(parent);
        made.push(parent);
        mkdirSync(`${parent}/child`);
        made.push(`${parent}/child`);
      }
      const expected = made.filter((p) => !roots.some((r) => p === `${r}/${HULL_PREFIX}`)).sort();
      expect(mine(leftovers(before), token).cgroups).toEqual(expected);
    } finally {
      for (const p of made.reverse()) {
        try {
          rmdirSync(p);
        } catch (err) {
          // Our prefix dir may meanwhile hold another test's cgroup: leave it, as the runtime does.
          if (!roots.some((r) => p === `${r}/${HULL_PREFIX}`)) throw err;
        }
      }
    }
    expect(mine(leftovers(before), token)).toEqual({});
  });

  it('throws when a probe command cannot run, instead of reporting nothing', () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty');
    try {
      expect(() => hostSnapshot()).toThrow(/^leftover check: ip -o link show failed/);
    } finally {
      process.env.PATH = path;
    }
  });
});
