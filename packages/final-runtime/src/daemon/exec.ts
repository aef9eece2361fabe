// The exec endpoints: create records what to run, start (upgraded) runs it in
// the container's namespaces as `hull exec` does (the same resolution of
// user, env, PATH and security plan) with its stdio on the hijacked socket,
// inspect reports its exit code, resize sets its pty's size.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { randomId } from '@hull/01-uts';
import { resolveUser } from '@hull/07-oci-pull';
import { close, exitCodeOf, O_CLOEXEC, openPty, pipe2, setWindowSize, spawnJoin } from '@hull/sys';
import { explain, namespacesOf, resolveInContainer } from '../commands/exec.js';
import { flagEnv, mergeEnv } from '../container-config.js';
import { DeviceCgroup } from '../security/devices.js';
import { joinSecurity } from '../security/join.js';
import { planSecurity } from '../security/plan.js';
import { writeToMaster } from '../terminal.js';
import { isRunning, observedState } from '../store.js';
import { badParameter, conflict, notFound, parseJsonObject, queryInt, readBody, sendEmpty, sendJson } from './api.js';
import type { Containers } from './containers.js';
import { acceptUpgrade, frame, rawJsonReply, readUpgradeBody, type StreamId } from './hijack.js';

interface ExecInstance {
  id: string;
  containerId: string;
  cmd: string[];
  env: string[];
  user: string;
  workdir: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  master: number;
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw badParameter(`${what}: not a list of strings`);
  return v as string[];
}

function optionalString(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw badParameter(`${what}: not a string`);
  return v;
}

export class Execs {
  private readonly instances = new Map<string, ExecInstance>();
  constructor(private readonly containers: Containers) {}

  private get(id: string): ExecInstance {
    const e = this.instances.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  async create(ref: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const config = this.containers.find(ref);
    const body = parseJsonObject(await readBody(req), 'exec config');
    if (!isRunning(observedState(config.id, this.containers.root))) throw conflict(`Container ${config.id} is not running`);
    const cmd = stringList(body.Cmd, 'Cmd');
    if (cmd.length === 0) throw badParameter('No exec command specified');
    const instance: ExecInstance = {
      id: randomId(32),
      containerId: config.id,
      cmd,
      env: stringList(body.Env, 'Env').filter((e) => e.includes('=')),
      user: optionalString(body.User, 'User'),
      workdir: optionalString(body.WorkingDir, 'WorkingDir'),
      tty: body.Tty === true,
      attachStdin: body.AttachStdin === true,
      attachStdout: body.AttachStdout === true,
      attachStderr: body.AttachStderr === true,
      running: false,
      started: false,
      exitCode: null,
      pid: 0,
      master: -1,
    };
    this.instances.set(instance.id, instance);
    sendJson(res, 201, { Id: instance.id });
  }

  inspect(id: string, res: ServerResponse): void {
    const e = this.get(id);
    sendJson(res, 200, {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ContainerID: e.containerId,
      Pid: e.pid,
      OpenStdin: e.attachStdin,
      OpenStdout: e.attachStdout,
      OpenStderr: e.attachStderr,
      ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), user: e.user },
    });
  }

  resize(id: string, res: ServerResponse, query: URLSearchParams): void {
    const e = this.get(id);
    const rows = queryInt(query, 'h') ?? 0;
    const cols = queryInt(query, 'w') ?? 0;
    if (rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535) throw badParameter(`invalid size ${rows}x${cols}`);
    if (e.master >= 0) setWindowSize(e.master, rows, cols);
    sendEmpty(res, 201);
  }

  /** POST /exec/{id}/start: upgraded (the CLI always asks), or plain with Detach. */
  async start(id: string, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let e: ExecInstance;
    let rest: Buffer;
    try {
      e = this.get(id);
      const [body, after] = await readUpgradeBody(req, socket, head);
      rest = after;
      parseJsonObject(body, 'exec start');
      if (e.started) throw conflict(`exec ${id} has already been started`);
      e.started = true;
    } catch (err) {
      const status = err instanceof Error && 'status' in err ? Number(err.status) : 400;
      return rawJsonReply(socket, status, 'Error', { message: err instanceof Error ? err.message : String(err) });
    }
    let run;
    try {
      run = await this.spawn(e);
    } catch (err) {
      return rawJsonReply(socket, 400, 'Bad Request', { message: err instanceof Error ? err.message : String(err) });
    }
    acceptUpgrade(socket, e.tty);
    socket.on('error', () => undefined);
    const send = (s: StreamId, chunk: Buffer) => {
      if ((s === 1 && e.attachStdout) || (s === 2 && e.attachStderr)) socket.write(e.tty ? chunk : frame(s, chunk));
    };
    const outputs = run.outputs.map(([s, r]) => new Promise<void>((resolve) => {
      r.on('data', (c: Buffer) => send(s, c));
      r.on('end', resolve);
      r.on('error', () => resolve());
      r.on('close', resolve);
    }));
    if (e.attachStdin && run.stdin) {
      const sink = run.stdin;
      if (rest.length) sink.write(rest);
      socket.on('data', (c: Buffer) => sink.write(c));
      socket.on('end', () => sink.end());
      socket.resume();
    }
    const status = await run.child.exited;
    e.exitCode = exitCodeOf(status);
    await Promise.all(outputs);
    e.running = false;
    run.stdin?.destroy();
    for (const [, r] of run.outputs) r.destroy();
    e.master = -1;
    socket.end();
  }

  private async spawn(e: ExecInstance) {
    const root = this.containers.root;
    const config = this.containers.find(e.containerId);
    const state = observedState(config.id, root);
    if (!isRunning(state)) throw conflict(`Container ${config.id} is not running`);
    const pid = state.pid;
    const user = resolveUser(`/proc/${pid}/root`, e.user || config.user);
    const env = mergeEnv([`HOME=${user.home}`], config.env, flagEnv(e.env), e.tty ? ['TERM=xterm'] : []);
    const path = resolveInContainer(pid, e.cmd[0]!, env);
    const security = joinSecurity(planSecurity({ ...config.security, user: { uid: user.uid, gid: user.gid, groups: user.groups } }).spec);
    const theirs: number[] = [];
    const outputs: [StreamId, Readable][] = [];
    let stdin: Socket | { write(c: Buffer): void; end(): void; destroy(): void } | undefined;
    let stdio: number[];
    if (e.tty) {
      const pty = openPty();
      setWindowSize(pty.master, 24, 80);
      e.master = pty.master;
      theirs.push(pty.slave);
      stdio = [pty.slave, pty.slave, pty.slave];
      const master = new ReadStream(pty.master);
      outputs.push([1, master]);
      stdin = { write: (c: Buffer) => writeToMaster(pty.master, c), end: () => writeToMaster(pty.master, Buffer.from([4])), destroy: () => undefined };
    } else {
      const [outR, outW] = pipe2(O_CLOEXEC);
      const [errR, errW] = pipe2(O_CLOEXEC);
      const [inR, inW] = pipe2(O_CLOEXEC);
      theirs.push(outW, errW, inR);
      stdio = [inR, outW, errW];
      outputs.push([1, new Socket({ fd: outR, readable: true, writable: false })], [2, new Socket({ fd: errR, readable: true, writable: false })]);
      const sink = new Socket({ fd: inW, readable: false, writable: true });
      sink.on('error', () => undefined);
      if (!e.attachStdin) sink.end(); // no stdin: EOF at once, as /dev/null would give
      stdin = sink;
    }
    try {
      const child = await spawnJoin({
        target: pid,
        namespaces: namespacesOf(pid),
        path,
        argv: e.cmd,
        env,
        cwd: e.workdir || config.workdir,
        user,
        stdio,
        security,
        setsid: true,
        ...(e.tty ? { controllingTerminal: true } : {}),
        // Into the container's cgroups (and its devices allowlist) before it joins anything, as `hull exec` does.
        beforeStart: (helper) => {
          for (const dir of state.cgroupDirs) writeFileSync(`${dir}/cgroup.procs`, String(helper));
          DeviceCgroup.find(config.id)?.add(helper);
        },
      });
      e.running = true;
      e.pid = child.pid;
      return { child, outputs, stdin };
    } catch (err) {
      for (const [, r] of outputs) r.destroy();
      stdin.destroy();
      throw explain(err, e.cmd[0]!, e.workdir || config.workdir);
    } finally {
      for (const fd of theirs) close(fd);
    }
  }
}
