// The container endpoints. Every reference goes through findContainer, which
// refuses what can be neither a name nor an id (`../../x`) before any path is
// made from it; the store's ids are 64 hex digits, so a path never escapes.
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { catchesSignal, ContainerError } from '@hull/01-uts';
import { inspectContainer } from '../commands/inspect.js';
import { signalOf } from '../commands/kill.js';
import { statusText } from '../commands/ps.js';
import { removeContainer } from '../commands/rm.js';
import { signalContainer, waitSettled } from '../commands/signal-container.js';
import type { LogLine } from '../logs.js';
import { findContainer } from '../names.js';
import { type ContainerConfig, containerIds, isRunning, isSettled, logPath, observedState, readConfig } from '../store.js';
import { badParameter, conflict, notFound, parseJsonObject, queryBool, queryInt, readBody, sendEmpty, sendJson } from './api.js';
import { createFromRequest, readExtras } from './create.js';
import { acceptUpgrade, frame, rawJsonReply, type StreamId } from './hijack.js';
import { Session } from './session.js';

/** What the daemon holds in memory: the sessions of the containers it started (or will start). */
export class Containers {
  readonly sessions = new Map<string, Session>();
  constructor(readonly root: string) {}

  /** A reference from a URL, as docker resolves it; 404 when nothing matches. */
  find(ref: string): ContainerConfig {
    try {
      return findContainer(decodeURIComponent(ref), this.root);
    } catch (err) {
      if (err instanceof ContainerError && /^no such container/.test(err.message)) throw notFound(`No such container: ${ref}`);
      if (err instanceof ContainerError) throw badParameter(err.message);
      throw err;
    }
  }

  session(config: ContainerConfig): Session {
    let s = this.sessions.get(config.id);
    if (!s) {
      const extras = readExtras(config.id, this.root);
      s = new Session(config, this.root, { open: extras?.openStdin ?? false, once: extras?.stdinOnce ?? false });
      this.sessions.set(config.id, s);
    }
    return s;
  }

  async create(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const body = parseJsonObject(await readBody(req), 'container config');
    const { config } = createFromRequest(body, query.get('name'), this.root);
    this.session(config);
    sendJson(res, 201, { Id: config.id, Warnings: [] });
  }

  async start(ref: string, res: ServerResponse): Promise<void> {
    const config = this.find(ref);
    const state = observedState(config.id, this.root);
    if (state.status === 'running') return sendEmpty(res, 304);
    if (state.status !== 'created') throw conflict(`container ${config.name} has already run: hull starts a container once (create a new one)`);
    const session = this.session(config);
    void session.settled.then(() => this.sessions.delete(config.id));
    await session.start();
    sendEmpty(res, 204);
  }

  /** Wait: headers at once (the CLI waits for them before it starts the container), the status when it comes. */
  async wait(ref: string, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const config = this.find(ref);
    // The CLI's `docker wait` sends condition= (empty): docker's default, not-running.
    const condition = query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw badParameter(`invalid condition: ${condition}`);
    const session = this.sessions.get(config.id);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let code: number;
    let error: string | undefined;
    if (session) {
      const ending = condition === 'removed' ? await session.settled : await session.nextExit();
      code = ending.code;
      error = ending.error;
      if (condition === 'removed') await waitRemoved(config.id, this.root, res);
    } else {
      // Not ours (started by `hull run -d`, or before a daemon restart): watch the store.
      if (condition !== 'not-running' || observedState(config.id, this.root).status === 'running') {
        while (!isSettled(config.id, this.root) && !res.destroyed) await new Promise((r) => setTimeout(r, 100));
      }
      let state;
      try {
        state = observedState(config.id, this.root);
      } catch {
        state = undefined;
      }
      code = state?.exitCode ?? 0;
      if (condition === 'removed') await waitRemoved(config.id, this.root, res);
    }
    res.end(JSON.stringify({ StatusCode: code, ...(error ? { Error: { Message: error } } : { Error: null }) }));
  }

  async stop(ref: string, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const config = this.find(ref);
    const state = observedState(config.id, this.root);
    if (!isRunning(state)) return sendEmpty(res, 304);
    const grace = queryInt(query, 't') ?? 10;
    // PID 1 of a PID namespace never dies of a signal it does not handle, so
    // the grace period is only worth waiting when it catches SIGTERM.
    if (catchesSignal(state.pid, 'SIGTERM')) {
      signalContainer(state, 'SIGTERM');
      if (await waitSettled(config.id, grace * 1000)) return sendEmpty(res, 204);
    }
    signalContainer(state, 'SIGKILL');
    if (!(await waitSettled(config.id, 10_000))) throw new ContainerError(`container ${config.name} did not stop`);
    sendEmpty(res, 204);
  }

  async kill(ref: string, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const config = this.find(ref);
    const signal = signalOf(query.get('signal') || 'SIGKILL'); // a UsageError: 400
    const state = observedState(config.id, this.root);
    if (!isRunning(state)) throw conflict(`Container ${config.id} is not running`);
    signalContainer(state, signal);
    sendEmpty(res, 204);
  }

  async remove(ref: string, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const config = this.find(ref);
    const state = observedState(config.id, this.root);
    if (state.status === 'running') {
      if (!queryBool(query, 'force'))
        throw conflict(`You cannot remove a running container ${config.id}. Stop the container before attempting removal or force remove`);
      signalContainer(state, 'SIGKILL');
      if (!(await waitSettled(config.id, 10_000))) throw new ContainerError(`container ${config.name} did not die`);
    }
    // Its monitor (a session here) records the exit and unmounts; let it finish before the directory goes.
    const session = this.sessions.get(config.id);
    if (session && state.status !== 'created') await session.settled;
    this.sessions.delete(config.id);
    if (containerIds(this.root).includes(config.id)) await removeContainer(config.id);
    sendEmpty(res, 204);
  }

  list(res: ServerResponse, query: URLSearchParams): void {
    const all = queryBool(query, 'all');
    const out: Record<string, unknown>[] = [];
    for (const id of containerIds(this.root)) {
      try {
        const config = readConfig(id, this.root);
        const state = observedState(id, this.root);
        if (!all && state.status !== 'running') continue;
        out.push({
          Id: id,
          Names: [`/${config.name}`],
          Image: readExtras(id, this.root)?.imageRef ?? config.image,
          ImageID: config.imageId,
          Command: config.argv.join(' '),
          Created: Math.floor(Date.parse(config.created) / 1000),
          State: state.status,
          Status: statusText(state),
          Ports: config.publish.map((m) => ({ IP: m.hostIp ?? '0.0.0.0', PrivatePort: m.containerPort, PublicPort: m.hostPort, Type: m.protocol ?? 'tcp' })),
          Labels: readExtras(id, this.root)?.labels ?? {},
          HostConfig: { NetworkMode: config.network },
          Mounts: [],
        });
      } catch {
        // removed while we listed
      }
    }
    out.sort((a, b) => Number(b.Created) - Number(a.Created));
    sendJson(res, 200, out);
  }

  inspect(ref: string, res: ServerResponse): void {
    const config = this.find(ref);
    const state = observedState(config.id, this.root);
    const base = inspectContainer(config, state);
    const extras = readExtras(config.id, this.root);
    const baseConfig = base.Config as Record<string, unknown>;
    sendJson(res, 200, {
      ...base,
      State: { ...(base.State as object), Paused: false, Restarting: false, OOMKilled: state.exitCode === 137, Dead: false },
      RestartCount: 0,
      Driver: state.rootfsDriver || 'overlay',
      Platform: 'linux',
      Config: {
        ...baseConfig,
        Tty: config.tty,
        OpenStdin: extras?.openStdin ?? false,
        StdinOnce: extras?.stdinOnce ?? false,
        AttachStdin: extras?.attachStdin ?? false,
        Entrypoint: extras?.entrypoint ?? null,
        Cmd: extras?.cmd ?? config.argv,
        Image: extras?.imageRef ?? config.image,
        Labels: extras?.labels ?? {},
      },
    });
  }

  resize(ref: string, res: ServerResponse, query: URLSearchParams): void {
    const config = this.find(ref);
    const rows = queryInt(query, 'h') ?? 0;
    const cols = queryInt(query, 'w') ?? 0;
    if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535) throw badParameter(`invalid size ${rows}x${cols}`);
    this.sessions.get(config.id)?.resize(rows, cols);
    sendEmpty(res, 200);
  }

  /** GET /containers/{id}/logs: the json log, framed like attach (raw with a TTY); follow = until it exits. */
  logs(ref: string, res: ServerResponse, query: URLSearchParams): void {
    const config = this.find(ref);
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    if (!stdout && !stderr) throw badParameter('you must choose at least one stream');
    const timestamps = queryBool(query, 'timestamps');
    const tailText = query.get('tail') ?? 'all';
    const tail = tailText === 'all' || tailText === '' ? undefined : Number(tailText);
    if (tail !== undefined && !(Number.isSafeInteger(tail) && tail >= 0)) throw badParameter(`invalid tail: ${tailText}`);
    const path = logPath(config.id, this.root);
    const want = (s: StreamId) => (s === 1 ? stdout : stderr);
    res.writeHead(200, { 'Content-Type': config.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    const send = (s: StreamId, chunk: Buffer) => {
      if (want(s)) res.write(config.tty ? chunk : frame(s, chunk));
    };
    // Read the file and subscribe in one synchronous step: nothing written between them is lost or doubled.
    let lines: LogLine[] = existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as LogLine)
      : [];
    if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
    for (const l of lines) send(l.stream === 'stderr' ? 2 : 1, Buffer.from(timestamps ? `${l.time} ${l.log}` : l.log));
    const session = this.sessions.get(config.id);
    if (!queryBool(query, 'follow') || !session) return void res.end();
    const unsubscribe = session.subscribe(send, () => res.end());
    res.on('close', unsubscribe);
  }

  /** POST /containers/{id}/attach, upgraded: the container's stdio over this socket. */
  attach(ref: string, socket: Duplex, head: Buffer, query: URLSearchParams): void {
    let config: ContainerConfig;
    try {
      config = this.find(ref);
    } catch (err) {
      const status = err instanceof Error && 'status' in err ? Number(err.status) : 500;
      return rawJsonReply(socket, status, status === 404 ? 'Not Found' : 'Bad Request', { message: err instanceof Error ? err.message : String(err) });
    }
    const state = observedState(config.id, this.root);
    const session = this.sessions.get(config.id) ?? (state.status === 'created' ? this.session(config) : undefined);
    if (!session) return rawJsonReply(socket, 409, 'Conflict', { message: `container ${config.name} was not started by this daemon: attach is not supported for it yet` });
    acceptUpgrade(socket, config.tty);
    const stdout = queryBool(query, 'stdout');
    const stderr = queryBool(query, 'stderr');
    const unsubscribe = session.subscribe(
      (s, chunk) => {
        if ((s === 1 && stdout) || (s === 2 && stderr)) socket.write(config.tty ? chunk : frame(s, chunk));
      },
      () => socket.end(),
    );
    socket.on('close', unsubscribe);
    socket.on('error', () => unsubscribe());
    if (queryBool(query, 'stdin')) {
      if (head.length) session.writeStdin(head);
      socket.on('data', (chunk: Buffer) => session.writeStdin(chunk));
      // The client's CloseWrite after its stdin hit EOF: `echo hi | docker run -i IMAGE cat` ends here.
      socket.on('end', () => session.endStdin());
    }
  }
}

/** Until someone removes it (docker waits as long as that takes), or the client hangs up. */
async function waitRemoved(id: string, root: string, res: ServerResponse): Promise<void> {
  while (containerIds(root).includes(id) && !res.destroyed) await new Promise((r) => setTimeout(r, 50));
}
