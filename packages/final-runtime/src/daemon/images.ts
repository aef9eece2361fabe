// The image endpoints over chapter 07's store, as `hull pull/images/rmi/load/login` use it.
// Pull progress is docker's JSON-lines stream, which the CLI renders as bars:
//   {"status":"Downloading","progressDetail":{"current":N,"total":M},"id":"<layer>"}
// An error after the 200 is in the stream too: {"errorDetail":{"message":..},"error":..}.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseReference, type Progress, pull, RegistryClient, Store } from '@hull/07-oci-pull';
import { inspectImage, removeReference } from '../commands/images.js';
import { findImage, imageShortId, normaliseRef } from '../image.js';
import { containerIds, readConfig } from '../store.js';
import { ApiError, badParameter, conflict, notFound, parseJsonObject, queryBool, readBody, sendJson } from './api.js';

function insecureRegistries(): string[] {
  return (process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean);
}

function jsonProgress(res: ServerResponse): Progress {
  const send = (v: unknown) => res.write(`${JSON.stringify(v)}\r\n`);
  return {
    layer: (id, status, current, total) => send({ status, id: id.replace(/^sha256:/, '').slice(0, 12), ...(current !== undefined ? { progressDetail: { current, total } } : { progressDetail: {} }) }),
    line: (text) => send({ status: text }),
    warn: (text) => send({ status: `warning: ${text}` }),
    stop: () => undefined,
  };
}

/** The image a path names, or 404 as docker words it. */
function imageOf(store: Store, name: string) {
  let image;
  try {
    image = findImage(store, name);
  } catch (err) {
    throw badParameter(`invalid reference format: ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!image) throw notFound(`No such image: ${name}`);
  return image;
}

function createdOf(config: { created?: string }): number {
  const t = Date.parse(config.created ?? '');
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

export class Images {
  constructor(readonly root: string) {}

  /** POST /images/create?fromImage=REPO&tag=TAG: a pull, its progress streamed. */
  async create(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const from = query.get('fromImage');
    if (!from) throw badParameter('fromImage is required (hull does not import from fromSrc)');
    const tag = query.get('tag') ?? '';
    const ref = tag === '' ? from : tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`;
    try {
      normaliseRef(ref);
    } catch (err) {
      throw badParameter(`invalid reference format: ${ref}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const credentials = registryAuth(req);
    const store = new Store(this.root);
    const env = noConfigEnv(this.root);
    // 07's pull reads credentials from an auth file: one of our own, 0600, for this pull only.
    const authFile = credentials ? store.tempPath('auth') : undefined;
    if (authFile) {
      const registry = parseReference(ref).registry;
      writeFileSync(authFile, JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`${credentials!.username}:${credentials!.password}`).toString('base64') } } }), { mode: 0o600 });
      env.REGISTRY_AUTH_FILE = authFile;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const progress = jsonProgress(res);
    progress.line(`Pulling from ${from}`);
    try {
      const image = await pull({ ref, store, progress, insecure: insecureRegistries(), env });
      progress.line(`Digest: ${image.record.digest}`);
      progress.line(`Status: ${image.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${image.reference}`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\r\n`);
    } finally {
      if (authFile) rmSync(authFile, { force: true });
    }
    res.end();
  }

  list(res: ServerResponse): void {
    const store = new Store(this.root);
    const out = Object.entries(store.images()).map(([ref, record]) => {
      let created = 0;
      try {
        created = createdOf(findImage(store, ref)?.config ?? {});
      } catch {
        // a broken record still lists
      }
      return {
        Id: record.config,
        ParentId: '',
        RepoTags: [ref],
        RepoDigests: [`${ref.replace(/:[^:/]+$/, '')}@${record.digest}`],
        Created: created,
        Size: 0,
        VirtualSize: 0,
        SharedSize: -1,
        Labels: {},
        Containers: -1,
      };
    });
    sendJson(res, 200, out);
  }

  async inspect(name: string, res: ServerResponse): Promise<void> {
    const store = new Store(this.root);
    const image = imageOf(store, name);
    const base = (await inspectImage(image.ref)) ?? {};
    sendJson(res, 200, { ...base, Created: image.config.created ?? '', Size: 0, VirtualSize: 0, Parent: '', Comment: '', Os: image.config.os, Architecture: image.config.architecture });
  }

  remove(name: string, res: ServerResponse, query: URLSearchParams): void {
    const store = new Store(this.root);
    const image = imageOf(store, name);
    const users = containerIds(this.root)
      .map((id) => readConfig(id, this.root))
      .filter((c) => c.image === image.ref);
    if (users.length && !queryBool(query, 'force'))
      throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${imageShortId(image.record)}`);
    removeReference(store, image.ref);
    sendJson(res, 200, [{ Untagged: image.ref }, { Deleted: image.record.config }]);
  }

  /** POST /images/load: the body is the archive; `hull load` (the same code as the CLI) reads it on stdin. */
  load(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'load'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HULL_ROOT: this.root } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
      child.stdin.on('error', () => undefined);
      req.pipe(child.stdin);
      child.on('close', (code) => {
        if (code === 0) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          for (const line of out.split('\n').filter(Boolean)) res.write(`${JSON.stringify({ stream: `${line}\n` })}\r\n`);
          res.end();
        } else sendJson(res, 400, { message: err.trim().replace(/^hull: /, '') || `hull load exited ${code}` });
        resolve();
      });
    });
  }

  /**
   * POST /auth: check the credentials against the registry, as dockerd does,
   * and keep nothing: the client stores them and sends them with each pull
   * (X-Registry-Auth), so the daemon never reads or writes anyone's config.json.
   */
  async auth(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJsonObject(await readBody(req), 'auth config');
    const { username, password, serveraddress } = body;
    if (typeof username !== 'string' || typeof password !== 'string' || typeof serveraddress !== 'string' || !username || !serveraddress)
      throw badParameter('auth config: username, password and serveraddress are required');
    let registry: string;
    try {
      registry = parseReference(`${serveraddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '')}/probe/probe`).registry;
    } catch (err) {
      throw badParameter(`serveraddress ${serveraddress}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const client = new RegistryClient({ registry, credentials: { username, password }, insecure: insecureRegistries(), env: noConfigEnv(this.root) });
    let status: number;
    try {
      const answer = await client.get('/v2/', '');
      await answer.body?.cancel();
      status = answer.status;
    } catch (err) {
      throw new ApiError(500, `login to ${registry}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (status === 401 || status === 403) throw new ApiError(401, `login to ${registry}: unauthorized: incorrect username or password`);
    if (status < 200 || status >= 300) throw new ApiError(500, `login to ${registry}: the registry answered HTTP ${status}`);
    sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  }
}

/**
 * The daemon's pulls see only the credentials the client sent: no config.json
 * of the daemon's own user (DOCKER_CONFIG points at a directory that is never made).
 */
function noConfigEnv(root: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(root, 'no-docker-config') };
  delete env.REGISTRY_AUTH_FILE;
  return env;
}

/** X-Registry-Auth: base64url of {"username","password",...}, as the CLI sends it on a pull. */
function registryAuth(req: IncomingMessage): { username: string; password: string } | undefined {
  const header = req.headers['x-registry-auth'];
  if (typeof header !== 'string' || header === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw badParameter('X-Registry-Auth: not base64url JSON');
  }
  const v = (value ?? {}) as Record<string, unknown>;
  if (typeof v.username === 'string' && typeof v.password === 'string' && v.username) return { username: v.username, password: v.password };
  return undefined;
}
