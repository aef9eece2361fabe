// --publish [IP:]HOSTPORT:CTRPORT[/tcp|/udp] as a userland proxy inside the
// step process (TCP: PortProxy; UDP: UdpProxy, at the end of this file).
//
// Why not DNAT? A DNAT rule in nat/prerouting catches connections to the
// host's addresses, but a connection to 127.0.0.1 is local: it needs a rule in
// nat/output plus net.ipv4.conf.<bridge>.route_localnet=1, because the kernel
// refuses to route a 127.0.0.0/8 source out of a real interface, and then a
// masquerade so the container can answer. All doable, but the kernel would
// accept a second container publishing the same port without a word, and a
// crash would leave rules that still point at a dead address. A listening
// socket answers all three: listen() on 0.0.0.0:HOSTPORT covers 127.0.0.1 and
// every host address (an IP: narrows it to that one), EADDRINUSE tells us the
// port is taken (by anything, ours or not), and the kernel closes it when we
// die. The price: the
// container sees the bridge address as the client, not the real one, and
// every byte crosses our process (fine for a workshop; docker ships the same
// idea as docker-proxy).
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, isIPv4, type Server, type Socket } from 'node:net';
import { ContainerError } from '@hull/01-uts';

export type Protocol = 'tcp' | 'udp';

export interface PortMapping {
  /** The host address to listen on; absent: every address (0.0.0.0). */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  /** Absent in configs written before UDP existed: TCP. */
  protocol?: Protocol;
}

const PUBLISH = /^(?:([^:]+):)?(\d{1,5}):(\d{1,5})(?:\/([a-z]+))?$/;

/**
 * What is wrong with "[IP:]HOSTPORT:CTRPORT[/tcp|/udp]" (docker's -p syntax,
 * IPv4 only), or null if nothing is. One parser for chapter 06's step and
 * the hull CLI; each wraps the reason in its own usage error.
 */
export function publishProblem(text: string): string | null {
  const m = PUBLISH.exec(text);
  if (!m) return 'must be [IP:]HOSTPORT:CTRPORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp';
  const [, ip, host, ctr, proto] = m;
  if (ip !== undefined && !isIPv4(ip)) return `${JSON.stringify(ip)} is not an IPv4 address`;
  for (const port of [host, ctr]) if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is not in 1-65535`;
  if (proto !== undefined && proto !== 'tcp' && proto !== 'udp') return `protocol ${JSON.stringify(proto)}: use tcp or udp`;
  return null;
}

/** Parse "[IP:]HOSTPORT:CTRPORT[/tcp|/udp]"; null if publishProblem has something to say. */
export function parsePublish(text: string): PortMapping | null {
  if (publishProblem(text) !== null) return null;
  const [, ip, host, ctr, proto] = PUBLISH.exec(text)!;
  return { ...(ip !== undefined && ip !== '0.0.0.0' ? { hostIp: ip } : {}), hostPort: Number(host), containerPort: Number(ctr), protocol: proto === 'udp' ? 'udp' : 'tcp' };
}

/** The mapping as the user would write it: "8080:80", "127.0.0.1:53:53/udp". */
export function formatPublish(m: PortMapping): string {
  return `${m.hostIp ? `${m.hostIp}:` : ''}${m.hostPort}:${m.containerPort}${m.protocol === 'udp' ? '/udp' : ''}`;
}

/**
 * Two mappings that would want the same host socket: same protocol, same
 * port, and addresses that overlap (equal, or one of them every address).
 * The kernel would refuse the second bind anyway; saying so before anything
 * is created names both flags.
 */
export function publishConflict(mappings: readonly PortMapping[]): string | null {
  for (const [i, a] of mappings.entries()) {
    for (const b of mappings.slice(i + 1)) {
      const sameAddress = !a.hostIp || !b.hostIp || a.hostIp === b.hostIp;
      if ((a.protocol ?? 'tcp') === (b.protocol ?? 'tcp') && a.hostPort === b.hostPort && sameAddress) {
        return `${formatPublish(a)} and ${formatPublish(b)} both want host port ${a.hostPort}/${a.protocol ?? 'tcp'}`;
      }
    }
  }
  return null;
}

/** The bind failure a user can act on, as one line. */
function bindError(mapping: PortMapping, err: NodeJS.ErrnoException): Error {
  const what = `--publish ${formatPublish(mapping)}`;
  if (err.code === 'EADDRINUSE') return new ContainerError(`${what}: host port ${mapping.hostPort}${mapping.protocol === 'udp' ? '/udp' : ''} is already in use`);
  if (err.code === 'EACCES') return new ContainerError(`${what}: not allowed to listen on port ${mapping.hostPort}`);
  if (err.code === 'EADDRNOTAVAIL') return new ContainerError(`${what}: ${mapping.hostIp} is not an address of this host`);
  return err;
}

/** A proxy for one published port: TCP (PortProxy) or UDP (UdpProxy). */
export interface Proxy {
  readonly mapping: PortMapping;
  close(): Promise<void>;
}

/** Listen for one mapping, TCP or UDP, and forward to target:containerPort. */
export function listenPublished(mapping: PortMapping, target: string): Promise<Proxy> {
  return mapping.protocol === 'udp' ? UdpProxy.listen(mapping, target) : PortProxy.listen(mapping, target);
}

export class PortProxy implements Proxy {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly mapping: PortMapping,
  ) {}

  /** Listen on mapping.hostIp (every host address without one) at mapping.hostPort and forward to target:containerPort. */
  static async listen(mapping: PortMapping, target: string): Promise<PortProxy> {
    // Half-open on both legs: a client that sends its request and shuts down
    // its side (as `nc` does at EOF) must still get the answer.
    const server = createServer({ allowHalfOpen: true });
    const proxy = new PortProxy(server, mapping);
    server.on('connection', (client) => proxy.forward(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(bindError(mapping, err)));
      // exclusive: never share the port with a cluster sibling.
      server.listen({ port: mapping.hostPort, host: mapping.hostIp ?? '0.0.0.0', exclusive: true }, resolve);
    });
    return proxy;
  }

  private forward(client: Socket, target: string): void {
    const upstream = createConnection({ host: target, port: this.mapping.containerPort, allowHalfOpen: true });
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // A refused connection (nothing listens yet in the container) closes the client: the same as a closed port.
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** How long a UDP client may stay silent (both ways) before its upstream socket is closed. */
export const UDP_IDLE_MS = 60_000;
/** Most UDP clients relayed at once: each holds a socket, and UDP sources are trivially forged. */
const UDP_MAX_CLIENTS = 1024;

/**
 * --publish .../udp. UDP has no connection to accept, so the proxy makes one
 * up: ONE host socket receives every client's datagrams; the first datagram
 * from a client (address:port) opens an upstream socket of its own toward
 * target:containerPort, so the container's replies, arriving on that socket,
 * can only belong to that client and are sent back to it from the host
 * socket (the address it wrote to). A session ends after UDP_IDLE_MS with no
 * datagram either way, as NAT conntrack ends a UDP flow.
 */
export class UdpProxy implements Proxy {
  private readonly sessions = new Map<string, { upstream: UdpSocket; timer: NodeJS.Timeout }>();

  private constructor(
    private readonly socket: UdpSocket,
    readonly mapping: PortMapping,
    private readonly target: string,
    private readonly idleMs: number,
  ) {}

  static async listen(mapping: PortMapping, target: string, idleMs = UDP_IDLE_MS): Promise<UdpProxy> {
    // No reuseAddr: a second bind of the port (ours or anyone's) must fail.
    const socket = createSocket({ type: 'udp4' });
    const proxy = new UdpProxy(socket, mapping, target, idleMs);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => reject(bindError(mapping, err)));
      socket.bind({ port: mapping.hostPort, address: mapping.hostIp ?? '0.0.0.0', exclusive: true }, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    // A send that fails (a client gone, ICMP) is that datagram's loss, not the proxy's.
    socket.on('error', () => undefined);
    socket.on('message', (msg, client) => proxy.fromClient(msg, client));
    return proxy;
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      if (this.sessions.size >= UDP_MAX_CLIENTS) return; // dropped, as a full conntrack table would
      const upstream = createSocket({ type: 'udp4' });
      upstream.on('error', () => this.end(key));
      upstream.on('message', (reply, from) => {
        // Only the container's port may answer through this session.
        if (from.address !== this.target || from.port !== this.mapping.containerPort) return;
        this.touch(key);
        this.socket.send(reply, client.port, client.address);
      });
      session = { upstream, timer: setTimeout(() => this.end(key), this.idleMs) };
      this.sessions.set(key, session);
    }
    this.touch(key);
    session.upstream.send(msg, this.mapping.containerPort, this.target);
  }

  private touch(key: string): void {
    this.sessions.get(key)?.timer.refresh();
  }

  private end(key: string): void {
    const session = this.sessions.get(key);
    if (!session) return;
    this.sessions.delete(key);
    clearTimeout(session.timer);
    try {
      session.upstream.close();
    } catch {
      // already closed
    }
  }

  async close(): Promise<void> {
    for (const key of [...this.sessions.keys()]) this.end(key);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
