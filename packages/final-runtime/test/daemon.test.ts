// `hull daemon` driven by the real docker CLI: Debian's docker.io 20.10 (API
// 1.41), unpacked by .ci/run, never installed. The daemon runs as a child on
// a temp HULL_ROOT and a private socket; every docker command is
// `docker -H unix://SOCKET ...`, exactly as a user would type it.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { busyboxImage, busyboxRootfs, descendants, dockerCli, freePort, hostSnapshot, randomToken, requireDockerCli, requireRoot, run, type RunOptions, shellQuote, startTmux, waitFor, withPasswdLockRetry, writeOciArchive, settledLeftovers } from '@hull/testkit';
import { alive, HullRoot, pushBusybox, registryHost, requireBuild } from './hull.js';

interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request on the daemon's socket, as an SDK would send it. */
function api(socket: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.end(body);
  });
}

/** Raw attach: the upgrade request by hand, then every byte of the hijacked stream until the daemon closes it. */
function rawAttach(socket: string, id: string): Promise<{ head: string; stream: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = Buffer.alloc(0);
    let head: string | undefined;
    let done: (b: Buffer) => void = () => undefined;
    const stream = new Promise<Buffer>((r) => (done = r));
    conn.on('connect', () => conn.write(`POST /v1.41/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: hull\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`));
    conn.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (head === undefined) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        resolve({ head, stream });
      }
    });
    conn.on('error', reject);
    conn.on('close', () => done(buf));
    conn.setTimeout(30_000, () => conn.destroy(new Error('attach: no end')));
  });
}

/** `xxd`-style lines, for the log (docs/daemon.md shows one). */
function hexdump(b: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < b.length; off += 16) {
    const row = b.subarray(off, off + 16);
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${off.toString(16).padStart(8, '0')}: ${hex.padEnd(47)}  ${[...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('')}`);
  }
  return lines.join('\n');
}

describe.skipIf(!requireRoot('final-runtime daemon') || !requireDockerCli('final-runtime daemon'))('hull daemon, driven by the docker CLI', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const sockDir = mkdtempSync(join(tmpdir(), 'hull-daemon-sock-'));
  const socket = join(sockDir, 'hull.sock');
  const dockerConfig = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
  const daemonHome = mkdtempSync(join(tmpdir(), 'hull-daemon-home-'));
  let docker = '';
  let daemon: ChildProcess | undefined;
  let daemonLog = '';
  let image = '';

  const dockerEnv = { DOCKER_CONFIG: dockerConfig, DOCKER_HOST: '', DOCKER_CONTEXT: '', HOME: dockerConfig };
  const dockerRun = (args: readonly string[], opts: RunOptions = {}) => run(docker, ['-H', `unix://${socket}`, ...args], { timeoutMs: 120_000, ...opts, env: { ...dockerEnv, ...opts.env } });
  /** The docker command line for a shell (tmux), with our env. */
  const dockerLine = (args: readonly string[]) => `env DOCKER_CONFIG=${dockerConfig} HOME=${dockerConfig} ${docker} -H unix://${socket} ${args.map(shellQuote).join(' ')}`;

  /** The daemon as a child of ours, with a HOME of its own (the test proves it never writes credentials there). */
  async function startDaemon(): Promise<void> {
    const child = root.start(['daemon', '-H', `unix://${socket}`], { env: { HOME: daemonHome } });
    daemon = child;
    child.stdout?.on('data', (d: Buffer) => (daemonLog += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (daemonLog += d.toString()));
    await waitFor(async () => existsSync(socket) && (await api(socket, 'GET', '/_ping').catch(() => undefined))?.body === 'OK', 30_000, `the daemon to serve (log: ${daemonLog})`);
  }

  /** Signal the daemon by its pid and reap it. */
  async function stopDaemon(signal: NodeJS.Signals): Promise<void> {
    const child = daemon;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    expect(alive(child.pid)).toBe(false);
  }

  beforeAll(async () => {
    requireBuild();
    docker = dockerCli();
    await startDaemon();
    image = await pushBusybox({ Cmd: ['sh'] });
    // Each test may run alone (-t): the shared image is in the store already; the pull test pulls its own.
    expect((await root.hull(['pull', image])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    // By pid, the one we started; reaped (its 'exit'), so it is not left a zombie child of ours.
    await stopDaemon('SIGTERM');
    expect(existsSync(socket)).toBe(false);
    rmSync(sockDir, { recursive: true, force: true });
    rmSync(dockerConfig, { recursive: true, force: true });
    rmSync(daemonHome, { recursive: true, force: true });
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    // The supervisor leaves, and a killed init is reaped, a moment after the last container goes.
    expect(await settledLeftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  }, 60_000);

  it('answers _ping with API-Version 1.41; docker version shows hull as the server', async () => {
    const ping = await api(socket, 'HEAD', '/_ping');
    expect(ping.status).toBe(200);
    expect(ping.headers['api-version']).toBe('1.41');
    const v = await dockerRun(['version', '--format', '{{.Server.APIVersion}} {{.Server.Version}}']);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(/^1\.41 hull-/);
  });

  it('docker pull from the test registry (the JSON progress stream), then images and image inspect show it', async () => {
    // A layer of its own, so this pull really downloads something.
    const fresh = await pushBusybox({ Cmd: ['sh'], Env: [`PULLED=${randomToken(6)}`] }, [{ entries: [{ path: 'fresh', content: randomToken(32) }] }]);
    const pull = await dockerRun(['pull', fresh]);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    expect(pull.stdout).toMatch(/^[0-9a-f]{12}: Pull complete$/m);
    expect(pull.stdout).toContain(`Downloaded newer image for ${fresh}`);
    const again = await dockerRun(['pull', fresh]);
    expect(again.stdout).toContain(`Image is up to date for ${fresh}`);
    const images = await dockerRun(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(images.stdout.split('\n')).toContain(fresh);
    const inspect = await dockerRun(['image', 'inspect', '--format', '{{json .Config.Env}}', fresh]);
    expect(inspect.stdout).toContain('PULLED=');
    const down = await dockerRun(['pull', `127.0.0.1:${await freePort()}/nosuch/busybox:x`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/127\.0\.0\.1:\d+/);
  });

  it('docker run --rm IMAGE echo $RANDOM: the output, exit 0, nothing left', async () => {
    const marker = randomToken(10);
    const r = await dockerRun(['run', '--rm', image, 'echo', marker]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${marker}\n`);
    expect(r.code).toBe(0);
    expect(root.containers()).toEqual([]);
  });
  it('a non-zero exit code propagates; stdout and stderr stay apart (8-byte frames); a missing command is 127', async () => {
    const code = 3 + Math.floor(Math.random() * 100);
    const out = randomToken(8);
    const err = randomToken(8);
    const r = await dockerRun(['run', '--rm', image, 'sh', '-c', `echo ${out}; echo ${err} >&2; exit ${code}`]);
    expect(r.stdout).toBe(`${out}\n`);
    expect(r.stderr).toBe(`${err}\n`);
    expect(r.code).toBe(code);
    const missing = await dockerRun(['run', '--rm', image, `nosuch-${randomToken(5)}`]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^docker: Error response from daemon: exec "nosuch-\w+": executable file not found in \$PATH/m);
    expect(root.containers()).toEqual([]);
  });

  it('echo hi | docker run -i IMAGE cat: stdin reaches it, and its EOF ends it (half-close)', async () => {
    const marker = randomToken(12);
    const r = await dockerRun(['run', '--rm', '-i', image, 'sh', '-c', 'cat; echo done'], { input: `${marker}\n` });
    expect(r.stdout).toBe(`${marker}\ndone\n`);
    expect(r.code).toBe(0);
  });

  it('run -d, ps (and hull ps: one store), logs, exec (its exit code too), stop, rm', async () => {
    const name = `d-${randomToken(6)}`;
    const marker = randomToken(10);
    const d = await dockerRun(['run', '-d', '--name', name, image, 'sh', '-c', `echo ${marker}; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done`]);
    expect(d.stderr).toBe('');
    const id = d.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await dockerRun(['ps', '--format', '{{.ID}} {{.Names}} {{.Status}}']);
    expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)} ${name} Up`, 'm'));
    const hullPs = JSON.parse((await root.hull(['ps', '--json'])).stdout) as { Id: string; State: string }[];
    expect(hullPs.find((c) => c.Id === id)?.State).toBe('running');
    await waitFor(async () => (await dockerRun(['logs', name])).stdout.includes(marker), 10_000, 'the log line');
    const exec = await dockerRun(['exec', name, 'cat', '/etc/hostname']);
    expect(exec.stdout).toBe(`${id.slice(0, 12)}\n`);
    const code = 2 + Math.floor(Math.random() * 50);
    expect((await dockerRun(['exec', name, 'sh', '-c', `exit ${code}`])).code).toBe(code);
    const stop = await dockerRun(['stop', name]);
    expect(stop.stdout).toBe(`${name}\n`);
    expect((await dockerRun(['logs', name])).stdout).toBe(`${marker}\nbye\n`);
    const exited = await dockerRun(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}']);
    expect(exited.stdout).toMatch(/Exited \(0\)/);
    expect((await dockerRun(['rm', name])).stdout).toBe(`${name}\n`);
    expect(root.containers()).not.toContain(id);
    const gone = await dockerRun(['rm', name]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`No such container: ${name}`);
  });

  it('-e, -v (both sides see the file), --memory (the host cgroup has the limit)', async () => {
    const value = randomToken(12);
    const dir = mkdtempSync(join(tmpdir(), 'hull-daemon-vol-'));
    const inHost = randomToken(10);
    writeFileSync(join(dir, 'in'), inHost);
    try {
      const r = await dockerRun(['run', '--rm', '-e', `MARK=${value}`, '-v', `${dir}:/data`, image, 'sh', '-c', 'echo $MARK; cat /data/in; echo from-ctr > /data/out']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${value}\n${inHost}`);
      expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('from-ctr\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const name = `m-${randomToken(6)}`;
    const id = (await dockerRun(['run', '-d', '--name', name, '--memory', '48m', image, 'sleep', '300'])).stdout.trim();
    const state = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'state.json'), 'utf8')) as { cgroupDirs: string[] };
    const limitFile = state.cgroupDirs.map((d) => join(d, 'memory.max')).find(existsSync) ?? state.cgroupDirs.map((d) => join(d, 'memory.limit_in_bytes')).find(existsSync);
    expect(readFileSync(limitFile!, 'utf8').trim()).toBe(String(48 * 1024 * 1024));
    const inspect = await dockerRun(['inspect', '--format', '{{.HostConfig.Memory}} {{.State.Running}}', name]);
    expect(inspect.stdout.trim()).toBe(`${48 * 1024 * 1024} true`);
    expect((await dockerRun(['rm', '-f', name])).code).toBe(0);
    expect(state.cgroupDirs.some((d) => existsSync(d))).toBe(false);
  });

  it('-p 127.0.0.1:PORT:8080: a TCP connection to the host port reaches the container', async () => {
    const port = await freePort();
    const name = `p-${randomToken(6)}`;
    const page = randomToken(16);
    const d = await dockerRun(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:8080`, image, 'sh', '-c', `mkdir /www; echo ${page} > /www/index.html; exec httpd -f -p 8080 -h /www`]);
    expect(d.stderr).toBe('');
    let body = '';
    await waitFor(async () => {
      try {
        body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
        return true;
      } catch {
        return false;
      }
    }, 20_000, 'httpd behind the published port');
    expect(body).toBe(`${page}\n`);
    const ports = await dockerRun(['ps', '--filter', `name=${name}`, '--format', '{{.Ports}}']);
    expect(ports.stdout).toContain(`127.0.0.1:${port}->8080/tcp`);
    expect((await dockerRun(['rm', '-f', name])).code).toBe(0);
  });

  it('docker run -it under tmux: a prompt, the window size, exit code', async () => {
    const exitFile = join(sockDir, `exit-${randomToken(5)}`);
    const tmux = startTmux(`${dockerLine(['run', '-it', '--rm', image, 'sh'])}; echo exit=$? > ${exitFile}; sleep 60`);
    try {
      await waitFor(() => tmux.screen().includes('/ #'), 30_000, 'the shell prompt');
      tmux.send('echo $((6*7)); stty size', 'Enter');
      await waitFor(() => tmux.screen().includes('42'), 10_000, 'the answer');
      await waitFor(() => /^30 100$/m.test(tmux.screen()), 10_000, 'stty size 30 100');
      const code = 1 + Math.floor(Math.random() * 100);
      tmux.send(`exit ${code}`, 'Enter');
      await waitFor(() => existsSync(exitFile), 15_000, 'docker to exit');
      expect(readFileSync(exitFile, 'utf8')).toBe(`exit=${code}\n`);
    } finally {
      tmux.kill();
    }
    await waitFor(() => root.containers().length === 0, 10_000, '--rm');
  });

  it('rmi removes the image; a container using it makes rmi a conflict (409)', async () => {
    const other = await pushBusybox({ Cmd: ['sh'] });
    expect((await dockerRun(['pull', other])).code).toBe(0);
    const name = `r-${randomToken(6)}`;
    expect((await dockerRun(['create', '--name', name, other, 'true'])).code).toBe(0);
    const refused = await dockerRun(['rmi', other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Error response from daemon: conflict: .*container .* is using/);
    expect((await dockerRun(['rm', name])).code).toBe(0);
    const rmi = await dockerRun(['rmi', other]);
    expect(rmi.stdout).toContain(`Untagged: ${other}`);
    expect((await dockerRun(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n')).not.toContain(other);
    const again = await dockerRun(['image', 'inspect', other]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('No such image');
  });

  it('attach without a TTY: 101 UPGRADED, then 8-byte frames [stream,0,0,0,size BE] per chunk; with a TTY: raw bytes', async () => {
    const out = randomToken(7);
    const err = randomToken(5);
    const create = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: image, Cmd: ['sh', '-c', `printf ${out}; sleep 0.3; printf ${err} >&2`], HostConfig: { AutoRemove: true } }));
    expect(create.status).toBe(201);
    const { Id: id } = JSON.parse(create.body) as { Id: string };
    const attached = await rawAttach(socket, id);
    expect(attached.head).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(attached.head).toContain('Content-Type: application/vnd.docker.multiplexed-stream');
    expect((await api(socket, 'POST', `/v1.41/containers/${id}/start`)).status).toBe(204);
    const bytes = await attached.stream;
    process.stdout.write(`attach, no TTY:\n${hexdump(bytes)}\n`);
    const expected = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, out.length]), Buffer.from(out), Buffer.from([2, 0, 0, 0, 0, 0, 0, err.length]), Buffer.from(err)]);
    expect(bytes.equals(expected)).toBe(true);

    const tty = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: image, Tty: true, Cmd: ['printf', out], HostConfig: { AutoRemove: true } }));
    const ttyId = (JSON.parse(tty.body) as { Id: string }).Id;
    const raw = await rawAttach(socket, ttyId);
    expect(raw.head).toContain('Content-Type: application/vnd.docker.raw-stream');
    expect((await api(socket, 'POST', `/v1.41/containers/${ttyId}/start`)).status).toBe(204);
    expect((await raw.stream).toString()).toBe(out);
    await waitFor(() => !root.containers().includes(id) && !root.containers().includes(ttyId), 10_000, 'AutoRemove');
  });

  it('logs -f follows until the exit; wait prints the code; kill -s; start of a created container', async () => {
    const name = `f-${randomToken(6)}`;
    const code = 10 + Math.floor(Math.random() * 100);
    const a = randomToken(6);
    const b = randomToken(6);
    expect((await dockerRun(['run', '-d', '--name', name, image, 'sh', '-c', `echo ${a}; sleep 1; echo ${b}; exit ${code}`])).code).toBe(0);
    const follow = await dockerRun(['logs', '-f', name]);
    expect(follow.stdout).toBe(`${a}\n${b}\n`);
    const wait = await dockerRun(['wait', name]);
    expect(wait.stdout).toBe(`${code}\n`);
    expect((await dockerRun(['rm', name])).code).toBe(0);

    const k = `k-${randomToken(6)}`;
    expect((await dockerRun(['create', '--name', k, image, 'sh', '-c', "trap 'echo got-usr1; exit 5' USR1; while :; do sleep 0.1; done"])).code).toBe(0);
    expect((await dockerRun(['start', k])).stdout).toBe(`${k}\n`);
    await new Promise((r) => setTimeout(r, 300));
    expect((await dockerRun(['kill', '-s', 'USR1', k])).code).toBe(0);
    expect((await dockerRun(['wait', k])).stdout).toBe('5\n');
    expect((await dockerRun(['logs', k])).stdout).toBe('got-usr1\n');
    const notRunning = await dockerRun(['kill', k]);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toMatch(/is not running/);
    expect((await dockerRun(['rm', k])).code).toBe(0);
  });

  it('docker exec -it under tmux: a shell in the running container, its own pty', async () => {
    const name = `x-${randomToken(6)}`;
    expect((await dockerRun(['run', '-d', '--name', name, image, 'sleep', '300'])).code).toBe(0);
    const exitFile = join(sockDir, `exit-${randomToken(5)}`);
    const tmux = startTmux(`${dockerLine(['exec', '-it', name, 'sh'])}; echo exit=$? > ${exitFile}; sleep 60`);
    try {
      await waitFor(() => tmux.screen().includes('/ #'), 30_000, 'the exec shell prompt');
      tmux.send('test -t 0 && echo stdin-is-a-tty; stty size; echo $((7*6))', 'Enter');
      await waitFor(() => /^stdin-is-a-tty$/m.test(tmux.screen()) && /^30 100$/m.test(tmux.screen()) && tmux.screen().includes('42'), 10_000, 'a pty of the window size, and the answer').catch((err: Error) => {
        throw new Error(`${err.message}; the screen:\n${tmux.screen()}`);
      });
      tmux.send('exit 4', 'Enter');
      await waitFor(() => existsSync(exitFile), 15_000, 'docker exec to exit');
      expect(readFileSync(exitFile, 'utf8')).toBe('exit=4\n');
    } finally {
      tmux.kill();
    }
    expect((await dockerRun(['rm', '-f', name])).code).toBe(0);
  });

  it('docker load (the archive is the request body) and docker login (/auth against the basic-auth registry)', async () => {
    const name = `hull.test/load-${randomToken(6)}:v1`;
    const marker = randomToken(8);
    const archive = join(sockDir, `load-${randomToken(4)}.tar`);
    await writeOciArchive(archive, name, await busyboxImage(busyboxRootfs(), { config: { Cmd: ['echo', marker] } }));
    const load = await dockerRun(['load', '-i', archive]);
    expect(load.stderr).toBe('');
    expect(load.stdout).toBe(`Loaded image: ${name}\n`);
    rmSync(archive);
    expect((await dockerRun(['run', '--rm', name])).stdout).toBe(`${marker}\n`);
    const bad = await dockerRun(['load'], { input: 'not a tar at all' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Error response from daemon: stdin: not a tar archive/);

    const basic = inject('registries').basic;
    const ok = await dockerRun(['login', '-u', basic.username!, '--password-stdin', basic.host], { input: basic.password! });
    expect(ok.stdout).toContain('Login Succeeded');
    const wrong = await dockerRun(['login', '-u', basic.username!, '--password-stdin', basic.host], { input: `wrong-${randomToken(6)}` });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Error response from daemon: .*unauthorized/);
    // The CLI keeps the credentials (its DOCKER_CONFIG) and sends them with the pull (X-Registry-Auth).
    const privateRef = image.replace(registryHost(), basic.host);
    const stranger = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
    try {
      const anonymous = await dockerRun(['pull', privateRef], { env: { DOCKER_CONFIG: stranger } });
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toMatch(/authentication required/);
    } finally {
      rmSync(stranger, { recursive: true, force: true });
    }
    const authed = await dockerRun(['pull', privateRef]);
    expect(authed.stderr).toBe('');
    expect(authed.code).toBe(0);
    // The daemon stored nothing of its own: its HOME is as empty as it started, its store has no auth file left.
    expect(readdirSync(daemonHome)).toEqual([]);
    expect(readdirSync(join(root.dir, 'tmp')).filter((f) => f.includes('auth'))).toEqual([]);
  });

  it('one monitor: with the daemon up, `hull run -d` on its root is started by the daemon (no supervisor); docker and hull see one store', async () => {
    const name = `h-${randomToken(6)}`;
    const marker = randomToken(10);
    const r = await root.hull(['run', '-d', '--name', name, image, 'sh', '-c', `echo ${marker}; exec sleep 300`]);
    expect(r.stderr).toBe('');
    const id = r.stdout.trim();
    expect(root.supervisorPid()).toBeUndefined();
    const state = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'state.json'), 'utf8')) as { monitorPid: number };
    expect(state.monitorPid).toBe(daemon!.pid);
    expect((await dockerRun(['ps', '--format', '{{.Names}}'])).stdout.split('\n')).toContain(name);
    await waitFor(async () => (await dockerRun(['logs', name])).stdout === `${marker}\n`, 10_000, 'docker logs of a hull run -d container');
    expect((await root.hull(['logs', name])).stdout).toBe(`${marker}\n`);
    // A start error keeps hull's exit code through the daemon.
    const missing = await root.hull(['run', '-d', image, `nosuch-${randomToken(5)}`]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^hull: the daemon \(.*\): .*not found/);
    expect((await dockerRun(['stop', '-t', '1', name])).code).toBe(0);
    expect((await root.hull(['ps', '-a', '--json'])).stdout).toContain('"exited"');
    expect((await root.hull(['rm', name])).code).toBe(0);
    await root.hull(['prune']);
  });

  it('daemon restart: SIGTERM stops its containers and records them; after SIGKILL a new daemon shows them exited and rm repairs', async () => {
    const name = `t-${randomToken(6)}`;
    const marker = randomToken(8);
    const id = (await dockerRun(['run', '-d', '--name', name, image, 'sh', '-c', `echo ${marker}; exec sleep 300`])).stdout.trim();
    await waitFor(async () => (await dockerRun(['logs', name])).stdout === `${marker}\n`, 10_000, 'its output');
    await stopDaemon('SIGTERM');
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(join(root.dir, 'daemon.json'))).toBe(false);
    const recorded = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'state.json'), 'utf8')) as { status: string; exitCode: number };
    expect(recorded).toMatchObject({ status: 'exited', exitCode: 137 });
    expect(root.mounts()).toEqual([]);

    await startDaemon();
    expect((await dockerRun(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(137\)/);
    expect((await dockerRun(['logs', name])).stdout).toBe(`${marker}\n`);
    expect((await dockerRun(['rm', name])).code).toBe(0);

    // A crash: nobody records the exit and nobody unmounts. The next daemon must see a dead container, and rm must repair.
    const crash = `c-${randomToken(6)}`;
    const crashId = (await dockerRun(['run', '-d', '--name', crash, image, 'sleep', '300'])).stdout.trim();
    const { cgroupDirs, pid } = JSON.parse(readFileSync(join(root.dir, 'containers', crashId, 'state.json'), 'utf8')) as { cgroupDirs: string[]; pid: number };
    await stopDaemon('SIGKILL');
    expect(existsSync(socket)).toBe(true); // stale: the next daemon must take it over, since nothing answers on it
    await waitFor(() => !alive(pid), 10_000, 'its PID 1 to die with its monitor (PDEATHSIG)');
    await startDaemon();
    expect((await dockerRun(['ps', '-a', '--filter', `name=${crash}`, '--format', '{{.State}}'])).stdout.trim()).toBe('exited');
    expect((await dockerRun(['rm', crash])).code).toBe(0);
    expect(root.mounts()).toEqual([]);
    expect(cgroupDirs.some((d) => existsSync(d))).toBe(false);
  });

  it('bad input through the API: a clear message, docker status codes, nothing left behind', async () => {
    const containersBefore = root.containers();
    const malformed = await api(socket, 'POST', '/v1.41/containers/create', '{"Image": ');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body).message).toMatch(/invalid JSON/);
    const notObject = await api(socket, 'POST', '/v1.41/containers/create', '[1,2]');
    expect(notObject.status).toBe(400);
    const wrongType = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: image, Cmd: 42 }));
    expect(wrongType.status).toBe(400);
    expect(JSON.parse(wrongType.body).message).toBe('Config.Cmd: not a list of strings');
    const noImage = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: `127.0.0.1:1/nosuch-${randomToken(5)}:x` }));
    expect(noImage.status).toBe(404);
    expect(JSON.parse(noImage.body).message).toMatch(/^No such image: /);
    const badBind = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: image, HostConfig: { Binds: ['/tmp:relative'] } }));
    expect(badBind.status).toBe(400);
    const badName = await api(socket, 'POST', '/v1.41/containers/create?name=..%2Fx', JSON.stringify({ Image: image }));
    expect(badName.status).toBe(400);
    expect(JSON.parse(badName.body).message).toMatch(/invalid container name/);
    const unknown = await api(socket, 'GET', '/v1.41/no/such/endpoint');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).message).toBe('page not found: GET /no/such/endpoint');
    const pause = await api(socket, 'POST', `/v1.41/containers/${'a'.repeat(12)}/pause`);
    expect(pause.status).toBe(501);
    expect(JSON.parse(pause.body).message).toMatch(/POST \/containers\/a{12}\/pause: not implemented/);
    const huge = await api(socket, 'POST', '/v1.41/containers/create', JSON.stringify({ Image: image, Labels: { x: 'y'.repeat(2 << 20) } }));
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.body).message).toMatch(/larger than 1048576 bytes/);
    const garbage = await new Promise<string>((resolve, reject) => {
      const conn = connect(socket);
      let answer = '';
      conn.on('connect', () => conn.write(`\x00\x01 not http ${randomToken(8)}\r\n\r\n`));
      conn.on('data', (d: Buffer) => (answer += d.toString()));
      conn.on('close', () => resolve(answer));
      conn.on('error', reject);
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\{"message":"bad request: /);
    const stoppedName = `s-${randomToken(6)}`;
    expect((await dockerRun(['create', '--name', stoppedName, image, 'true'])).code).toBe(0);
    const execStopped = await dockerRun(['exec', stoppedName, 'true']);
    expect(execStopped.code).toBe(1);
    expect(execStopped.stderr).toMatch(/is not running/);
    expect((await dockerRun(['rm', stoppedName])).code).toBe(0);
    // The daemon is still there and serving.
    expect((await api(socket, 'GET', '/_ping')).body).toBe('OK');
    expect(root.containers()).toEqual(containersBefore);
    // Through the CLI: a name in use is 409, the CLI says so, `docker run` exits 125.
    const name = `n-${randomToken(6)}`;
    expect((await dockerRun(['create', '--name', name, image, 'true'])).code).toBe(0);
    const taken = await dockerRun(['run', '--rm', '--name', name, image, 'true']);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toMatch(/Error response from daemon: the container name "[^"]+" is already in use/);
    expect((await dockerRun(['rm', name])).code).toBe(0);
  });

  it('attack: an id like ../../x names nothing, and nothing outside the store is touched', async () => {
    const marker = join(root.dir, `marker-${randomToken(6)}`);
    writeFileSync(marker, 'keep');
    for (const ref of ['..%2F..%2Fx', '..%2F' + root.dir.split('/').pop(), '%2E%2E', 'x%00y']) {
      for (const [method, path] of [['GET', `/v1.41/containers/${ref}/json`], ['DELETE', `/v1.41/containers/${ref}?force=1`], ['POST', `/v1.41/containers/${ref}/start`], ['POST', `/v1.41/containers/${ref}/kill`]] as const) {
        const r = await api(socket, method, path);
        expect([400, 404]).toContain(r.status);
        // (%2E%2E is a dot segment to the URL parser: resolved away, so it names no container route at all.)
        expect(JSON.parse(r.body).message).toMatch(ref === '%2E%2E' ? /^page not found: / : /invalid container name or id|No such container/);
      }
    }
    const cli = await dockerRun(['rm', '../../x']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('No such container: ../../x');
    expect(readFileSync(marker, 'utf8')).toBe('keep');
    rmSync(marker);
  });

  it('the socket is 0660 root:root, and a peer that is not root is refused (SO_PEERCRED) even on a socket made 0666', async () => {
    const st = statSync(socket);
    expect(st.mode & 0o777).toBe(0o660);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    const user = `hulld${randomToken(5)}`;
    withPasswdLockRetry('useradd', ['--no-create-home', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '--shell', '/bin/sh', user]);
    const home = mkdtempSync(join(tmpdir(), 'hull-daemon-user-'));
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
      chmodSync(home, 0o777);
      chmodSync(sockDir, 0o711);
      const asUser = () => run('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', docker, '-H', `unix://${socket}`, 'ps'], { cwd: '/', env: { HOME: home, DOCKER_CONFIG: home } });
      const blocked = await asUser();
      expect(blocked.code).not.toBe(0);
      expect(blocked.stderr).toMatch(/permission denied/);
      // The second wall: with the mode loosened, the peer check still refuses, with a message.
      chmodSync(socket, 0o666);
      const refused = await asUser();
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`hull daemon: permission denied: pid \\d+ runs as uid ${uid}`));
      expect(daemonLog).toMatch(/refused a connection/);
    } finally {
      chmodSync(socket, 0o660);
      chmodSync(sockDir, 0o700);
      rmSync(home, { recursive: true, force: true });
      withPasswdLockRetry('userdel', [user]);
    }
    // Root is still served.
    expect((await dockerRun(['ps', '-q'])).code).toBe(0);
  });
});
