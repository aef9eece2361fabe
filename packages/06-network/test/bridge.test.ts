// --net bridge / none / host, from the outside: what the container sees, what
// the host sees, and that nothing is left. Network rule: traffic only to our
// own bridge, after `ip route get` / `ip addr` say so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, collect, randomHostname, randomToken, requireRoot, waitFor, hostSnapshot, leftovers, type HostSnapshot } from '@hull/testkit';
import {
  assertBridgeAddress,
  assertRoutedVia,
  bridgeExists,
  echoServer,
  freePort,
  makeTestNet,
  removeRoot,
  retryInContainer,
  runNet,
  sh,
  startNet,
  type TestNet,
} from './net-fixture.js';
import { randomInt } from 'node:crypto';

describe.skipIf(!requireRoot('06-network bridge'))('06-network: a container on a bridge', () => {
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
    expect(bridgeExists(net)).toBe(false);
    removeRoot(net);
  });

  it('gets eth0 with an address of the subnet, a default route via the bridge, lo up, and matching /etc files', async () => {
    const name = randomHostname();
    const ip = `${net.base}.${randomInt(10, 250)}`;
    const r = await runNet(net, rootfs, ['--ip', ip, '--hostname', name, '--', 'sh', '-c',
      'ip -o -4 addr show dev eth0; ip route; ip -o link show dev lo; hostname -i; cat /etc/hostname; grep -v "^#" /etc/resolv.conf; grep "$(hostname)" /etc/hosts']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`eth0\\s+inet ${ip.replaceAll('.', '\\.')}/24 `));
    expect(out).toContain(`default via ${net.gateway} dev eth0`);
    expect(out).toMatch(/lo: <LOOPBACK,UP,LOWER_UP>/);
    const lines = out.trim().split('\n');
    expect(lines).toContain(ip); // hostname -i
    expect(lines).toContain(name); // /etc/hostname
    expect(lines).toContain(`${ip}\t${name}`); // /etc/hosts
    expect(out).not.toMatch(/nameserver 127\./);
  });

  it('reaches a TCP server on the host\'s bridge address, which sees the container\'s address', async () => {
    const token = randomToken(16);
    const port = await freePort();
    const child = startNet(net, rootfs, ['--', 'sh', '-c', retryInContainer(`echo ${token} | nc ${net.gateway} ${port}`)]);
    const done = collect(child);
    await waitFor(() => bridgeExists(net) && sh('ip', ['-o', '-4', 'addr', 'show', 'dev', net.bridge]).includes(net.gateway), 30_000, 'the bridge');
    assertBridgeAddress(net);
    const { server, peers } = await echoServer(net.gateway, port);
    try {
      const r = await done;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const m = new RegExp(`^echo:${token} from:(${net.base.replaceAll('.', '\\.')}\\.\\d+)$`).exec(r.stdout.trim());
      expect(m, r.stdout).not.toBeNull();
      expect(m![1]).not.toBe(net.gateway);
      expect(peers).toContain(m![1]);
    } finally {
      server.close();
    }
  });

  it('lets two containers on the bridge reach each other by address', async () => {
    const token = randomToken(16);
    const port = randomInt(2000, 60000);
    const ipA = `${net.base}.${randomInt(10, 250)}`;
    // nc's stdin is a FIFO held open (fd 3, O_RDWR), never EOF: the pipe the test gives it
    // ends at once, and a busybox nc -l that saw that EOF first could end before B's bytes came.
    const a = startNet(net, rootfs, ['--ip', ipA, '--', 'sh', '-c', `mkfifo /tmp/hold && exec 3<>/tmp/hold && exec nc -l -p ${port} <&3`]);
    const doneA = collect(a);
    await waitFor(() => bridgeExists(net), 30_000, 'the bridge');
    assertRoutedVia(ipA, net.bridge);
    const b = await runNet(net, rootfs, ['--', 'sh', '-c', `${retryInContainer(`echo ${token} | nc ${ipA} ${port} && echo sent`)}; hostname -i`]);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const [sent, ipB] = b.stdout.trim().split('\n');
    expect(sent).toBe('sent');
    expect(ipB).toMatch(new RegExp(`^${net.base.replaceAll('.', '\\.')}\\.\\d+$`));
    expect(ipB).not.toBe(ipA);
    const ra = await doneA;
    expect(ra.code).toBe(0);
    expect(ra.stdout.trim()).toBe(token);
  });

  it('gives containers that start at the same time different addresses', async () => {
    const runs = await Promise.all([0, 1, 2].map(() => runNet(net, rootfs, ['--', 'sh', '-c', 'sleep 1; hostname -i'])));
    for (const r of runs) expect(r.code).toBe(0);
    const ips = runs.map((r) => r.stdout.trim());
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip.startsWith(`${net.base}.`)).toBe(true);
  });
});

describe.skipIf(!requireRoot('06-network none/host'))('06-network: --net none and --net host', () => {
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

  it('--net none sees only lo, up, with no route out; no bridge is made', async () => {
    const r = await runNet(net, rootfs, ['--net', 'none', '--', 'sh', '-c', 'ip -o link | cut -d: -f2; ip -o -4 addr; echo routes:; ip route']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('lo');
    expect(lines[1]).toMatch(/^1: lo\s+inet 127\.0\.0\.1\/8 /);
    expect(lines.slice(2)).toEqual(['routes:']);
    expect(bridgeExists(net)).toBe(false);
  });

  it("--net host sees the host's own interfaces", async () => {
    const hostLinks = sh('ip', ['-o', 'link']).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter((n) => n && !n.startsWith('hull'));
    const r = await runNet(net, rootfs, ['--net', 'host', '--', 'sh', '-c', 'ip -o link | cut -d: -f2']);
    expect(r.code).toBe(0);
    const inside = r.stdout.split('\n').map((l) => l.trim().split('@')[0] ?? '').filter((n) => n && !n.startsWith('hull'));
    expect(inside.sort()).toEqual(hostLinks.sort());
    expect(bridgeExists(net)).toBe(false);
  });
});
