// A real registry for pull tests: Debian's docker-registry (CNCF distribution
// 2.8) on 127.0.0.1 and a free port, storage in a temp dir, config written
// here. Three flavours:
//   anonymous  no auth at all;
//   basic      htpasswd (bcrypt via libcrypt's crypt(3), called through koffi,
//              so no apache2-utils is needed);
//   token      auth.token: the registry answers 401 + `WWW-Authenticate: Bearer
//              realm,service,scope`, and a token server in this process signs
//              RS256 JWTs with an openssl-made key whose self-signed cert the
//              registry trusts (rootcertbundle; the cert travels in the x5c header).
//              This is Docker Hub's flow.
// Flavours may share one storage dir, so an image pushed to the anonymous
// registry is served by the others too.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import type { CertFiles } from './certs.js';
import { type BuiltImage, type BuiltIndex, blobsOf, rootOf } from './oci-image.js';

export type RegistryFlavour = 'anonymous' | 'basic' | 'token';

/** What a test needs to reach a registry; plain JSON, so vitest `provide` can carry it. */
export interface RegistryInfo {
  flavour: RegistryFlavour;
  /** "127.0.0.1:PORT", the host part of an image reference */
  host: string;
  /** its storage root (docker/registry/v2/...), for tests that tamper with blobs */
  storage: string;
  /** the credentials that work (basic, token); anonymous pulls work on `token` for repos outside private/ */
  username?: string;
  password?: string;
  /** token flavour: GET this URL for {"issued": N}, the tokens signed so far (to test caching) */
  tokenStats?: string;
  /** served over TLS (and so is the token realm) */
  tls?: boolean;
}

export interface RunningRegistry extends RegistryInfo {
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

let cryptFns: { crypt: (phrase: string, setting: string) => string | null; gensalt: (prefix: string, count: number, rbytes: null, n: number) => string | null } | undefined;

/** An htpasswd line `user:$2b$...`: distribution's htpasswd accepts bcrypt only. */
export function htpasswdLine(user: string, password: string): string {
  if (!cryptFns) {
    const lib = koffi.load('libcrypt.so.1');
    cryptFns = {
      crypt: lib.func('const char *crypt(const char *phrase, const char *setting)') as (p: string, s: string) => string | null,
      gensalt: lib.func('const char *crypt_gensalt(const char *prefix, unsigned long count, const char *rbytes, int nrbytes)') as (
        prefix: string,
        count: number,
        rbytes: null,
        n: number,
      ) => string | null,
    };
  }
  const salt = cryptFns.gensalt('$2b$', 5, null, 0);
  const hash = salt ? cryptFns.crypt(password, salt) : null;
  if (!hash || !hash.startsWith('$2')) throw new Error('libcrypt cannot make bcrypt hashes');
  return `${user}:${hash}`;
}

function base64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

interface TokenServer {
  realm: string;
  certFile: string;
  issued: () => number;
  close: () => Promise<void>;
}

const SERVICE = 'hull-test-registry';
const ISSUER = 'hull-test-token-server';

/**
 * The token server: GET /token?service=S&scope=repository:NAME:pull.
 * Basic credentials must be right when given (else 401, as Docker Hub does);
 * anonymous callers get pull on every repository outside `private/`.
 */
async function startTokenServer(dir: string, username: string, password: string, tls?: CertFiles): Promise<TokenServer> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=hull-test-token'], {
    stdio: 'ignore',
  });
  const key = readFileSync(keyFile, 'utf8');
  const certDer = Buffer.from(
    readFileSync(certFile, 'utf8')
      .replace(/-----[A-Z ]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  let issued = 0;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issued }));
      return;
    }
    let subject = '';
    const auth = req.headers.authorization;
    if (auth) {
      const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
      if (!auth.startsWith('Basic ') || user !== username || pass !== password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      subject = username;
    }
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) {
      res.writeHead(400).end();
      return;
    }
    const access = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .map((s) => {
        const parts = s.split(':');
        const actions = (parts.pop() ?? '').split(',');
        const [type, ...name] = parts;
        return { type: type ?? '', name: name.join(':'), actions };
      })
      .filter((a) => a.type === 'repository' && (subject !== '' || !a.name.startsWith('private/')))
      .map((a) => ({ ...a, actions: a.actions.filter((x) => x === 'pull' || (subject !== '' && x === 'push')) }));
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: ISSUER, sub: subject, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(key);
    issued++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${input}.${base64url(signature)}`, expires_in: 300, issued_at: new Date().toISOString() }));
  };
  // Over TLS the realm is https too, with the registry's own certificate (as Docker Hub's auth.docker.io).
  const server: Server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    realm: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/token`,
    certFile,
    issued: () => issued,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface StartRegistryOptions {
  flavour: RegistryFlavour;
  /** share a storage root with another registry; default: a new temp dir */
  storage?: string;
  /** serve HTTPS with this certificate; `clientCAs` makes the registry demand a client certificate signed by one of them */
  tls?: CertFiles & { clientCAs?: string[] };
}

/** Start docker-registry and wait until /v2/ answers. Call `stop()` to end it and remove its temp files. */
export async function startRegistry(opts: StartRegistryOptions): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), `hull-registry-${opts.flavour}-`));
  const storage = opts.storage ?? join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const username = opts.flavour === 'anonymous' ? undefined : `u${randomBytes(4).toString('hex')}`;
  const password = opts.flavour === 'anonymous' ? undefined : randomBytes(12).toString('hex');
  let token: TokenServer | undefined;
  let auth: Record<string, unknown> | undefined;
  if (opts.flavour === 'basic') {
    writeFileSync(join(dir, 'htpasswd'), `${htpasswdLine(username!, password!)}\n`);
    auth = { htpasswd: { realm: 'hull-test', path: join(dir, 'htpasswd') } };
  } else if (opts.flavour === 'token') {
    token = await startTokenServer(dir, username!, password!, opts.tls);
    auth = { token: { realm: token.realm, service: SERVICE, issuer: ISSUER, rootcertbundle: token.certFile } };
  }
  // JSON is YAML, so the config needs no YAML writer.
  const config = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
    http: {
      addr: host,
      secret: randomBytes(16).toString('hex'),
      ...(opts.tls ? { tls: { certificate: opts.tls.cert, key: opts.tls.key, ...(opts.tls.clientCAs ? { clientcas: opts.tls.clientCAs } : {}) } } : {}),
    },
    ...(auth ? { auth } : {}),
  };
  writeFileSync(join(dir, 'config.yml'), JSON.stringify(config));
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await token?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await (opts.tls ? tlsAnswers(host) : fetch(`http://${host}/v2/`));
      break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry (${opts.flavour}) did not start: ${stderr.trim().split('\n').pop() ?? ''}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    flavour: opts.flavour,
    host,
    storage,
    ...(username ? { username, password } : {}),
    ...(token ? { tokenStats: token.realm.replace(/\/token$/, '/stats') } : {}),
    ...(opts.tls ? { tls: true } : {}),
    stop,
  };
}

/**
 * Resolves once `host` accepts a TCP connection. Readiness only: no handshake,
 * since some tests serve bad certificates or demand a client certificate.
 */
function tlsAnswers(host: string): Promise<void> {
  const [address, port] = [host.replace(/:\d+$/, ''), Number(host.split(':').pop())];
  return new Promise((resolve, reject) => {
    const sock = connect(port, address, () => {
      sock.destroy();
      resolve();
    });
    sock.on('error', reject);
  });
}

/** Where the registry's filesystem driver keeps a blob's bytes (to corrupt or truncate it in tests). */
export function registryBlobPath(storage: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * Push an image or index as `name:tag` with the distribution HTTP API (monolithic
 * blob uploads, then the manifests, children before the index). Anonymous
 * registries only: push there and read through the others sharing its storage.
 */
export async function pushImage(host: string, name: string, tag: string, root: BuiltImage | BuiltIndex): Promise<string> {
  const base = `http://${host}/v2/${name}`;
  const images = root.kind === 'index' ? root.images : [root];
  const manifests = new Set(images.map((i) => i.manifest.digest));
  if (root.kind === 'index') manifests.add(root.index.digest);
  for (const b of blobsOf(root)) {
    if (manifests.has(b.digest)) continue;
    const head = await fetch(`${base}/blobs/${b.digest}`, { method: 'HEAD' });
    if (head.ok) continue;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new Error(`push ${name}: upload start: HTTP ${start.status}`);
    const url = new URL(location, `http://${host}`);
    url.searchParams.set('digest', b.digest);
    const put = await fetch(url, { method: 'PUT', body: b.bytes, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`push ${name}: blob ${b.digest}: HTTP ${put.status} ${await put.text()}`);
  }
  for (const i of images) await putManifest(base, i.manifest.digest, i.manifest.bytes, i.manifest.mediaType);
  const top = rootOf(root);
  await putManifest(base, tag, top.bytes, top.mediaType);
  return top.digest;
}

async function putManifest(base: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
  const r = await fetch(`${base}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } });
  if (r.status !== 201) throw new Error(`push manifest ${ref}: HTTP ${r.status} ${await r.text()}`);
}
