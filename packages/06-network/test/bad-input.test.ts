// Bad input gets one line and an exit code and leaves nothing; a crash leaves
// state that the next run repairs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, collect, randomToken, requireRoot, waitFor, hostSnapshot, leftovers, type HostSnapshot } from '@hull/testkit';
import { randomInt } from 'node:crypto';
import { bridgeExists, freeSubnetBase, makeTestNet, removeRoot, runNet, sh, startNet, type TestNet } from './net-fixture.js';

function leaseFiles(net: TestNet): string[] {
  const dir = join(net.root, 'network');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

describe.skipIf(!requireRoot('06-network bad input'))('06-network: bad input and crashes', () => {
  let net: TestNet;
  let rootfs: string;
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
    net = makeTestNet();
    rootfs = busyboxRootfs();
  });
  afterAll(() => {
    expect(leftovers(before)).toEqual({});
    removeRoot(net);
  });

  const outside = () => `10.${randomInt(1, 199)}.${randomInt(0, 256)}.${randomInt(2, 250)}`;

  it.each([
    ['an address outside the subnet', () => ['--ip', outside()], /^hull: --ip (\S+): \1 is outside the subnet 10\.\d+\.\d+\.0\/24$/],
    ['the gateway address', (n: TestNet) => ['--ip', n.gateway], /^hull: --ip \S+: \S+ is the bridge's own address \(the gateway\)$/],
    ['a rootfs that does not exist', () => ['--rootfs', `/nonexistent-${randomToken(6)}`], /^hull: rootfs \/nonexistent-\w+: no such directory$/],
  ])('refuses %s with 125, one line, no bridge', async (_what, args, message) => {
    const r = await runNet(net, rootfs, [...(args as (n: TestNet) => string[])(net), '--', 'true']);
    expect(r.code).toBe(125);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message as RegExp);
    expect(bridgeExists(net)).toBe(false);
    expect(leaseFiles(net)).toEqual([]);
  });

  it.each([
    [['--net', 'overlay'], /^hull: --net "overlay": must be one of bridge, none, host \(usage: main\.ts/],
    [['--publish', '8080'], /^hull: --publish "8080": must be \[IP:\]HOSTPORT:CTRPORT\[\/tcp\|\/udp\]/],
    [['--publish', '1.2.3:8080:80'], /^hull: --publish "1\.2\.3:8080:80": "1\.2\.3" is not an IPv4 address/],
    [['--publish', '8080:80/sctp'], /^hull: --publish "8080:80\/sctp": protocol "sctp": use tcp or udp/],
    [['--publish', '8080:80', '--publish', '127.0.0.1:8080:81'], /^hull: --publish: 8080:80 and 127\.0\.0\.1:8080:81 both want host port 8080\/tcp/],
    [['--ip', '10.1.2'], /^hull: --ip "10\.1\.2": not an IPv4 address/],
    [['--net', 'none', '--ip', '10.77.0.5'], /^hull: --ip and --publish need --net bridge, not --net none/],
  ])('refuses %j as usage: exit 2, one line', async (args, message) => {
    const r = await runNet(net, rootfs, [...(args as string[]), '--', 'true']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message as RegExp);
    expect(bridgeExists(net)).toBe(false);
  });

  it('refuses a bad HULL_SUBNET with one line', async () => {
    const r = await runNet(net, rootfs, ['--', 'true'], { env: { HULL_SUBNET: '10.77.0.1/24' } });
    expect(r.code).toBe(125);
    expect(r.stderr.trim()).toBe('hull: HULL_SUBNET: subnet 10.77.0.1/24: host bits are set (did you mean 10.77.0.0/24?)');
  });

  it("refuses a subnet the host already routes, and leaves that route alone", async () => {
    // A route of our own to collide with: a veth pair with an address in a free subnet.
    const link = `${net.bridge}d`;
    const base = freeSubnetBase([net.base]);
    sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`]);
    try {
      sh('ip', ['addr', 'add', `${base}.1/24`, 'dev', link]);
      sh('ip', ['link', 'set', `${link}p`, 'up']);
      sh('ip', ['link', 'set', link, 'up']);
      const r = await runNet(net, rootfs, ['--', 'true'], { env: { HULL_SUBNET: `${base}.0/25` } });
      expect(r.code).toBe(125);
      expect(r.stderr.trim()).toBe(`hull: subnet ${base}.0/25 overlaps the host's route to ${base}.0/24 on ${link} (set HULL_SUBNET)`);
      expect(bridgeExists(net)).toBe(false);
      expect(sh('ip', ['route', 'show', 'dev', link])).toContain(`${base}.0/24`);
    } finally {
      sh('ip', ['link', 'del', link]);
    }
  });

  it('cleans up the network when the command cannot run (127)', async () => {
    const missing = `no-such-${randomToken(6)}`;
    const r = await runNet(net, rootfs, ['--', missing]);
    expect(r.code).toBe(127);
    expect(r.stderr.trim()).toBe(`hull: exec "${missing}": executable file not found in $PATH`);
    expect(bridgeExists(net)).toBe(false);
    expect(leaseFiles(net)).toEqual([]);
  });

  it('repairs what a killed run left behind, on the next run', async () => {
    // A unique sleep lets us find the container, and through it the hull process to kill.
    const seconds = `${randomInt(60, 90)}.${randomInt(100, 999)}`;
    const child = startNet(net, rootfs, ['--', 'sleep', seconds]);
    const done = collect(child);
    let container = 0;
    await waitFor(() => (container = findProcess(['sleep', seconds])) > 0, 30_000, 'the container');
    const hull = parentOf(container);
    expect(readFileSync(`/proc/${hull}/cmdline`, 'utf8')).toContain('06-network/src/main.ts');
    process.kill(hull, 'SIGKILL');
    await done;
    await waitFor(() => findProcess(['sleep', seconds]) === 0, 10_000, 'the container to die with hull (PDEATHSIG)');
    // What the crash left: the bridge, our table and a lease of a dead process.
    expect(bridgeExists(net)).toBe(true);
    expect(sh('nft', ['list', 'tables'])).toContain(`table ip ${net.bridge}`);
    expect(leaseFiles(net)).toEqual([`${net.bridge}.json`]);
    const stale = Object.keys((JSON.parse(readFileSync(join(net.root, 'network', `${net.bridge}.json`), 'utf8')) as { leases: object }).leases);
    // The next run takes the stale address back and, as the last one out, removes it all.
    const r = await runNet(net, rootfs, ['--', 'hostname', '-i']);
    expect(r.code).toBe(0);
    expect([r.stdout.trim()]).toEqual(stale);
    expect(bridgeExists(net)).toBe(false);
    expect(sh('nft', ['list', 'tables'])).not.toContain(net.bridge);
    expect(leaseFiles(net)).toEqual([]);
  });
});

function findProcess(argv: string[]): number {
  const want = argv.join('\0') + '\0';
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8') === want) return Number(e);
    } catch {
      // gone
    }
  }
  return 0;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
