// --publish HOSTPORT:CTRPORT: reachable on 127.0.0.1 and on a host address
// (our bridge's), and a port that is taken is refused with one line;
// 127.0.0.1:H:C only on 127.0.0.1; H:C/udp through the UDP proxy.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, collect, randomToken, requireRoot, udpReplyBinary, waitFor, hostSnapshot, leftovers, type HostSnapshot } from '@hull/testkit';
import { randomInt } from 'node:crypto';
import { assertBridgeAddress, bridgeExists, freePort, makeTestNet, readFrom, removeRoot, runNet, startNet, type TestNet } from './net-fixture.js';

/** Is something listening on 0.0.0.0/127.0.0.1:port? (Try to take it ourselves.) */
async function portTaken(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(true));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(false)));
  });
}

/** Connect until the container's server answers (it starts after our proxy listens). */
async function readWhenUp(host: string, port: number): Promise<string> {
  let got: string | null = null;
  await waitFor(async () => (got = await readFrom(host, port)) !== null, 30_000, `an answer on ${host}:${port}`);
  return got!;
}

/** A UDP port nobody holds right now (the kernel picks it). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/** Is a TCP connection to host:port refused (nothing listens on that address)? */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Send `message` over UDP until an answer comes (bounded); the container's server starts after our proxy binds. */
async function udpAsk(host: string, port: number, message: string, timeoutMs = 30_000): Promise<string> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no UDP answer from ${host}:${port}`)), timeoutMs);
      const send = () => socket.send(message, port, host);
      const retry = setInterval(send, 500);
      socket.on('message', (reply) => {
        clearTimeout(deadline);
        clearInterval(retry);
        resolve(reply.toString('utf8'));
      });
      socket.on('error', () => undefined);
      send();
    });
  } finally {
    socket.close();
  }
}

describe.skipIf(!requireRoot('06-network publish'))('06-network: --publish', () => {
  let net: TestNet;
  let rootfs: string;
  let before: HostSnapshot;
  /** A busybox rootfs of our own with /udp-reply in it (the shared one is not ours to change). */
  let udpRootfs: string;
  beforeAll(() => {
    before = hostSnapshot();
    net = makeTestNet();
    rootfs = busyboxRootfs();
    udpRootfs = busyboxRootfs(mkdtempSync(join(tmpdir(), 'hull-06-udp-')));
    writeFileSync(join(udpRootfs, 'udp-reply'), udpReplyBinary(), { mode: 0o755 });
  });
  afterAll(() => {
    expect(leftovers(before)).toEqual({});
    removeRoot(net);
    rmSync(udpRootfs, { recursive: true, force: true });
  });

  it('--publish 127.0.0.1:H:C answers on 127.0.0.1 and is refused on the bridge address', async () => {
    const token = randomToken(12);
    const hostPort = await freePort();
    const child = startNet(net, rootfs, ['--publish', `127.0.0.1:${hostPort}:80`, '--', 'sh', '-c', `echo ${token} | nc -l -p 80`]);
    const done = collect(child);
    // The proxy listens before the container starts, the bridge already made. `ss` only looks:
    // trying to bind the port ourselves could take it from the step at the wrong moment.
    await waitFor(() => execFileSync('ss', ['-Hltn', `sport = :${hostPort}`], { encoding: 'utf8' }).includes(`127.0.0.1:${hostPort}`), 30_000, 'the proxy to listen');
    expect(bridgeExists(net)).toBe(true);
    assertBridgeAddress(net);
    expect(await refused(net.gateway, hostPort)).toBe(true);
    expect((await readWhenUp('127.0.0.1', hostPort)).trim()).toBe(token);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('--publish H:C/udp: a datagram from the host reaches the container, and its answer comes back', async () => {
    const hostPort = await freeUdpPort();
    const ctrPort = randomInt(1000, 60000);
    const [prefix, token] = [`p${randomToken(8)}-`, randomToken(16)];
    const child = startNet(net, udpRootfs, ['--publish', `${hostPort}:${ctrPort}/udp`, '--', '/udp-reply', String(ctrPort), prefix, '1']);
    const done = collect(child);
    expect(await udpAsk('127.0.0.1', hostPort, token)).toBe(`${prefix}${token}`);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it("forwards 127.0.0.1:HOSTPORT and the host's bridge address to the container's port", async () => {
    const [t1, t2] = [randomToken(12), randomToken(12)];
    const hostPort = await freePort();
    const ctrPort = randomInt(1000, 60000);
    const child = startNet(net, rootfs, ['--publish', `${hostPort}:${ctrPort}`, '--', 'sh', '-c', `echo ${t1} | nc -l -p ${ctrPort}; echo ${t2} | nc -l -p ${ctrPort}`]);
    const done = collect(child);
    expect((await readWhenUp('127.0.0.1', hostPort)).trim()).toBe(t1);
    assertBridgeAddress(net);
    expect((await readWhenUp(net.gateway, hostPort)).trim()).toBe(t2);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await portTaken(hostPort)).toBe(false);
  });

  it('refuses a host port that something else listens on: one line, 125, nothing left', async () => {
    const port = await freePort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runNet(net, rootfs, ['--publish', `${port}:80`, '--', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: --publish ${port}:80: host port ${port} is already in use`]);
      expect(bridgeExists(net)).toBe(false);
    } finally {
      holder.close();
    }
  });

  it('refuses a port another container already published, and the first one keeps it', async () => {
    const port = await freePort();
    const token = randomToken(12);
    const first = startNet(net, rootfs, ['--publish', `${port}:80`, '--', 'sh', '-c', `echo ${token} | nc -l -p 80`]);
    const firstDone = collect(first);
    await waitFor(() => portTaken(port), 30_000, 'the first container to publish');
    const second = await runNet(net, rootfs, ['--publish', `${port}:81`, '--', 'true']);
    expect(second.code).toBe(125);
    expect(second.stderr.trim().split('\n')).toEqual([`hull: --publish ${port}:81: host port ${port} is already in use`]);
    expect(bridgeExists(net)).toBe(true); // still the first one's
    expect((await readWhenUp('127.0.0.1', port)).trim()).toBe(token);
    expect((await firstDone).code).toBe(0);
    expect(bridgeExists(net)).toBe(false);
  });
});
