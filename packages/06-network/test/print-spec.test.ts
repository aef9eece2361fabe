// --print-spec: chapter 06's config.json is chapter 03's plus a network
// namespace (none for --net host), with the engine's settings (mode,
// address, published ports) in annotations; running the same flags gives
// the container exactly that network.
import { readlinkSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxRootfs, hostSnapshot, type HostSnapshot, leftovers, printedSpec, randomHostname, requireRoot, runStep, specNotContained } from '@hull/testkit';
import { bridgeExists, makeTestNet, removeRoot, runNet, type TestNet } from './net-fixture.js';

const CHAPTER = '06-network';

describe.skipIf(!requireRoot('06-network --print-spec'))('06-network: --print-spec, then run', () => {
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

  it("is chapter 03's spec for the same flags, plus a network namespace and annotations with the address and ports given", async () => {
    const hostname = randomHostname();
    const ip = `${net.base}.${randomInt(2, 250)}`;
    const publish = `127.0.0.1:${randomInt(20000, 60000)}:${randomInt(1, 65536)}/udp`;
    const cmd = ['--', 'true'];
    const [earlier, spec] = await Promise.all([
      printedSpec<RuntimeSpec>('03-chroot-proc', ['--rootfs', rootfs, '--hostname', hostname, ...cmd]),
      printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--hostname', hostname, '--ip', ip, '--publish', publish, ...cmd], { env: net.env }),
    ]);
    expect(spec.ociVersion).toBe('1.1.0');
    expect(specNotContained(spec, earlier)).toEqual([]);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['uts', 'pid', 'mount', 'ipc', 'network']);
    expect(spec.annotations).toEqual({ 'org.hull.network.mode': 'bridge', 'org.hull.network.ip': ip, 'org.hull.network.publish': publish });
    expect(specNotContained(earlier, spec, ['linux.namespaces', 'annotations'])).toEqual([]);
    // Printing wired nothing: no bridge was made.
    expect(bridgeExists(net)).toBe(false);
  });

  it('--net host: no network namespace; --net none: one, and only the mode in annotations', async () => {
    const host = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--net', 'host', '--', 'true']);
    expect(host.linux?.namespaces?.map((n) => n.type)).toEqual(['uts', 'pid', 'mount', 'ipc']);
    expect(host.annotations).toEqual({ 'org.hull.network.mode': 'host' });
    const none = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, '--net', 'none', '--', 'true']);
    expect(none.linux?.namespaces?.at(-1)).toEqual({ type: 'network' });
    expect(none.annotations).toEqual({ 'org.hull.network.mode': 'none' });
  });

  it('running --net none: a network namespace of its own, with only lo; --net host: the host\'s', async () => {
    const script = 'readlink /proc/self/ns/net; ls /sys/class/net | tr "\\n" " "';
    const hostNs = readlinkSync('/proc/self/ns/net');
    const none = await runStep(CHAPTER, ['--rootfs', rootfs, '--net', 'none', '--', 'sh', '-c', script]);
    expect(none.stderr).toBe('');
    const [ns, links] = none.stdout.trim().split('\n');
    expect(ns).not.toBe(hostNs);
    expect(links!.trim()).toBe('lo');
    const host = await runStep(CHAPTER, ['--rootfs', rootfs, '--net', 'host', '--', 'sh', '-c', 'readlink /proc/self/ns/net']);
    expect(host.stdout.trim()).toBe(hostNs);
  });

  it('running --net bridge --ip: eth0 has the address annotations name, and the hostname is spec.hostname', async () => {
    const ip = `${net.base}.${randomInt(2, 250)}`;
    const args = ['--hostname', randomHostname(), '--ip', ip, '--', 'sh', '-c', 'hostname; ip -o -4 addr show dev eth0'];
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, ['--rootfs', rootfs, ...args], { env: net.env });
    const r = await runNet(net, rootfs, args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [hostname, eth0] = r.stdout.trim().split('\n');
    expect(hostname).toBe(spec.hostname);
    expect(eth0).toMatch(new RegExp(`eth0\\s+inet ${spec.annotations!['org.hull.network.ip']!.replaceAll('.', '\\.')}/24 `));
  });
});
