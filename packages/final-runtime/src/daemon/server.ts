// The Engine API's HTTP server on a unix socket: plain node:http, one route
// table. Ordinary requests go through 'request'; attach and exec start come
// as `Connection: Upgrade` and go through 'upgrade', which hands us the raw
// socket (hijack.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { peerRefusal } from '../supervisor-socket.js';
import { API_VERSION, ApiError, errorStatus, notFound, sendError, splitVersion } from './api.js';
import { Containers } from './containers.js';
import { Execs } from './exec.js';
import { rawJsonReply } from './hijack.js';
import { Images } from './images.js';
import { info, ping, version } from './system.js';

type Handler = (m: string[], req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void | Promise<void>;

/** Endpoints docker has and hull does not (yet): a clear 501, never a hang or a bare 404. */
const NOT_IMPLEMENTED = /^\/(containers\/[^/]+\/(pause|unpause|restart|rename|update|top|changes|export|stats|archive|checkpoints)|containers\/prune|commit|build|networks|volumes|swarm|services|tasks|secrets|configs|plugins|nodes|session|distribution|events|system\/df|images\/(search|prune|get)|images\/.+\/(push|tag|history|get))(\/|$)/;

export class EngineApi {
  readonly containers: Containers;
  readonly execs: Execs;
  readonly images: Images;
  private readonly routes: [method: string, path: RegExp, handler: Handler][];

  constructor(readonly root: string) {
    this.containers = new Containers(root);
    this.execs = new Execs(this.containers);
    this.images = new Images(root);
    const c = this.containers;
    const i = this.images;
    this.routes = [
      ['GET', /^\/_ping$/, (_m, req, res) => ping(req, res)],
      ['HEAD', /^\/_ping$/, (_m, req, res) => ping(req, res)],
      ['GET', /^\/version$/, (_m, _req, res) => version(res)],
      ['GET', /^\/info$/, (_m, _req, res) => info(res, root)],
      ['POST', /^\/containers\/create$/, (_m, req, res, q) => c.create(req, res, q)],
      ['GET', /^\/containers\/json$/, (_m, _req, res, q) => c.list(res, q)],
      ['GET', /^\/containers\/([^/]+)\/json$/, (m, _req, res) => c.inspect(m[1]!, res)],
      ['POST', /^\/containers\/([^/]+)\/start$/, (m, _req, res) => c.start(m[1]!, res)],
      ['POST', /^\/containers\/([^/]+)\/wait$/, (m, _req, res, q) => c.wait(m[1]!, res, q)],
      ['POST', /^\/containers\/([^/]+)\/stop$/, (m, _req, res, q) => c.stop(m[1]!, res, q)],
      ['POST', /^\/containers\/([^/]+)\/kill$/, (m, _req, res, q) => c.kill(m[1]!, res, q)],
      ['POST', /^\/containers\/([^/]+)\/resize$/, (m, _req, res, q) => c.resize(m[1]!, res, q)],
      ['GET', /^\/containers\/([^/]+)\/logs$/, (m, _req, res, q) => c.logs(m[1]!, res, q)],
      ['DELETE', /^\/containers\/([^/]+)$/, (m, _req, res, q) => c.remove(m[1]!, res, q)],
      ['POST', /^\/containers\/([^/]+)\/exec$/, (m, req, res) => this.execs.create(m[1]!, req, res)],
      ['GET', /^\/exec\/([^/]+)\/json$/, (m, _req, res) => this.execs.inspect(m[1]!, res)],
      ['POST', /^\/exec\/([^/]+)\/resize$/, (m, _req, res, q) => this.execs.resize(m[1]!, res, q)],
      ['POST', /^\/images\/create$/, (_m, req, res, q) => i.create(req, res, q)],
      ['GET', /^\/images\/json$/, (_m, _req, res) => i.list(res)],
      ['POST', /^\/images\/load$/, (_m, req, res) => i.load(req, res)],
      ['GET', /^\/images\/(.+)\/json$/, (m, _req, res) => i.inspect(decodeURIComponent(m[1]!), res)],
      ['DELETE', /^\/images\/(.+)$/, (m, _req, res, q) => i.remove(decodeURIComponent(m[1]!), res, q)],
      ['POST', /^\/auth$/, (_m, req, res) => i.auth(req, res)],
    ];
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://hull');
      const [, path] = splitVersion(url.pathname);
      for (const [method, pattern, handler] of this.routes) {
        const m = pattern.exec(path);
        if (m && method === req.method) return await handler([...m], req, res, url.searchParams);
      }
      if (/^\/(containers\/[^/]+\/attach|exec\/[^/]+\/start)$/.test(path)) throw new ApiError(400, `${req.method} ${path}: needs an upgraded connection (Connection: Upgrade, Upgrade: tcp)`);
      if (NOT_IMPLEMENTED.test(path)) throw new ApiError(501, `${req.method} ${path}: not implemented by hull daemon (API ${API_VERSION} subset; see docs/daemon.md)`);
      throw notFound(`page not found: ${req.method} ${path}`);
    } catch (err) {
      if (errorStatus(err)[0] >= 500 && process.env.HULL_DEBUG === '1') process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      sendError(res, err);
    }
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://hull');
    const [, path] = splitVersion(url.pathname);
    let m;
    try {
      if (req.method === 'POST' && (m = /^\/containers\/([^/]+)\/attach$/.exec(path))) return this.containers.attach(m[1]!, socket, head, url.searchParams);
      if (req.method === 'POST' && (m = /^\/exec\/([^/]+)\/start$/.exec(path))) return await this.execs.start(m[1]!, req, socket, head);
      rawJsonReply(socket, 404, 'Not Found', { message: `page not found: ${req.method} ${path} (upgraded)` });
    } catch (err) {
      const [status, message] = errorStatus(err);
      if (socket.writable) rawJsonReply(socket, status, 'Error', { message });
    }
  }
}

/** The HTTP server: every connection is peer-checked before a byte of it is read. */
export function engineServer(api: EngineApi): Server {
  // http's own connection listener runs before ours and will still parse what
  // a refused peer sends: its requests must be dropped, not served.
  const refused = new WeakSet<object>();
  const server = createServer((req, res) => {
    if (refused.has(req.socket)) return void req.socket.destroy();
    void api.handle(req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refused.has(socket)) return void socket.destroy();
    void api.upgrade(req, socket, head);
  });
  server.on('connection', (conn: Socket) => {
    const refusal = peerRefusal(conn);
    if (!refusal) return;
    refused.add(conn);
    process.stderr.write(`hull daemon: refused a connection: ${refusal}\n`);
    const body = JSON.stringify({ message: `hull daemon: permission denied: ${refusal}` });
    conn.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    conn.destroySoon?.();
  });
  // Not HTTP at all (garbage, a header too long): one JSON 400 and the connection closes; the daemon goes on.
  server.on('clientError', (err: Error, socket: Duplex) => {
    if (!socket.writable) return void socket.destroy();
    const body = JSON.stringify({ message: `bad request: ${err.message}` });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  // Long-lived streams (attach, wait, logs -f, pull) must not be cut by Node's defaults.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

