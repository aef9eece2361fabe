// --network none|bridge|host and -p through chapter 06: what the container
// sees, what the host sees, and the bridge gone with the last container.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, descendants, freePort, hostSnapshot, leftovers, randomToken, requireRoot, udpReplyBinary, waitFor } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

function hostLinks(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter(Boolean);
}

/** A UDP port nobody holds right now (the kernel picks it). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

/** Send `message` to host:port over UDP until an answer comes (the container's server starts after our proxy binds). */
async function udpAsk(host: string, port: number, message: string, timeoutMs = 30_000): Promise<string> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no UDP answer from ${host}:${port} in ${timeoutMs} ms`)), timeoutMs);
      const send = () => socket.send(message, port, host);
      const retry = setInterval(send, 500);
      socket.on('message', (reply) => {
        clearTimeout(deadline);
        clearInterval(retry);
        resolve(reply.toString('utf8'));
      });
      socket.on('error', () => undefined); // an ICMP unreachable before the proxy answers: retried
      send();
    });
  } finally {
    socket.close();
  }
}

/** Does a TCP connection to host:port get accepted (true) or refused (false)? */
function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Our test bridge's own IPv4 address (the containers' gateway), an address of this host. */
function bridgeAddress(bridge: string): string {
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }));
  if (!m) throw new Error(`${bridge} has no IPv4 address`);
  return m[1]!;
}

describe.skipIf(!requireRoot('final-runtime network'))('hull run --network / -p', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const page = randomToken(24);
  let image = '';

  beforeAll(async () => {
    requireBuild();
    // busybox's nc has no -u: the container's UDP server is the testkit's small static udp-reply.
    const udpReply = udpReplyBinary();
    image = await pushBusybox({ Cmd: ['sleep', '300'] }, [
      { entries: [{ path: 'www', type: 'directory' }, { path: 'www/index.html', content: page }, { path: 'udp-reply', content: udpReply, mode: 0o755 }] },
    ]);
    await root.hull(['pull', image]);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(hostLinks().filter((l) => l.startsWith(root.bridge))).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('none (the default): only lo, and it is up', async () => {
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-works']);
    expect(r.stdout.split('\n')[0]).toBe('lo');
    expect(r.stdout).toContain('lo-works');
    expect(r.stdout).not.toContain('eth0');
  });

  it('host: the host interfaces', async () => {
    const r = await root.hull(['run', '--rm', '--network', 'host', image, 'ls', '/sys/class/net']);
    // Other tests add and remove links meanwhile: compare with what stays, the default route's device.
    const uplink = /\bdev (\S+)/.exec(execFileSync('ip', ['route', 'show', 'default'], { encoding: 'utf8' }))![1]!;
    const seen = r.stdout.trim().split('\n');
    expect(seen).toContain('lo');
    expect(seen).toContain(uplink);
  });

  it('bridge + -p: eth0 with an address of our subnet, a published port that reaches it; all gone after rm', async () => {
    const hostPort = await freePort();
    const name = `b-${randomToken(6)}`;
    const run = await root.hull(['run', '-d', '--name', name, '--network', 'bridge', '-p', `${hostPort}:8080/tcp`, image, 'httpd', '-f', '-p', '8080', '-h', '/www']);
    expect(run.code).toBe(0);
    const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { NetworkSettings: { IPAddress: string } }[];
    const address = info!.NetworkSettings.IPAddress;
    const prefix = root.subnet.split('.').slice(0, 3).join('.');
    expect(address.startsWith(`${prefix}.`)).toBe(true);
    expect(hostLinks()).toContain(root.bridge);
    // The route to it goes through our own bridge (TESTING.md's network rule).
    expect(execFileSync('ip', ['route', 'get', address], { encoding: 'utf8' })).toContain(`dev ${root.bridge}`);
    let body = '';
    await waitFor(async () => {
      try {
        body = await (await fetch(`http://127.0.0.1:${hostPort}/index.html`)).text();
        return true;
      } catch {
        return false;
      }
    }, 20_000, 'httpd behind the published port');
    expect(body).toBe(page);
    const hosts = await root.hull(['run', '--rm', '--network', 'bridge', '--hostname', 'peer', image, 'sh', '-c', 'ip -4 -o addr show eth0; cat /etc/hosts']);
    expect(hosts.stdout).toMatch(new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/24`));
    expect(hosts.stdout).toMatch(new RegExp(`${prefix.replace(/\./g, '\\.')}\\.\\d+\\tpeer`));
    expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    // The last container out removed the bridge.
    await waitFor(() => !hostLinks().includes(root.bridge), 10_000, 'the bridge to go');
  });

  it('a port already in use: 125, one line, nothing left', async () => {
    const server = createServer();
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '0.0.0.0', () => r()));
    try {
      const r = await root.hull(['run', '--rm', '--network', 'bridge', '-p', `${port}:80`, image, 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(`hull: --publish ${port}:80: host port ${port} is already in use\n`);
      expect(root.containers()).toEqual([]);
      expect(hostLinks().filter((l) => l.startsWith(root.bridge))).toEqual([]);
    } finally {
      server.close();
    }
    const noBridge = await root.hull(['run', '--rm', '-p', '8080:80', image, 'true']);
    expect(noBridge.code).toBe(125);
    expect(noBridge.stderr).toMatch(/needs --network bridge/);
    for (const [spec, message] of [
      ['80', 'hull: run: -p 80: must be [IP:]HOSTPORT:CTRPORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp (see hull run --help)'],
      ['300.1.2.3:8080:80', 'hull: run: -p 300.1.2.3:8080:80: "300.1.2.3" is not an IPv4 address (see hull run --help)'],
      ['8080:80/sctp', 'hull: run: -p 8080:80/sctp: protocol "sctp": use tcp or udp (see hull run --help)'],
    ] as const) {
      const bad = await root.hull(['run', '--rm', '--network', 'bridge', '-p', spec, image, 'true']);
      expect(bad.code, spec).toBe(125);
      expect(bad.stderr, spec).toBe(`${message}\n`);
    }
    expect(root.containers()).toEqual([]);
  });

  it('a UDP port in use, a port published twice, an address not of this host: 125, one line, nothing left', async () => {
    // A number free over TCP that we then hold over UDP (another number if something has it).
    let port = 0;
    let holder = createSocket('udp4');
    for (;;) {
      port = await freePort();
      const bound = await new Promise<boolean>((r) => {
        holder.once('error', () => r(false));
        holder.bind(port, '0.0.0.0', () => r(true));
      });
      if (bound) break;
      holder.close();
      holder = createSocket('udp4');
    }
    try {
      const taken = await root.hull(['run', '--rm', '--network', 'bridge', '-p', `${port}:53/udp`, image, 'true']);
      expect(taken.code).toBe(125);
      expect(taken.stderr).toBe(`hull: --publish ${port}:53/udp: host port ${port}/udp is already in use\n`);
      // The same number over TCP is another port: it is free, and the run works.
      const tcp = await root.hull(['run', '--rm', '--network', 'bridge', '-p', `${port}:53`, image, 'true']);
      expect(tcp.code, tcp.stderr).toBe(0);
    } finally {
      holder.close();
    }
    // -d: the supervisor's bind fails the same way; as with docker, the container's record stays (exited) until rm.
    holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(port, '0.0.0.0', () => r()));
    try {
      const detached = await root.hull(['run', '-d', '--network', 'bridge', '-p', `${port}:53/udp`, image, 'true']);
      expect(detached.code).toBe(125);
      expect(detached.stderr).toBe(`hull: --publish ${port}:53/udp: host port ${port}/udp is already in use\n`);
      expect(detached.stdout).toBe('');
      expect(root.mounts()).toEqual([]);
      expect(hostLinks().filter((l) => l.startsWith(root.bridge))).toEqual([]);
      const ids = root.containers();
      expect(ids).toHaveLength(1);
      expect((await root.hull(['rm', ...ids])).code).toBe(0);
    } finally {
      holder.close();
    }
    const twice = await root.hull(['run', '--rm', '--network', 'bridge', '-p', `${port}:80`, '-p', `127.0.0.1:${port}:81`, image, 'true']);
    expect(twice.code).toBe(125);
    expect(twice.stderr).toBe(`hull: run: -p: ${port}:80 and 127.0.0.1:${port}:81 both want host port ${port}/tcp (see hull run --help)\n`);
    // 192.0.2.0/24 is TEST-NET-1: never an address of this host; bind() fails, nothing is sent.
    const foreign = await root.hull(['run', '--rm', '--network', 'bridge', '-p', `192.0.2.1:${port}:80/udp`, image, 'true']);
    expect(foreign.code).toBe(125);
    expect(foreign.stderr).toBe(`hull: --publish 192.0.2.1:${port}:80/udp: 192.0.2.1 is not an address of this host\n`);
    expect(root.containers()).toEqual([]);
    expect(hostLinks().filter((l) => l.startsWith(root.bridge))).toEqual([]);
  });

  it('-p 127.0.0.1:H:C listens on 127.0.0.1 only, while -p H2:C answers on the bridge address too', async () => {
    const [local, everywhere] = [await freePort(), await freePort()];
    const name = `ip-${randomToken(6)}`;
    const run = await root.hull(['run', '-d', '--name', name, '--network', 'bridge', '-p', `127.0.0.1:${local}:8080`, '-p', `${everywhere}:8080/tcp`, image, 'httpd', '-f', '-p', '8080', '-h', '/www']);
    expect(run.code, run.stderr).toBe(0);
    try {
      let body = '';
      await waitFor(async () => {
        try {
          body = await (await fetch(`http://127.0.0.1:${local}/index.html`)).text();
          return true;
        } catch {
          return false;
        }
      }, 20_000, 'httpd behind 127.0.0.1');
      expect(body).toBe(page);
      // The bridge's address is one of this host's own, on the bridge this file made.
      const gateway = bridgeAddress(root.bridge);
      expect(await tcpAccepts(gateway, everywhere)).toBe(true);
      expect(await tcpAccepts(gateway, local)).toBe(false);
      const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> } }[];
      expect(info!.HostConfig.PortBindings['8080/tcp']).toHaveLength(1);
    } finally {
      expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    }
    expect(await tcpAccepts('127.0.0.1', local)).toBe(false);
  });

  it('-d -p H:C/udp: datagrams reach the container and each client gets its own answers', async () => {
    const hostPort = await freeUdpPort();
    const ctrPort = 1000 + Math.floor(Math.random() * 50_000);
    const prefix = `r${randomToken(8)}-`;
    const name = `udp-${randomToken(6)}`;
    const run = await root.hull(['run', '-d', '--name', name, '--network', 'bridge', '-p', `${hostPort}:${ctrPort}/udp`, image, '/udp-reply', String(ctrPort), prefix]);
    expect(run.code, run.stderr).toBe(0);
    try {
      const [a, b] = [randomToken(16), randomToken(16)];
      // Two clients at once, each on its own socket: each answer goes back to its asker.
      expect(await Promise.all([udpAsk('127.0.0.1', hostPort, a), udpAsk('127.0.0.1', hostPort, b)])).toEqual([`${prefix}${a}`, `${prefix}${b}`]);
      const [info] = JSON.parse((await root.hull(['inspect', name])).stdout) as { HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> } }[];
      expect(info!.HostConfig.PortBindings[`${ctrPort}/udp`]).toEqual([{ HostIp: '', HostPort: String(hostPort) }]);
    } finally {
      expect((await root.hull(['rm', '-f', name])).code).toBe(0);
    }
    // The supervisor released the port with the container.
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(hostPort, '0.0.0.0', () => resolve());
    });
    again.close();
  });

  it('foreground -p 127.0.0.1:H:C/udp: the answer comes back, and hull exits with the container', async () => {
    const hostPort = await freeUdpPort();
    const prefix = `f${randomToken(8)}-`;
    const token = randomToken(16);
    const child = root.start(['run', '--rm', '--network', 'bridge', '-p', `127.0.0.1:${hostPort}:53/udp`, image, '/udp-reply', '53', prefix, '1']);
    const done = collect(child);
    expect(await udpAsk('127.0.0.1', hostPort, token)).toBe(`${prefix}${token}`);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
  });

  it('10 bridge containers started at once get 10 different addresses', async () => {
    const runs = await Promise.all(Array.from({ length: 10 }, () => root.hull(['run', '-d', '--network', 'bridge', image])));
    expect(runs.map((r) => r.code)).toEqual(Array(10).fill(0));
    const ids = runs.map((r) => r.stdout.trim());
    const infos = JSON.parse((await root.hull(['inspect', ...ids])).stdout) as { NetworkSettings: { IPAddress: string } }[];
    const addresses = infos.map((i) => i.NetworkSettings.IPAddress);
    expect(new Set(addresses).size).toBe(10);
    expect((await root.hull(['rm', '-f', ...ids])).code).toBe(0);
    await waitFor(() => !hostLinks().includes(root.bridge), 10_000, 'the bridge to go');
  });
});
