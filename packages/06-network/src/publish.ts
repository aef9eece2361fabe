// --publish HOSTPORT:CTRPORT as a userland TCP proxy inside the step process.
//
// Why not DNAT? A DNAT rule in nat/prerouting catches connections to the
// host's addresses, but a connection to 127.0.0.1 is local: it needs a rule in
// nat/output plus net.ipv4.conf.<bridge>.route_localnet=1, because the kernel
// refuses to route a 127.0.0.0/8 source out of a real interface, and then a
// masquerade so the container can answer. All doable, but the kernel would
// accept a second container publishing the same port without a word, and a
// crash would leave rules that still point at a dead address. A listening
// socket answers all three: listen() on 0.0.0.0:HOSTPORT covers 127.0.0.1 and
// every host address, EADDRINUSE tells us the port is taken (by anything,
// ours or not), and the kernel closes it when we die. The price: the
// container sees the bridge address as the client, not the real one, and
// every byte crosses our process (fine for a workshop; docker ships the same
// idea as docker-proxy).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ContainerError } from '@hull/01-uts';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
}

/** Parse "HOSTPORT:CTRPORT"; null if it is not two ports. */
export function parsePublish(text: string): PortMapping | null {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const hostPort = Number(m[1]);
  const containerPort = Number(m[2]);
  if (hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) return null;
  return { hostPort, containerPort };
}

export class PortProxy {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly mapping: PortMapping,
  ) {}

  /** Listen on every host address at mapping.hostPort and forward to target:containerPort. */
  static async listen(mapping: PortMapping, target: string): Promise<PortProxy> {
    // Half-open on both legs: a client that sends its request and shuts down
    // its side (as `nc` does at EOF) must still get the answer.
    const server = createServer({ allowHalfOpen: true });
    const proxy = new PortProxy(server, mapping);
    server.on('connection', (client) => proxy.forward(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') reject(new ContainerError(`--publish ${mapping.hostPort}:${mapping.containerPort}: host port ${mapping.hostPort} is already in use`));
        else if (err.code === 'EACCES') reject(new ContainerError(`--publish ${mapping.hostPort}:${mapping.containerPort}: not allowed to listen on port ${mapping.hostPort}`));
        else reject(err);
      });
      // exclusive: never share the port with a cluster sibling.
      server.listen({ port: mapping.hostPort, host: '0.0.0.0', exclusive: true }, resolve);
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
