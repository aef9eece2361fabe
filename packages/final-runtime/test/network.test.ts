// --network none|bridge|host and -p through chapter 06: what the container
// sees, what the host sees, and the bridge gone with the last container.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, freePort, hostSnapshot, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { HullRoot, ownLeftovers, pushBusybox, requireBuild } from './hull.js';

function hostLinks(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter(Boolean);
}

describe.skipIf(!requireRoot('final-runtime network'))('hull run --network / -p', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const page = randomToken(24);
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] }, [{ entries: [{ path: 'www', type: 'directory' }, { path: 'www/index.html', content: page }] }]);
    await root.hull(['pull', image]);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(hostLinks().filter((l) => l.startsWith(root.bridge))).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(ownLeftovers(before, root)).toEqual({});
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
    for (const spec of ['8080:80/udp', '127.0.0.1:8080:80', '80']) {
      const bad = await root.hull(['run', '--rm', '--network', 'bridge', '-p', spec, image, 'true']);
      expect(bad.code, spec).toBe(125);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
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
