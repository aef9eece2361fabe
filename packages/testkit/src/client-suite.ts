// One suite, any OCI runtime (issue 14 §3): podman (through conmon) and
// containerd (through containerd-shim-runc-v2), each started privately, drive
// the runtime given by path. testkit's clients.test.ts runs it with Debian's
// runc, which proves the harness; final-runtime's oci-clients.test.ts runs
// the same suite with hull-runtime. Every runtime call is logged by the
// wrapper, and the tests assert on the calls as well as on what the
// container did.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busyboxImage,
  busyboxRootfs,
  type Containerd,
  cgroupDirs,
  formatRuntimeCall,
  freePort,
  hostSnapshot,
  settledLeftovers,
  mountsUnder,
  type Podman,
  randomExitCode,
  randomToken,
  requireRoot,
  type RuntimeCall,
  runtimeSubcommand,
  startContainerd,
  startPodman,
  startTmux,
  waitFor,
  writeOciArchive,
} from './index.js';


/** Subcommands of the calls made since `from` (an index into calls()). */
function subcommands(calls: RuntimeCall[], from = 0): string[] {
  return calls.slice(from).map((c) => runtimeSubcommand(c.args) ?? '?');
}

/** The call of `sub` for container `id`, since `from`. */
function callOf(calls: RuntimeCall[], sub: string, id: string, from = 0): RuntimeCall {
  const c = calls.slice(from).find((x) => runtimeSubcommand(x.args) === sub && x.args.includes(id));
  if (!c) throw new Error(`no "${sub}" call for ${id} in:\n${calls.slice(from).map((x) => formatRuntimeCall(x)).join('\n')}`);
  return c;
}

/** A container's rootfs mounts: podman's overlay "merged" dirs, the shim's bundle rootfs. */
function containerMounts(dir: string): string[] {
  return mountsUnder(dir).filter((m) => m.endsWith('/merged') || m.endsWith('/rootfs'));
}

/** Container cgroups under a prefix: every dir except podman's long-lived conmon cgroup and the prefix itself. */
function containerCgroups(prefix: string): string[] {
  const out: string[] = [];
  for (const root of cgroupDirs(prefix)) {
    const list = execFileSync('find', [root, '-mindepth', '1', '-type', 'd'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    out.push(...list.filter((d) => !d.endsWith('/conmon')));
  }
  return out;
}

/** After a container is gone: no process, no rootfs mount, no container cgroup of this client is left. */
async function settled(client: Podman | Containerd, prefix: string): Promise<void> {
  const keep = 'pid' in client ? [client.pid] : [];
  await waitFor(() => client.processes().filter((p) => !keep.includes(p)).length === 0, 20_000, `no process of ${client.dir} left`);
  expect(containerMounts(client.dir)).toEqual([]);
  await waitFor(() => containerCgroups(prefix).length === 0, 10_000, `no container cgroup under ${prefix}`);
}

/**
 * Run `command` (a client starting `sh` with a tty) in tmux at a random size,
 * as a person would: the shell's stdin and stdout are the pty (tty, stty
 * size), a typed line is answered, and `exit N` ends the client with N.
 */
async function driveShell(command: string, work: string): Promise<void> {
  const exitFile = join(work, `exit-${randomToken(6)}`);
  const code = randomExitCode();
  const size = { width: 60 + randomExitCode(), height: 15 + (randomExitCode() % 20) };
  const tmux = startTmux(`${command}; echo exit=$? > ${exitFile}; sleep 30`, size);
  try {
    await waitFor(() => tmux.screen().includes('/ #'), 30_000, 'the shell prompt');
    const marker = randomToken(10);
    tmux.send(`tty; stty size; echo ${marker} | rev`, 'Enter');
    await waitFor(() => tmux.screen().includes([...marker].reverse().join('')), 10_000, 'the reversed marker');
    expect(tmux.screen()).toMatch(/^\/dev\/pts\/0\s*$/m);
    expect(tmux.screen()).toMatch(new RegExp(`^${size.height} ${size.width}\\s*$`, 'm'));
    tmux.send(`exit ${code}`, 'Enter');
    await waitFor(() => existsSync(exitFile), 20_000, 'the client to exit');
    expect(readFileSync(exitFile, 'utf8')).toBe(`exit=${code}\n`);
  } finally {
    tmux.kill();
  }
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Register the suite for the runtime at `RUNTIME` (an executable path). */
export function clientSuite(RUNTIME: string): void {
  describe.skipIf(!requireRoot('real OCI clients'))(`real clients drive ${RUNTIME}`, () => {
    const before = hostSnapshot();
    // The clients' host-wide defaults; none must appear (each was moved under our dirs).
    const hostDefaults = ['/run/runc', '/run/containerd', '/run/libpod', '/opt/containerd', '/etc/cni/net.d/cni.lock', '/dev/shm/libpod_lock'];
    const hostDefaultsBefore = hostDefaults.filter((p) => existsSync(p));
    const work = mkdtempSync(join(tmpdir(), 'hull-clients-'));
    const image = `localhost/hull-busybox-${randomToken(6)}:latest`;
    let podman: Podman;
    let containerd: Containerd;
    const transcript: string[] = [];

    beforeAll(async () => {
      const archive = await writeOciArchive(join(work, 'busybox.tar'), image, await busyboxImage(busyboxRootfs(), { config: { Cmd: ['sh'] } }));
      podman = startPodman({ runtime: RUNTIME });
      await podman.load(archive);
      containerd = await startContainerd({ runtime: RUNTIME });
      await containerd.importImage(archive);
    });

    afterAll(async () => {
      const dirs = [podman?.dir, containerd?.dir].filter((d): d is string => d !== undefined);
      if (process.env.HULL_CLIENT_TRANSCRIPT) writeFileSync(process.env.HULL_CLIENT_TRANSCRIPT, `${transcript.join('\n')}\n`);
      await podman?.stop();
      await containerd?.stop();
      rmSync(work, { recursive: true, force: true });
      for (const d of dirs) expect(existsSync(d)).toBe(false);
      // The one leftover check, of what this suite owns (its temp dirs, its cgroup parents: leftover-scope.ts).
      expect(await settledLeftovers(before)).toEqual({});
      expect(hostDefaults.filter((p) => existsSync(p))).toEqual(hostDefaultsBefore);
      expect(podman.processes()).toEqual([]);
      expect(containerd.processes()).toEqual([]);
    });

    /** Record the calls made since `from` for the docs, with ids and paths shortened. */
    const record = (title: string, calls: RuntimeCall[], from: number, replace: Array<[string, string]>): void => {
      // Exec session ids are 64 hex digits too; ids and temp paths would only be noise in the docs.
      transcript.push(`## ${title}`, ...calls.slice(from).map((c) => formatRuntimeCall(c, replace).replace(/[0-9a-f]{64}/g, 'EXEC_ID')), '');
    };

    describe('podman --runtime, through conmon', () => {
      const short = (id: string): Array<[string, string]> => [
        [id, 'ID'],
        [podman.dir, '$PODMAN_DIR'],
      ];

      it('run --rm: the output, the exit code, and the runtime saw create, start, delete', async () => {
        const marker = randomToken(12);
        const from = podman.runtime.calls().length;
        const r = await podman.podman(['run', '--rm', image, 'echo', marker]);
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe(`${marker}\n`);
        const code = randomExitCode();
        const e = await podman.podman(['run', '--rm', image, 'sh', '-c', `exit ${code}`]);
        expect(e.code).toBe(code);
        const calls = podman.runtime.calls();
        const create = calls.slice(from).find((c) => runtimeSubcommand(c.args) === 'create')!;
        const id = create.args.at(-1)!;
        expect(create.caller).toBe('conmon');
        expect(create.args).toContain('--bundle');
        expect(subcommands(calls, from).slice(0, 3)).toEqual(['create', 'start', 'delete']);
        record('podman run --rm IMAGE echo MARKER', calls.slice(from).filter((c) => c.args.includes(id)), 0, short(id));
        await settled(podman, podman.cgroupParent);
      });

      it('run -i: stdin reaches the container', async () => {
        const input = `${randomToken(10)}\n${randomToken(10)}\n`;
        const r = await podman.podman(['run', '--rm', '-i', image, 'cat'], { input });
        expect(r.stdout).toBe(input);
        await settled(podman, podman.cgroupParent);
      });

      it('run -it: a real pty (tmux), the runtime gets --console-socket', async () => {
        const from = podman.runtime.calls().length;
        await driveShell(podman.shellCommand(['run', '--rm', '-it', image, 'sh']), work);
        const calls = podman.runtime.calls();
        const create = calls.slice(from).find((c) => runtimeSubcommand(c.args) === 'create')!;
        expect(create.args).toContain('--console-socket');
        record('podman run --rm -it IMAGE sh', calls, from, short(create.args.at(-1)!));
        await settled(podman, podman.cgroupParent);
      });

      it('run -d, exec (with -i), stop, rm', async () => {
        const name = `c${randomToken(8)}`;
        const from = podman.runtime.calls().length;
        // A PID 1 that ends on SIGTERM (PID 1 ignores signals it has no handler for), so stop needs no SIGKILL.
        const d = await podman.podman(['run', '-d', '--name', name, image, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done']);
        expect(d.code).toBe(0);
        const id = d.stdout.trim();
        const marker = randomToken(12);
        const x = await podman.podman(['exec', '-e', `M=${marker}`, name, 'sh', '-c', 'echo $M; cat /proc/1/cmdline | tr "\\0" " "']);
        expect(x.stdout).toBe(`${marker}\nsh -c trap "exit 0" TERM; while :; do sleep 0.1; done `);
        const input = `${randomToken(16)}\n`;
        const xi = await podman.podman(['exec', '-i', name, 'cat'], { input });
        expect(xi.stdout).toBe(input);
        // The container's processes are in our cgroup parent, conmon's too.
        const cg = readFileSync(`/proc/${execFileSync('podman', podman.argv(['inspect', '-f', '{{.State.Pid}}', name]), { env: { ...process.env, ...podman.env }, encoding: 'utf8' }).trim()}/cgroup`, 'utf8');
        expect(cg).toContain(`${podman.cgroupParent}/libpod-${id}`);
        // pause freezes the container (the runtime's pause/resume), exec then waits until unpause.
        expect((await podman.podman(['pause', name])).code).toBe(0);
        expect((await podman.podman(['inspect', '-f', '{{.State.Status}}', name])).stdout.trim()).toBe('paused');
        expect((await podman.podman(['unpause', name])).code).toBe(0);
        const s = await podman.podman(['stop', '-t', '10', name]);
        expect(s.code).toBe(0);
        const st = await podman.podman(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name]);
        expect(st.stdout.trim()).toBe('exited 0');
        expect((await podman.podman(['rm', name])).code).toBe(0);
        expect((await podman.podman(['ps', '-aq'])).stdout).toBe('');
        const calls = podman.runtime.calls();
        expect(callOf(calls, 'exec', id, from).args).toEqual(expect.arrayContaining(['--process', '--detach', '--pid-file']));
        expect(callOf(calls, 'kill', id, from).args.slice(-2)).toEqual([id, '15']);
        expect(subcommands(calls, from)).toEqual(expect.arrayContaining(['pause', 'resume']));
        record('podman run -d; exec; exec -i; pause; unpause; stop; rm', calls, from, short(id));
        await settled(podman, podman.cgroupParent);
      });

      it('a published port: slirp4netns on 127.0.0.1 (no host bridge, no firewall rule)', async () => {
        const port = await freePort();
        const firewall = (): string[] => execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => /CNI|podman/i.test(l));
        const bridges = (): string[] => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => /cni|podman/.test(l));
        const [firewallBefore, bridgesBefore] = [firewall(), bridges()];
        const marker = randomToken(16);
        const name = `w${randomToken(8)}`;
        const d = await podman.podman([
          'run', '-d', '--name', name,
          '--network', 'slirp4netns:port_handler=slirp4netns,allow_host_loopback=false',
          '-p', `127.0.0.1:${port}:8080`,
          image, 'sh', '-c', `mkdir /www && echo ${marker} > /www/index.html && exec httpd -f -p 8080 -h /www`,
        ]);
        expect(d.stderr).toBe('');
        let body = '';
        await waitFor(async () => (body = await get(port, '/index.html').catch(() => '')) !== '', 15_000, `the published port ${port}`);
        expect(body).toBe(`${marker}\n`);
        // The port is slirp4netns's socket on the host's loopback; podman made no bridge and no rule.
        expect(execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' })).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} .*slirp4netns`));
        expect([firewall(), bridges()]).toEqual([firewallBefore, bridgesBefore]);
        expect((await podman.podman(['rm', '-f', '-t', '0', name])).code).toBe(0);
        await settled(podman, podman.cgroupParent);
      });
    });

    describe('ctr run --runc-binary, through containerd-shim-runc-v2', () => {
      const short = (id: string): Array<[string, string]> => [
        [`${containerd.dir}/state/io.containerd.runtime.v2.task/${containerd.namespace}/${id}`, '$BUNDLE'],
        [containerd.runtime.stateRoot, '$RUNC_ROOT'],
        [containerd.dir, '$CTR_DIR'],
        [containerd.namespace, 'NS'],
        [id, 'ID'],
      ];

      it('run --rm: the output, the exit code, and the shim passes --root, --log, --log-format json', async () => {
        const id = `c${randomToken(8)}`;
        const marker = randomToken(12);
        const from = containerd.runtime.calls().length;
        const r = await containerd.ctr(['run', '--rm', ...containerd.runFlags(id), image, id, 'sh', '-c', `echo ${marker}; cat /proc/self/cgroup`]);
        expect(r.stderr).toBe('');
        expect(r.stdout.split('\n')[0]).toBe(marker);
        expect(r.stdout).toContain(`:${containerd.cgroupPrefix}/${id}\n`);
        const code = randomExitCode();
        const id2 = `c${randomToken(8)}`;
        const e = await containerd.ctr(['run', '--rm', ...containerd.runFlags(id2), image, id2, 'sh', '-c', `exit ${code}`]);
        expect(e.code).toBe(code);
        const calls = containerd.runtime.calls();
        const create = callOf(calls, 'create', id, from);
        expect(create.caller).toMatch(/^containerd-shim/);
        expect(create.args.slice(0, 6)).toEqual([
          '--root', join(containerd.runtime.stateRoot, containerd.namespace),
          '--log', `${containerd.dir}/state/io.containerd.runtime.v2.task/${containerd.namespace}/${id}/log.json`,
          '--log-format', 'json',
        ]);
        expect(subcommands(calls.filter((c) => c.args.includes(id)), 0)).toEqual(['create', 'start', 'delete', 'delete']);
        record('ctr run --rm IMAGE ID sh -c ...', calls.filter((c) => c.args.includes(id)), 0, short(id));
        await settled(containerd, containerd.cgroupPrefix);
      });

      it('run -d, tasks exec, tasks ps, tasks kill, then delete', async () => {
        const id = `d${randomToken(8)}`;
        const d = await containerd.ctr(['run', '-d', ...containerd.runFlags(id), image, id, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done']);
        expect(d.code).toBe(0);
        const marker = randomToken(12);
        const x = await containerd.ctr(['tasks', 'exec', '--exec-id', `e${randomToken(6)}`, '--fifo-dir', join(containerd.dir, 'fifo'), id, 'sh', '-c', `echo ${marker}; echo $$`]);
        expect(x.stdout.split('\n')[0]).toBe(marker);
        const ps = await containerd.ctr(['tasks', 'ps', id]);
        const pid = Number(/^(\d+)/m.exec(ps.stdout.split('\n').slice(1).join('\n'))?.[1]);
        expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`:${containerd.cgroupPrefix}/${id}\n`);
        expect((await containerd.ctr(['tasks', 'kill', id])).code).toBe(0);
        await waitFor(async () => (await containerd.ctr(['tasks', 'ls'])).stdout.includes('STOPPED'), 10_000, 'the task to stop on SIGTERM');
        expect((await containerd.ctr(['tasks', 'delete', id])).code).toBe(0);
        expect((await containerd.ctr(['containers', 'delete', id])).code).toBe(0);
        const calls = containerd.runtime.calls().filter((c) => c.args.includes(id));
        expect(callOf(calls, 'exec', id).args).toEqual(expect.arrayContaining(['--process', '--detach', '--pid-file']));
        expect(callOf(calls, 'ps', id).args).toEqual(expect.arrayContaining(['--format', 'json']));
        expect(callOf(calls, 'kill', id).args.slice(-2)).toEqual([id, '15']);
        record('ctr run -d; tasks exec; tasks ps; tasks kill; tasks delete', calls, 0, short(id));
        await settled(containerd, containerd.cgroupPrefix);
      });

      it('run --rm -t: a real pty (tmux), the runtime gets --console-socket', async () => {
        const id = `t${randomToken(8)}`;
        await driveShell(containerd.shellCommand(['run', '--rm', '-t', ...containerd.runFlags(id), image, id, 'sh']), work);
        const calls = containerd.runtime.calls().filter((c) => c.args.includes(id));
        expect(callOf(calls, 'create', id).args).toContain('--console-socket');
        record('ctr run --rm -t IMAGE ID sh', calls, 0, [...short(id), [/\/tmp\/pty\d+\//.exec(callOf(calls, 'create', id).args.join(' '))?.[0] ?? '\0', '$TMP/ptyN/']]);
        await settled(containerd, containerd.cgroupPrefix);
      });
    });

    describe('stop() with containers still running', () => {
      /** stop() a client whose container still runs (so there is a rootfs mount): then none of it is left. */
      const stopAndExpectGone = async (client: Podman | Containerd, cgroup: string, pids: number[]): Promise<void> => {
        expect(containerMounts(client.dir).length).toBeGreaterThan(0);
        await client.stop();
        // A pid of ours that still has a command line is alive (a zombie has an empty one).
        for (const pid of pids) expect(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '').toBe(false);
        expect(existsSync(client.dir)).toBe(false);
        expect(cgroupDirs(cgroup)).toEqual([]);
        expect(mountsUnder(client.dir)).toEqual([]);
      };

      it('podman: kills the detached conmon and container by pid, unmounts, removes cgroups and dirs', async () => {
        const p = startPodman({ runtime: RUNTIME });
        const archive = await writeOciArchive(join(work, `left-${randomToken(6)}.tar`), image, await busyboxImage(busyboxRootfs(), { config: { Cmd: ['sh'] } }));
        await p.load(archive);
        expect((await p.podman(['run', '-d', image, 'sleep', '1000'])).code).toBe(0);
        const pids = p.processes();
        // conmon (reparented to PID 1, found by our dir) and the container (found by our cgroup).
        const comms = pids.map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
        expect(comms).toEqual(expect.arrayContaining(['conmon', 'sleep']));
        await stopAndExpectGone(p, p.cgroupParent, pids);
      });

      it('containerd: kills the shim and the container by pid, unmounts, removes cgroups and dirs', async () => {
        const c = await startContainerd({ runtime: RUNTIME });
        const archive = await writeOciArchive(join(work, `left-${randomToken(6)}.tar`), image, await busyboxImage(busyboxRootfs(), { config: { Cmd: ['sh'] } }));
        await c.importImage(archive);
        const id = `l${randomToken(8)}`;
        expect((await c.ctr(['run', '-d', ...c.runFlags(id), image, id, 'sleep', '1000'])).code).toBe(0);
        const pids = c.processes();
        const comms = pids.map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
        expect(comms).toEqual(expect.arrayContaining(['containerd', 'containerd-shim', 'sleep']));
        await stopAndExpectGone(c, c.cgroupPrefix, pids);
      });
    });
  });
}
