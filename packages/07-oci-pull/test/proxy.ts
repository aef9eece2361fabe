// A TCP proxy in front of the registry, for the failures a real network has:
// a slow link (so a test can kill a pull half-way) and a connection cut in the
// middle of a blob (so a retry must happen).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ProxyOptions {
  /** throttle registry -> client to about this many bytes per second */
  bytesPerSecond?: number;
  /** cut a connection once it has carried this many bytes to the client ... */
  cutAfter?: number;
  /** ... this many times (then pass everything) */
  cuts?: number;
}

export interface Proxy {
  host: string;
  cutsDone(): number;
  /** the most client connections open at once */
  maxOpen(): number;
  /** bytes sent to clients, all connections together */
  bytesSent(): number;
  close(): Promise<void>;
}

export async function startProxy(target: string, opts: ProxyOptions = {}): Promise<Proxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let cuts = 0;
  let open = 0;
  let total = 0;
  let maxOpen = 0;
  const server: Server = createServer((client) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    client.once('close', () => open--);
    const upstream = connect(Number(targetPort), targetHost);
    sockets.add(client).add(upstream);
    let sent = 0;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      sent += d.length;
      if (opts.cutAfter !== undefined && sent > opts.cutAfter && cuts < (opts.cuts ?? 1)) {
        cuts++;
        const part = d.subarray(0, d.length - (sent - opts.cutAfter));
        total += part.length;
        client.write(part);
        client.destroy();
        upstream.destroy();
        return;
      }
      total += d.length;
      client.write(d);
      if (opts.bytesPerSecond) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (d.length / opts.bytesPerSecond) * 1000);
      }
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    cutsDone: () => cuts,
    maxOpen: () => maxOpen,
    bytesSent: () => total,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
