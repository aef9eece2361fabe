// hull-runtime from the outside: the bin, a bundle, and the kernel. Each test
// checks what the container saw and what the host kept (state dir, cgroups,
// mounts, processes).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostSnapshot, type HostSnapshot, settledLeftovers, randomToken, waitFor } from '@hull/testkit';
import { alive } from './hull.js';
import { baseSpec, claimDeviceCgroup, newId, RUNTIME_BIN, RuntimeRoot } from './runtime-kit.js';

const rt = new RuntimeRoot();
let before: HostSnapshot;

beforeAll(() => {
  if (!existsSync(RUNTIME_BIN)) throw new Error(`${RUNTIME_BIN} is missing: npm test builds it`);
  before = hostSnapshot();
});

afterAll(async () => {
  // A test that failed half-way leaves its container: delete it, so one failure does not leak
  // a waiting init; the leftover check below still fails on anything delete cannot remove.
  for (const id of rt.entries()) await rt.rt(['delete', '--force', id]);
  // Only what this file made: our root, our ids (newId), their device cgroups (claimDeviceCgroup).
  // A killed init is reaped a moment after delete returns.
  const diff = await settledLeftovers(before);
  rt.dispose();
  expect(diff).toEqual({});
});

function pidsCgroupDir(id: string): string {
  return `/sys/fs/cgroup/pids/hull/${id}`;
}

describe('hull-runtime run', () => {
  it('runs a runc-style bundle: its hostname, namespaces, mounts and exit status; then nothing is left', async () => {
    const id = newId();
    const host = `h${randomToken(8)}`;
    const code = 1 + Math.floor(Math.random() * 100);
    const spec = baseSpec(['sh', '-c', `hostname; echo pid=$$; cat /proc/self/cgroup; grep -c . /proc/mounts >/dev/null; ls /dev; touch /ro-probe 2>/dev/null || echo read-only; exit ${code}`]);
    spec.hostname = host;
    const bundle = rt.bundle(spec);
    const r = await rt.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(code);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(host);
    expect(lines).toContain('pid=1');
    expect(r.stdout).toMatch(new RegExp(`pids:/hull/${id}$`, 'm'));
    for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue']) expect(lines).toContain(dev);
    expect(lines).toContain('read-only');
    expect(existsSync(join(bundle, 'rootfs', 'ro-probe'))).toBe(false);
    expect(rt.entries()).toEqual([]);
    expect(existsSync(pidsCgroupDir(id))).toBe(false);
  });

  it('runs the bundle `runc spec` writes, unchanged but for terminal and args', async () => {
    const id = newId();
    const bundle = rt.bundle(baseSpec(['true']));
    rmSync(join(bundle, 'config.json'));
    execFileSync('runc', ['spec'], { cwd: bundle });
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as ReturnType<typeof baseSpec>;
    const marker = randomToken(12);
    spec.process!.terminal = false;
    spec.process!.args = ['sh', '-c', `echo ${marker}; hostname; grep CapEff /proc/self/status; id -u`];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const r = await rt.rt(['run', '--bundle', bundle, id]);
    // runc spec lists ambient capabilities without inheritable ones, which the kernel cannot raise: we say so.
    expect(r.stderr).toMatch(/^hull-runtime: warning: process\.capabilities\.ambient: .* ignored: an ambient capability must also be permitted and inheritable .*\n$/);
    expect(r.code).toBe(0);
    // runc's defaults: hostname "runc", the three capabilities AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual([marker, 'runc', 'CapEff:\t0000000020000420', '0', '']);
    expect(rt.entries()).toEqual([]);
  });

  it('honours process.cwd, env, user and args[0] through PATH', async () => {
    const id = newId();
    const marker = randomToken(12);
    const spec = baseSpec(['sh', '-c', 'pwd; echo $MARKER; id -u; id -g']);
    spec.process!.cwd = `/work-${marker}`;
    spec.process!.env!.push(`MARKER=${marker}`);
    spec.process!.user = { uid: 1000, gid: 1000 };
    const r = await rt.rt(['run', '--bundle', rt.bundle(spec), id]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, 4)).toEqual([`/work-${marker}`, marker, '1000', '1000']);
  });

  it('applies linux.resources.pids and a nested cgroupsPath under hull/', async () => {
    const id = newId();
    const parent = `rt-${randomToken(10)}`;
    const spec = baseSpec(['sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max; cat /proc/self/cgroup | grep pids']);
    spec.linux!.resources!.pids = { limit: 7 + Math.floor(Math.random() * 50) };
    spec.linux!.cgroupsPath = `/${parent}/${id}`;
    claimDeviceCgroup(`${parent}/${id}`);
    const r = await rt.rt(['run', '--bundle', rt.bundle(spec), id]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(String(spec.linux!.resources!.pids.limit));
    expect(r.stdout).toContain(`pids:/hull/${parent}/${id}`);
    expect(existsSync(pidsCgroupDir(`${parent}/${id}`))).toBe(false);
    // The parent is the caller's, as with runc: it stays; remove it ourselves.
    for (const h of ['pids', 'memory', 'cpu,cpuacct', 'unified', 'cpu', 'cpuacct']) {
      const dir = `/sys/fs/cgroup/${h}/hull/${parent}`;
      if (existsSync(dir)) (await import('node:fs')).rmdirSync(dir);
    }
  });
});

describe('hull-runtime and user namespaces (linux.uidMappings, as `hull run --userns remap` uses them)', () => {
  it('maps root inside to a random host range: the maps, ids inside, owners on both sides; the init and cgroup go', async () => {
    const id = newId();
    // A range of 65536 ids no one else uses, at a random offset above the default remap's.
    const hostId = 200_000 + 65_536 * Math.floor(Math.random() * 1000);
    const marker = randomToken(12);
    const spec = baseSpec(['sh', '-c', `cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c %u /bin/busybox; hostname; touch /out/${marker}; cat /sys/fs/cgroup/pids/pids.max`]);
    spec.hostname = `u${marker}`;
    spec.linux!.namespaces!.push({ type: 'user' });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: hostId + 1, size: 65536 }];
    spec.linux!.resources!.pids = { limit: 9 + Math.floor(Math.random() * 50) };
    const bundle = rt.bundle(spec);
    const out = join(bundle, 'out');
    mkdirSync(out);
    // The mount point, made by us: the rootfs is root's on disk, which the mapped root may not write.
    mkdirSync(join(bundle, 'rootfs', 'out'));
    // What the mapped root writes into: its own on the host.
    (await import('node:fs')).chownSync(out, hostId, hostId + 1);
    spec.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    // The mapped root must walk to its rootfs, as with runc: our temp dir is 0700.
    chmodSync(rt.dir, 0o711);
    const r = await rt.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    // /bin/busybox is host root's, unmapped here: the kernel shows it as the overflow uid 65534.
    expect(lines).toEqual([`0 ${hostId} 65536`, `0 ${hostId + 1} 65536`, '0', '0', '65534', `u${marker}`, String(spec.linux!.resources!.pids.limit)]);
    // The rootfs on disk is root's and stays so; the container's file is the mapped root's.
    const st = (await import('node:fs')).statSync(join(out, marker));
    expect([st.uid, st.gid]).toEqual([hostId, hostId + 1]);
    expect((await import('node:fs')).statSync(join(bundle, 'rootfs', 'bin', 'busybox')).uid).toBe(0);
    expect(rt.entries()).toEqual([]);
    expect(existsSync(pidsCgroupDir(id))).toBe(false);
  });

  const refusals: [string, (s: ReturnType<typeof baseSpec>) => void, RegExp][] = [
    ['a user namespace without maps', (s) => s.linux!.namespaces!.push({ type: 'user' }), /a new user namespace needs linux\.uidMappings and linux\.gidMappings/],
    ['maps without a user namespace', (s) => (s.linux!.uidMappings = s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 10 }]), /need a new user namespace/],
    ['joining a user namespace by path', (s) => s.linux!.namespaces!.push({ type: 'user', path: '/proc/1/ns/user' }), /joining an existing user namespace/],
    [
      'overlapping maps',
      (s) => {
        s.linux!.namespaces!.push({ type: 'user' });
        s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 5, hostID: 300000, size: 10 }];
        s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 10 }];
      },
      /linux\.uidMappings\/gidMappings: .*overlap/,
    ],
  ];
  for (const [what, spoil, message] of refusals) {
    it(`refuses ${what}, in one line, and leaves nothing`, async () => {
      const id = newId();
      const spec = baseSpec(['true']);
      spoil(spec);
      const r = await rt.create(['--bundle', rt.bundle(spec), id]);
      expect({ code: r.code, lines: r.stderr.trim().split('\n').length }).toEqual({ code: 1, lines: 1 });
      expect(r.stderr).toMatch(message);
      expect(rt.entries()).toEqual([]);
      expect(existsSync(pidsCgroupDir(id))).toBe(false);
    });
  }
});

describe('hull-runtime create / start / state / kill / delete', () => {
  it('create leaves the init waiting: the process has not run until start; then running; kill; stopped; delete', async () => {
    const id = newId();
    const spec = baseSpec(['sh', '-c', 'echo ran > /out/ran; exec sleep 60']);
    const bundle = rt.bundle(spec);
    const out = join(bundle, 'out');
    mkdirSync(out);
    spec.mounts!.push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const pidFile = join(rt.dir, `${id}.pid`);
    const c = await rt.create(['--bundle', bundle, '--pid-file', pidFile, id]);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    const pidText = readFileSync(pidFile, 'utf8');
    expect(pidText).toMatch(/^\d+$/);
    const pid = Number(pidText);
    expect(alive(pid)).toBe(true);
    const s1 = JSON.parse((await rt.rt(['state', id])).stdout) as Record<string, unknown>;
    expect(s1).toMatchObject({ ociVersion: '1.1.0', id, status: 'created', pid, bundle, rootfs: join(bundle, 'rootfs') });
    expect(new Date(s1.created as string).getTime()).toBeGreaterThan(Date.now() - 60_000);
    // Already in its cgroup, but the user process has not run.
    expect(readFileSync(`${pidsCgroupDir(id)}/cgroup.procs`, 'utf8').trim().split('\n')).toContain(String(pid));
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(out, 'ran'))).toBe(false);

    expect((await rt.rt(['start', id])).code).toBe(0);
    await waitFor(() => existsSync(join(out, 'ran')), 10_000, 'the process to run');
    expect(JSON.parse((await rt.rt(['state', id])).stdout)).toMatchObject({ status: 'running', pid });
    expect(JSON.parse((await rt.rt(['ps', '--format', 'json', id])).stdout)).toEqual([pid]);
    const second = await rt.rt(['start', id]);
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 1, stderr: 'hull-runtime: cannot start an already running container\n' });

    const del = await rt.rt(['delete', id]);
    expect({ code: del.code, stderr: del.stderr }).toEqual({ code: 1, stderr: `hull-runtime: cannot delete container ${id} that is not stopped: running\n` });
    expect(alive(pid)).toBe(true);

    expect((await rt.rt(['kill', id, 'KILL'])).code).toBe(0);
    await waitFor(() => !alive(pid), 10_000, 'the init to die');
    expect(JSON.parse((await rt.rt(['state', id])).stdout)).toMatchObject({ status: 'stopped', pid: 0 });
    const k = await rt.rt(['kill', id, '15']);
    expect({ code: k.code, stderr: k.stderr }).toEqual({ code: 1, stderr: 'hull-runtime: container not running\n' });
    expect((await rt.rt(['delete', id])).code).toBe(0);
    expect(rt.entries()).toEqual([]);
    expect(existsSync(pidsCgroupDir(id))).toBe(false);
    const gone = await rt.rt(['state', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/does not exist/);
  });

  it('delete --force kills a running container; kill --all signals every process; list shows it', async () => {
    const id = newId();
    const r = await rt.create(['--bundle', rt.bundle(baseSpec(['sh', '-c', 'sleep 60 & sleep 60 & wait'])), id]);
    expect(r.code).toBe(0);
    expect((await rt.rt(['start', id])).code).toBe(0);
    await waitFor(() => readFileSync(`${pidsCgroupDir(id)}/cgroup.procs`, 'utf8').trim().split('\n').length === 3, 10_000, 'three processes');
    const list = await rt.rt(['list', '--format', 'json']);
    expect((JSON.parse(list.stdout) as { id: string; status: string }[]).find((s) => s.id === id)?.status).toBe('running');
    const pids = readFileSync(`${pidsCgroupDir(id)}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
    expect((await rt.rt(['kill', '--all', id, 'SIGSTOP'])).code).toBe(0);
    await waitFor(() => pids.every((p) => /^State:\s+T/m.test(readFileSync(`/proc/${p}/status`, 'utf8'))), 10_000, 'every process stopped');
    expect((await rt.rt(['delete', '--force', id])).code).toBe(0);
    expect(pids.some(alive)).toBe(false);
    expect(rt.entries()).toEqual([]);
    expect(existsSync(pidsCgroupDir(id))).toBe(false);
  });

  it('pause freezes and resume thaws every process', async () => {
    const id = newId();
    const bundle = rt.bundle(baseSpec(['sh', '-c', 'while :; do date +%s%N > /dev/shm/tick; sleep 0.05; done']));
    expect((await rt.create(['--bundle', bundle, id])).code).toBe(0);
    expect((await rt.rt(['start', id])).code).toBe(0);
    expect((await rt.rt(['pause', id])).code).toBe(0);
    expect(JSON.parse((await rt.rt(['state', id])).stdout).status).toBe('paused');
    const pid = JSON.parse((await rt.rt(['state', id])).stdout).pid as number;
    const tick = () => readFileSync(`/proc/${pid}/root/dev/shm/tick`, 'utf8');
    const frozen = tick();
    await new Promise((r) => setTimeout(r, 400));
    expect(tick()).toBe(frozen);
    expect((await rt.rt(['resume', id])).code).toBe(0);
    await waitFor(() => tick() !== frozen, 10_000, 'ticks again');
    expect((await rt.rt(['delete', '--force', id])).code).toBe(0);
  });

  it('runs the hooks in order, each with the state on stdin', async () => {
    const id = newId();
    const spec = baseSpec(['true']);
    const bundle = rt.bundle(spec);
    const log = join(bundle, 'hooks.log');
    const hook = join(bundle, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$1 $(cat)" >> ${log}\n`);
    chmodSync(hook, 0o755);
    // createContainer and startContainer run in the container: their path is the rootfs's.
    const inside = join(bundle, 'rootfs', 'hook.sh');
    writeFileSync(inside, '#!/bin/sh\necho "$1 $(cat)" >> /hooks/log\n');
    chmodSync(inside, 0o755);
    mkdirSync(join(bundle, 'hooks'));
    spec.mounts!.push({ destination: '/hooks', type: 'bind', source: join(bundle, 'hooks'), options: ['bind'] });
    const h = (name: string) => ({ path: hook, args: ['hook.sh', name] });
    spec.hooks = {
      prestart: [h('prestart')],
      createRuntime: [h('createRuntime')],
      // createContainer's path resolves in the runtime namespace, though it runs in the container's (config.md).
      createContainer: [h('createContainer')],
      startContainer: [{ path: '/hook.sh', args: ['hook.sh', 'startContainer'] }],
      poststart: [h('poststart')],
      poststop: [h('poststop')],
    };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const r = await rt.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const host = readFileSync(log, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), JSON.parse(l.slice(l.indexOf(' ') + 1))] as const);
    expect(host.map(([n]) => n)).toEqual(['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']);
    for (const [, state] of host) expect(state).toMatchObject({ id, bundle });
    expect(host[0]![1].status).toBe('creating');
    expect(host[4]![1].status).toBe('stopped');
    const inner = readFileSync(join(bundle, 'hooks', 'log'), 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
    expect(inner).toEqual(['startContainer']);
  });

  it('a hook that never reads its stdin is fine (its exit status counts, not our EPIPE)', async () => {
    const id = newId();
    const spec = baseSpec(['true']);
    const quick = Array.from({ length: 8 }, () => ({ path: '/bin/true' }));
    spec.hooks = { prestart: quick, createRuntime: quick, poststart: quick, poststop: quick };
    const r = await rt.rt(['run', '--bundle', rt.bundle(spec), id]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('--preserve-fds hands fd 3 on to the process', async () => {
    const id = newId();
    const marker = randomToken(16);
    const bundle = rt.bundle(baseSpec(['sh', '-c', `echo ${marker} >&3`]));
    const out = join(rt.dir, `${id}.fd3`);
    const fs = await import('node:fs');
    const fd = fs.openSync(out, 'w');
    const child = spawn('node', [RUNTIME_BIN, '--root', rt.root, 'run', '--preserve-fds', '1', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'inherit', fd] });
    const [code] = (await once(child, 'exit')) as [number | null];
    fs.closeSync(fd);
    expect(code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(`${marker}\n`);
  });
});

describe('hull-runtime refuses, in one line and exit status 1, and leaves nothing', () => {
  const refusals: [string, (bundle: string) => void, RegExp][] = [
    ['no config.json', (b) => (require_fs().rmSync(join(b, 'config.json'))), /config\.json not found/],
    ['config.json that is not JSON', (b) => writeFileSync(join(b, 'config.json'), '{"ociVersion":'), /config\.json: not valid JSON/],
    ['an ociVersion of 2', (b) => patch(b, (s) => (s.ociVersion = '2.0.0')), /ociVersion "2\.0\.0"/],
    ['no process.args', (b) => patch(b, (s) => (s.process!.args = [])), /process\.args/],
    ['a relative cwd', (b) => patch(b, (s) => (s.process!.cwd = 'tmp')), /process\.cwd "tmp" must be an absolute path/],
    ['a missing rootfs', (b) => patch(b, (s) => (s.root!.path = 'nope')), /rootfs .* does not exist/],
    ['no mount namespace', (b) => patch(b, (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'))), /needs a new mount namespace/],
    ['a host sysctl', (b) => patch(b, (s) => (s.linux!.sysctl = { 'kernel.panic': '1' })), /sysctl "kernel\.panic" is not in a separate kernel namespace/],
    ['a terminal without a console socket', (b) => patch(b, (s) => (s.process!.terminal = true)), /cannot allocate tty/],
    ['a bind of a missing source', (b) => patch(b, (s) => s.mounts!.push({ destination: '/x', type: 'bind', source: '/nonexistent-' + randomToken(6), options: ['bind'] })), /source does not exist/],
    ['a failing createRuntime hook', (b) => patch(b, (s) => (s.hooks = { createRuntime: [{ path: '/bin/false' }] })), /createRuntime hook \/bin\/false: exit status 1/],
  ];
  for (const [what, spoil, message] of refusals) {
    it(what, async () => {
      const id = newId();
      const bundle = rt.bundle(baseSpec(['true']));
      spoil(bundle);
      const r = await rt.create(['--bundle', bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(rt.entries()).toEqual([]);
      expect(existsSync(pidsCgroupDir(id))).toBe(false);
    });
  }

  it('a command that is not there fails at start, on the container\'s stderr, as with runc', async () => {
    const id = newId();
    const name = `/no-such-${randomToken(6)}`;
    const c = await rt.create(['--bundle', rt.bundle(baseSpec([name])), id]);
    expect(c.code).toBe(0);
    expect((await rt.rt(['start', id])).code).toBe(0);
    await waitFor(async () => JSON.parse((await rt.rt(['state', id])).stdout).status === 'stopped', 10_000, 'the init to exit');
    expect(readFileSync(c.output, 'utf8')).toBe(`hull-runtime: exec "${name}": no such file or directory\n`);
    expect((await rt.rt(['delete', id])).code).toBe(0);
  });

  it('a bad id, a second create of the same id, and a missing container', async () => {
    for (const bad of ['../x', '.', 'a/b', '']) {
      const r = await rt.rt(['state', bad]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(bad === '' ? /requires a container id/ : /invalid id format/);
    }
    const id = newId();
    const bundle = rt.bundle(baseSpec(['sleep', '60']));
    expect((await rt.create(['--bundle', bundle, id])).code).toBe(0);
    const again = await rt.create(['--bundle', bundle, id]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 1, stderr: `hull-runtime: container with id exists: ${id}\n` });
    expect(JSON.parse((await rt.rt(['state', id])).stdout).status).toBe('created');
    expect((await rt.rt(['delete', id])).code).toBe(0);
    const missing = await rt.rt(['delete', id]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
    expect((await rt.rt(['delete', '--force', id])).code).toBe(0);
  });
});

describe('a hostile bundle cannot mount onto the host', () => {
  it('a mount destination through a symlink in the rootfs stays inside the rootfs', async () => {
    const id = newId();
    const hostDir = join(rt.dir, `host-${randomToken(8)}`);
    mkdirSync(hostDir);
    const marker = randomToken(16);
    writeFileSync(join(hostDir, 'marker'), marker);
    const spec = baseSpec(['sh', '-c', 'ls /evil/']);
    const bundle = rt.bundle(spec);
    // /evil -> the host directory, absolute and by "..".
    symlinkSync(hostDir, join(bundle, 'rootfs', 'evil'));
    symlinkSync(`../../../../../../../../..${hostDir}`, join(bundle, 'rootfs', 'evil2'));
    spec.mounts!.push({ destination: '/evil/m', type: 'tmpfs', source: 'tmpfs' }, { destination: '/evil2/m2', type: 'tmpfs', source: 'tmpfs' }, { destination: '/../../../..' + hostDir + '/m3', type: 'tmpfs', source: 'tmpfs' });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const before = readFileSync('/proc/self/mountinfo', 'utf8');
    const r = await rt.rt(['run', '--bundle', bundle, id]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Nothing was created or mounted in the host directory; the mounts landed inside the rootfs.
    expect(require_fs().readdirSync(hostDir)).toEqual(['marker']);
    expect(readFileSync(join(hostDir, 'marker'), 'utf8')).toBe(marker);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(hostDir))).toEqual(before.split('\n').filter((l) => l.includes(hostDir)));
    expect(existsSync(join(bundle, 'rootfs', hostDir.slice(1), 'm'))).toBe(true);
  });
});

describe('hull-runtime --version and features', () => {
  it('prints its version and the spec version, and features as JSON', async () => {
    const v = await rt.rt(['--version']);
    expect(v.stdout).toMatch(/^hull-runtime version \d+\.\d+\.\d+\nspec: 1\.1\.0\n/);
    const f = JSON.parse((await rt.rt(['features'])).stdout) as { ociVersionMax: string; hooks: string[]; linux: { namespaces: string[] } };
    expect(f.ociVersionMax).toBe('1.1.0');
    expect(f.hooks).toContain('createRuntime');
    expect(f.linux.namespaces).toContain('network');
    const bad = await rt.rt(['frobnicate', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('hull-runtime: command "frobnicate" does not exist (see hull-runtime --help)\n');
  });
});

function require_fs(): typeof import('node:fs') {
  return fsSync;
}
import * as fsSync from 'node:fs';

function patch(bundle: string, change: (s: ReturnType<typeof baseSpec>) => void): void {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as ReturnType<typeof baseSpec>;
  change(spec);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
}
