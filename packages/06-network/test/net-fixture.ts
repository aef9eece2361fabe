// What every network test file needs: its own bridge, subnet and HULL_ROOT
// (test files run in parallel), the route assertion of the network rule, and
// and the leftover check is testkit's (it sees our links, routes, leases, ip_forward).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { expect } from 'vitest';
import { randomToken, runStep, startStep, type RunOptions } from '@hull/testkit';

export interface TestNet {
  bridge: string;
  /** e.g. 10.231.17.0/24 */
  subnet: string;
  /** the first three octets, e.g. "10.231.17" */
  base: string;
  gateway: string;
  root: string;
  env: NodeJS.ProcessEnv;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every IPv4 route of the host, all tables. */
export function hostRoutes(): string[] {
  return sh('ip', ['-4', 'route', 'show', 'table', 'all']).trim().split('\n').filter(Boolean);
}

/** A 10.2xx.yyy.0/24 no route on this host touches yet (nor one reserved by `avoid`). */
export function freeSubnetBase(avoid: string[] = []): string {
  const routes = hostRoutes().join('\n') + '\n' + sh('ip', ['-4', '-o', 'addr']);
  for (let i = 0; i < 100; i++) {
    const base = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
    if (!routes.includes(`${base}.`) && !avoid.includes(base)) return base;
  }
  throw new Error('no free 10.2xx.yyy.0/24 found');
}

export function makeTestNet(): TestNet {
  const bridge = `hull${randomToken(6)}`;
  const base = freeSubnetBase();
  const root = mkdtempSync(join(tmpdir(), 'hull-net-test-'));
  const subnet = `${base}.0/24`;
  return { bridge, subnet, base, gateway: `${base}.1`, root, env: { HULL_BRIDGE: bridge, HULL_SUBNET: subnet, HULL_ROOT: root } };
}

export function runNet(net: TestNet, rootfs: string, args: string[], opts: RunOptions = {}) {
  return runStep('06-network', ['--rootfs', rootfs, ...args], { ...opts, env: { ...net.env, ...opts.env } });
}

export function startNet(net: TestNet, rootfs: string, args: string[], opts: RunOptions = {}) {
  return startStep('06-network', ['--rootfs', rootfs, ...args], { ...opts, env: { ...net.env, ...opts.env } });
}

/** `ip route get ADDR`: the device the host would send it by ("lo" for its own addresses). */
export function routeDevice(address: string): string {
  const out = sh('ip', ['route', 'get', address]);
  const dev = /\bdev (\S+)/.exec(out)?.[1];
  if (!dev) throw new Error(`ip route get ${address}: no device in ${JSON.stringify(out)}`);
  return dev;
}

/** The network rule: traffic to `address` must go through `link`, a link this test created. */
export function assertRoutedVia(address: string, link: string): void {
  expect(link.startsWith('hull'), `${link} is not one of ours`).toBe(true);
  expect(routeDevice(address)).toBe(link);
}

/** The host's own address on our bridge: assert it is there before listening on or sending to it. */
export function assertBridgeAddress(net: TestNet): void {
  expect(sh('ip', ['-o', '-4', 'addr', 'show', 'dev', net.bridge])).toContain(`inet ${net.gateway}/24`);
}

export function bridgeExists(net: TestNet): boolean {
  try {
    sh('ip', ['link', 'show', 'dev', net.bridge]);
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A one-line TCP server: answers `echo:<line> from:<peer address>` and closes. */
export async function echoServer(host: string, port = 0): Promise<{ server: Server; port: number; peers: string[] }> {
  const peers: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) s.end(`echo:${buf.split('\n')[0]} from:${s.remoteAddress}\n`);
    });
    s.on('error', () => s.destroy());
    peers.push(s.remoteAddress ?? '');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as { port: number }).port, peers };
}

/** Connect, read until the server closes; null if refused or closed with nothing said. */
export function readFrom(host: string, port: number, timeoutMs = 3000): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (d: Buffer) => {
      data += d.toString();
      // The container's `nc -l` keeps the connection until we close it.
      if (data.includes('\n')) s.end();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(data === '' ? null : data);
    });
  });
}

/** A shell loop for the container: run CMD until it prints something, at most 100 times (20 s). */
export function retryInContainer(cmd: string): string {
  // Failed attempts (connection refused while the server starts) are not errors: keep them off stderr.
  return `i=0; until OUT=$( (${cmd}) 2>/dev/null) && [ -n "$OUT" ]; do i=$((i+1)); [ $i -ge 100 ] && exit 99; sleep 0.2; done; echo "$OUT"`;
}

export function removeRoot(net: TestNet): void {
  rmSync(net.root, { recursive: true, force: true });
}
