// --publish HOSTPORT:CTRPORT: reachable on 127.0.0.1 and on a host address
// (our bridge's), and a port that is taken is refused with one line.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, collect, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { randomInt } from 'node:crypto';
import { assertBridgeAddress, bridgeExists, freePort, leftoversOf, makeTestNet, readFrom, removeRoot, runNet, type Scope, scopeBefore, startNet, type TestNet } from './net-fixture.js';

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

describe.skipIf(!requireRoot('06-network publish'))('06-network: --publish', () => {
  let net: TestNet;
  let rootfs: string;
  let before: Scope;
  beforeAll(() => {
    before = scopeBefore();
    net = makeTestNet();
    rootfs = busyboxRootfs();
  });
  afterAll(() => {
    expect(leftoversOf(before, [net.bridge], [net.root, rootfs])).toEqual({});
    removeRoot(net);
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
