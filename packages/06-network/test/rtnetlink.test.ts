// Our rtnetlink against the real kernel: every operation, checked with
// iproute2, and errors decoded from real NLMSG_ERRORs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken, requireRoot, run } from '@hull/testkit';
import { hostSnapshot, leftovers, type HostSnapshot } from '@hull/testkit';
import { freeSubnetBase, sh } from './net-fixture.js';

describe.skipIf(!requireRoot('06-network rtnetlink'))('06-network: rtnetlink against the kernel', () => {
  const prefix = `hull${randomToken(6)}`;
  const netns = `hull-nl-${randomToken(6)}`;
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
    sh('ip', ['netns', 'add', netns]);
  });
  afterAll(() => {
    for (const l of [`${prefix}a`, `${prefix}b`]) {
      try {
        sh('ip', ['link', 'del', l]);
      } catch {
        // already gone (deleting one end of a veth deletes both)
      }
    }
    sh('ip', ['netns', 'del', netns]);
    const left = leftovers(before);
    expect((left.links ?? []).filter((l) => l.startsWith(prefix))).toEqual([]);
    expect((left.netns ?? []).filter((n) => n === netns)).toEqual([]);
  });

  it('creates, enslaves, moves by fd, renames, addresses and raises links, and decodes kernel errors', async () => {
    const address = `${freeSubnetBase()}.${Math.floor(Math.random() * 200) + 2}`;
    const r = await run('npx', ['tsx', 'packages/06-network/test/fixtures/rtnetlink-ops.ts', prefix, netns, address]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { bridgeIndex: number; peerStillHere: boolean; errors: Record<string, string> };
    expect(sh('ip', ['-d', 'link', 'show', `${prefix}b`])).toMatch(new RegExp(`^${out.bridgeIndex}: ${prefix}b: .*\\bUP\\b[\\s\\S]*\\n\\s+bridge `));
    expect(sh('ip', ['link', 'show', `${prefix}a`])).toMatch(new RegExp(`master ${prefix}b`));
    expect(out.peerStillHere).toBe(false);
    expect(sh('ip', ['link'])).not.toContain(`${prefix}p`);
    const inside = sh('ip', ['-n', netns, '-o', '-4', 'addr', 'show', 'dev', 'eth7']);
    expect(inside).toContain(`inet ${address}/24`);
    expect(sh('ip', ['-n', netns, 'link', 'show', 'lo'])).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    expect(out.errors.duplicate).toBe(`RTM_NEWLINK("${prefix}b", "bridge"): EEXIST (File exists)`);
    expect(out.errors.missing).toBe(`RTM_DELLINK("${prefix}x"): ENODEV (No such device)`);
    expect(out.errors.kind).toMatch(new RegExp(`^RTM_NEWLINK\\("${prefix}k", "nosuchkind"\\): E(OPNOTSUPP|NOTSUP) \\(Unknown device type\\)$`));
  });
});
