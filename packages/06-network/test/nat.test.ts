// NAT without the internet: an "upstream" network namespace of our own plays
// the world. It has its own veth to the host and a tiny server that says which
// source address it sees. Through the bridge and our masquerade, that must be
// the host's address on the upstream link, never the container's.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, randomToken, requireRoot, start, startStep, waitFor, hostSnapshot, leftovers, type HostSnapshot } from '@hull/testkit';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { assertRoutedVia, bridgeExists, freeSubnetBase, makeTestNet, removeRoot, retryInContainer, runNet, sh, type TestNet } from './net-fixture.js';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

describe.skipIf(!requireRoot('06-network NAT'))('06-network: NAT to an upstream namespace', () => {
  let net: TestNet;
  let rootfs: string;
  let before: HostSnapshot;
  const upNs = `hull-up-${randomToken(6)}`;
  const upVeth = `hullu${randomToken(8)}`;
  let upBase: string;
  let server: ChildProcess | undefined;
  let serverPort: number;

  beforeAll(async () => {
    before = hostSnapshot();
    net = makeTestNet();
    rootfs = busyboxRootfs();
    upBase = freeSubnetBase([net.base]);
    sh('ip', ['netns', 'add', upNs]);
    sh('ip', ['link', 'add', upVeth, 'type', 'veth', 'peer', 'name', 'up0', 'netns', upNs]);
    sh('ip', ['addr', 'add', `${upBase}.1/24`, 'dev', upVeth]);
    sh('ip', ['link', 'set', upVeth, 'up']);
    sh('ip', ['-n', upNs, 'addr', 'add', `${upBase}.2/24`, 'dev', 'up0']);
    sh('ip', ['-n', upNs, 'link', 'set', 'up0', 'up']);
    sh('ip', ['-n', upNs, 'link', 'set', 'lo', 'up']);
    serverPort = randomInt(2000, 60000);
    // The "internet" server: reports the source address of each connection.
    const script = `require('net').createServer((s) => s.end('from:' + s.remoteAddress + '\\n')).listen(${serverPort}, '${upBase}.2', () => console.log('ready'))`;
    server = start('ip', ['netns', 'exec', upNs, process.execPath, '-e', script]);
    let out = '';
    server.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('ready'), 20_000, 'the upstream server');
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r));
      server.kill('SIGKILL');
      await gone;
    }
    sh('ip', ['netns', 'del', upNs]);
    await waitFor(() => !sh('ip', ['-o', 'link']).includes(upVeth), 10_000, 'the upstream veth to go');
    // ip_forward included: the value the host returns to once every bridge is
    // gone must be what it was (testkit's check; ip-forward.test.ts proves the
    // restore itself where no other suite's bridge can exist).
    expect(leftovers(before)).toEqual({});
    removeRoot(net);
  });

  it('reaches the upstream through the bridge, and the upstream sees the host, not the container', async () => {
    const upstream = `${upBase}.2`;
    // The network rule: the host routes the upstream address through our own veth.
    assertRoutedVia(upstream, upVeth);
    const r = await runNet(net, rootfs, ['--', 'sh', '-c', `hostname -i; ${retryInContainer(`nc ${upstream} ${serverPort} </dev/null`)}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [containerIp, seen] = r.stdout.trim().split('\n');
    expect(containerIp!.startsWith(`${net.base}.`)).toBe(true);
    expect(seen).toBe(`from:${upBase}.1`);
    expect(seen).not.toContain(containerIp);
    expect(bridgeExists(net)).toBe(false);
    expect(sh('nft', ['list', 'tables'])).not.toContain(net.bridge);
  });

  it('has our masquerade table while a container runs, and only then', async () => {
    const child = startStep('06-network', ['--rootfs', rootfs, '--', 'sleep', '3'], { env: net.env });
    const exited = new Promise((res) => child.once('close', res));
    await waitFor(() => sh('nft', ['list', 'tables']).includes(`table ip ${net.bridge}`), 20_000, 'our nft table');
    const table = sh('nft', ['list', 'table', 'ip', net.bridge]);
    expect(table).toContain(`ip saddr ${net.subnet} oifname != "${net.bridge}" masquerade`);
    expect(readFileSync(IP_FORWARD, 'utf8').trim()).toBe('1');
    await exited;
    expect(sh('nft', ['list', 'tables'])).not.toContain(net.bridge);
  });
});
