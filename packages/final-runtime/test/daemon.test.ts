// `hull daemon` driven by the real docker CLI: Debian's docker.io 20.10 (API
// 1.41), unpacked by .ci/run, never installed. The daemon runs as a child on
// a temp HULL_ROOT and a private socket; every docker command is
// `docker -H unix://SOCKET ...`, exactly as a user would type it.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, dockerCli, freePort, hostSnapshot, randomToken, requireDockerCli, requireRoot, run, type RunOptions, shellQuote, startTmux, waitFor, withPasswdLockRetry } from '@hull/testkit';
import { alive, BIN, HullRoot, ownLeftovers, pushBusybox, requireBuild } from './hull.js';

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

describe.skipIf(!requireRoot('final-runtime daemon') || !requireDockerCli('final-runtime daemon'))('hull daemon, driven by the docker CLI', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const sockDir = mkdtempSync(join(tmpdir(), 'hull-daemon-sock-'));
  const socket = join(sockDir, 'hull.sock');
  const dockerConfig = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
  let docker = '';
  let daemon: ChildProcess | undefined;
  let daemonLog = '';
  let image = '';

  const dockerEnv = { DOCKER_CONFIG: dockerConfig, DOCKER_HOST: '', DOCKER_CONTEXT: '', HOME: dockerConfig };
  const dockerRun = (args: readonly string[], opts: RunOptions = {}) => run(docker, ['-H', `unix://${socket}`, ...args], { timeoutMs: 120_000, ...opts, env: { ...dockerEnv, ...opts.env } });
  /** The docker command line for a shell (tmux), with our env. */
  const dockerLine = (args: readonly string[]) => `env DOCKER_CONFIG=${dockerConfig} HOME=${dockerConfig} ${docker} -H unix://${socket} ${args.map(shellQuote).join(' ')}`;

  beforeAll(async () => {
    requireBuild();
    docker = dockerCli();
    daemon = root.start(['daemon', '-H', `unix://${socket}`]);
    daemon.stdout?.on('data', (d: Buffer) => (daemonLog += d.toString()));
    daemon.stderr?.on('data', (d: Buffer) => (daemonLog += d.toString()));
    await waitFor(() => existsSync(socket), 30_000, `the daemon's socket (log: ${daemonLog})`);
    image = await pushBusybox({ Cmd: ['sh'] });
  }, 120_000);

  afterAll(async () => {
    const pid = daemon?.pid;
    if (pid) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !alive(pid), 30_000, 'the daemon to exit');
    }
    expect(existsSync(socket)).toBe(false);
    rmSync(sockDir, { recursive: true, force: true });
    rmSync(dockerConfig, { recursive: true, force: true });
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(ownLeftovers(before, root)).toEqual({});
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

  it('docker pull from the test registry, then images lists it', async () => {
    const pull = await dockerRun(['pull', image]);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain(`Downloaded newer image for ${image}`);
    const images = await dockerRun(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(images.stdout.split('\n')).toContain(image);
  });

  it('docker run --rm IMAGE echo $RANDOM: the output, exit 0, nothing left', async () => {
    const marker = randomToken(10);
    const r = await dockerRun(['run', '--rm', image, 'echo', marker]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${marker}\n`);
    expect(r.code).toBe(0);
    expect(root.containers()).toEqual([]);
  });
});
