// Unit tests of the map rules, without root: the black-box tests are in
// remap.test.ts and rootless.test.ts.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '@hull/01-uts';
import {
  checkOwnedMap,
  formatIdMap,
  parseIdMapEntry,
  parseSubordinateFile,
  planUserNamespace,
  rootlessDefaultMap,
  toHost,
  checkStageReadable,
  userNamespaceProblem,
  validateIdMap,
} from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'hull-maps-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseIdMapEntry', () => {
  it('reads C:H:N', () => {
    const [c, h, n] = [randomInt(0, 1000), randomInt(100000, 200000), randomInt(1, 65536)];
    expect(parseIdMapEntry(`${c}:${h}:${n}`, 'uid')).toEqual({ containerId: c, hostId: h, size: n });
  });

  it.each([
    ['0:1', /expected CONTAINER:HOST:COUNT/],
    ['a:b:c', /expected CONTAINER:HOST:COUNT/],
    ['0:-1:5', /expected CONTAINER:HOST:COUNT/],
    ['0:100000:0', /COUNT must be at least 1/],
    ['0:4294967295:2', /host uids 4294967295..4294967296 go past 4294967294/],
    ['0:4294967295:1', /host uids 4294967295..4294967295 go past 4294967294/],
    ['4294967000:0:1000', /container uids/],
  ])('refuses %s', (text, message) => {
    expect(() => parseIdMapEntry(text, 'uid')).toThrow(UsageError);
    expect(() => parseIdMapEntry(text, 'uid')).toThrow(message);
  });

  it('accepts a range that ends at 2^32 - 2, the largest id', () => {
    expect(parseIdMapEntry('0:4294967294:1', 'gid').hostId).toBe(4294967294);
  });
});

describe('validateIdMap', () => {
  const e = (containerId: number, hostId: number, size: number) => ({ containerId, hostId, size });

  it('refuses ranges that overlap inside or on the host, and a map without container id 0', () => {
    expect(() => validateIdMap([e(0, 100000, 10), e(5, 200000, 10)], 'uid')).toThrow(/0:100000:10 and 5:200000:10 overlap inside the container/);
    expect(() => validateIdMap([e(0, 100000, 10), e(10, 100009, 10)], 'gid')).toThrow(/overlap on the host/);
    expect(() => validateIdMap([e(1, 100000, 10)], 'uid')).toThrow(/container uid 0 is not mapped/);
    expect(() => validateIdMap([], 'uid')).toThrow(/empty/);
  });

  it('accepts adjacent ranges and formats them as the kernel wants, one line each', () => {
    const map = [e(0, 1001, 1), e(1, 100000, 65536)];
    expect(() => validateIdMap(map, 'uid')).not.toThrow();
    expect(formatIdMap(map)).toBe('0 1001 1\n1 100000 65536\n');
    expect(toHost(map, 1000)).toBe(100999);
    expect(toHost(map, 65537)).toBeUndefined();
  });
});

describe('subordinate ranges (rootless)', () => {
  const text = ['alice:100000:65536', '# comment', '1001:300000:10', 'bob:200000:65536', 'alice:500000:5', ''].join('\n');

  it('finds the lines of a user by name or uid', () => {
    expect(parseSubordinateFile(text, { name: 'alice', id: 1001 })).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
      { start: 500000, count: 5 },
    ]);
    expect(parseSubordinateFile(text, { name: 'carol', id: 1003 })).toEqual([]);
  });

  it("maps the caller's own id to 0 and its ranges from 1, like podman", () => {
    expect(rootlessDefaultMap(1001, [{ start: 100000, count: 65536 }, { start: 500000, count: 5 }])).toEqual([
      { containerId: 0, hostId: 1001, size: 1 },
      { containerId: 1, hostId: 100000, size: 65536 },
      { containerId: 65537, hostId: 500000, size: 5 },
    ]);
  });

  it('refuses host ids the caller does not own', () => {
    const ranges = [{ start: 100000, count: 65536 }];
    expect(() => checkOwnedMap([{ containerId: 0, hostId: 1001, size: 1 }], 'uid', 1001, ranges, 'alice')).not.toThrow();
    expect(() => checkOwnedMap([{ containerId: 0, hostId: 0, size: 1 }], 'uid', 1001, ranges, 'alice')).toThrow(/host uid 0 is not yours to map/);
    expect(() => checkOwnedMap([{ containerId: 1, hostId: 165000, size: 1000 }], 'gid', 1001, ranges, 'alice')).toThrow(
      /host gids 165000..165999 are not yours to map .*100000..165535/,
    );
  });
});

describe('planUserNamespace', () => {
  const subuid = join(tmp, 'subuid');
  const subgid = join(tmp, 'subgid');
  const helpers = join(tmp, 'bin');
  mkdirSync(helpers, { recursive: true });
  writeFileSync(join(helpers, 'newuidmap'), '');
  writeFileSync(join(helpers, 'newgidmap'), '');
  writeFileSync(subuid, 'alice:200000:65536\n');
  writeFileSync(subgid, 'alice:300000:65536\n');
  const alice = { uid: 1001, gid: 1002, name: 'alice' };

  it('root gets the default remap 0 -> 100000 x 65536, written through /proc', () => {
    const plan = planUserNamespace({ caller: { uid: 0, gid: 0, name: 'root' } });
    expect(plan.uidMap).toEqual([{ containerId: 0, hostId: 100000, size: 65536 }]);
    expect(plan).toMatchObject({ writer: 'proc', setgroups: 'allow', rootless: false });
  });

  it('a rootless caller without the helpers maps only itself and must deny setgroups', () => {
    const plan = planUserNamespace({ caller: alice, subuidFile: subuid, subgidFile: subgid, helperPath: join(tmp, 'none') });
    expect(plan.uidMap).toEqual([{ containerId: 0, hostId: 1001, size: 1 }]);
    expect(plan.gidMap).toEqual([{ containerId: 0, hostId: 1002, size: 1 }]);
    expect(plan).toMatchObject({ writer: 'proc', setgroups: 'deny', rootless: true });
  });

  it('a rootless caller with the helpers and ranges gets them, written by newuidmap/newgidmap', () => {
    const plan = planUserNamespace({ caller: alice, subuidFile: subuid, subgidFile: subgid, helperPath: helpers });
    expect(formatIdMap(plan.uidMap)).toBe('0 1001 1\n1 200000 65536\n');
    expect(formatIdMap(plan.gidMap)).toBe('0 1002 1\n1 300000 65536\n');
    expect(plan.writer).toBe('newidmap');
  });

  it('refuses a rootless map beyond its own id when the helpers are missing', () => {
    expect(() =>
      planUserNamespace({
        caller: alice,
        uidMap: [{ containerId: 0, hostId: 1001, size: 1 }, { containerId: 1, hostId: 200000, size: 5 }],
        subuidFile: subuid,
        helperPath: join(tmp, 'none'),
      }),
    ).toThrow(/not yours to map/);
  });
});

describe('userNamespaceProblem', () => {
  function fakeProc(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmp, 'proc-'));
    for (const [name, value] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), `${value}\n`);
    }
    return dir;
  }

  it('names the sysctl that disables user namespaces', () => {
    expect(userNamespaceProblem(false, fakeProc({ 'user/max_user_namespaces': '0' }))).toMatch(/user.max_user_namespaces = 0/);
    const debian = fakeProc({ 'user/max_user_namespaces': '1000', 'kernel/unprivileged_userns_clone': '0' });
    expect(userNamespaceProblem(true, debian)).toMatch(/kernel.unprivileged_userns_clone = 0/);
    expect(userNamespaceProblem(false, debian)).toBeUndefined();
    const ubuntu = fakeProc({ 'kernel/apparmor_restrict_unprivileged_userns': '1' });
    expect(userNamespaceProblem(true, ubuntu)).toMatch(/AppArmor/);
    expect(userNamespaceProblem(true, fakeProc({ 'user/max_user_namespaces': '1000' }))).toBeUndefined();
  });
});

describe('checkStageReadable', () => {
  it("refuses a repository the container's root cannot reach (a clone in /root, mode 0700)", () => {
    const repo = mkdtempSync(join(tmp, 'repo-'));
    mkdirSync(join(repo, 'src'));
    const init = join(repo, 'src/init.ts');
    writeFileSync(init, '');
    chmodSync(init, 0o644);
    chmodSync(repo, 0o700);
    chmodSync(tmp, 0o755);
    expect(() => checkStageReadable(init, 100000, 100000)).toThrow(`the container's root (host uid 100000) cannot reach our init stage: ${repo} is mode 700`);
    chmodSync(repo, 0o755);
    expect(() => checkStageReadable(init, 100000, 100000)).not.toThrow();
    chmodSync(init, 0o600);
    expect(() => checkStageReadable(init, 100000, 100000)).toThrow(/cannot read our init stage/);
  });
});
