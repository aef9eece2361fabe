// The supervisor's socket is root-equivalent: what it is asked to start runs
// as root. These tests talk to the real socket of a real supervisor (started
// by `hull run -d`) as an attacker would: as another user, with garbage,
// and with ids that point outside the store.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, run, waitFor, withPasswdLockRetry } from '@hull/testkit';
import { alive, HullRoot, pushBusybox, requireBuild } from './hull.js';

/** Send `bytes` on a fresh connection (optionally half-closing after), and collect the answer until the supervisor closes. */
function rawRequest(socket: string, bytes: string | Buffer, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let answer = '';
    conn.on('connect', () => {
      conn.write(bytes);
      if (halfClose) conn.end();
    });
    conn.on('data', (d: Buffer) => (answer += d.toString()));
    // EPIPE/ECONNRESET: it hung up on us mid-write, which is an answer too.
    conn.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? resolve(answer) : reject(err)));
    conn.on('close', () => resolve(answer));
    conn.setTimeout(20_000, () => reject(new Error(`no answer to ${String(bytes).slice(0, 60)}`)));
  });
}

/** A tiny client run as `uid`: prints `error CODE` or `reply "<what came back>"`. */
const CLIENT = `
const net = require('node:net');
const [path, line] = process.argv.slice(1);
const c = net.connect(path);
let out = '';
c.on('connect', () => c.write(line + '\\n'));
c.on('data', (d) => (out += d));
c.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
c.on('close', () => console.log('reply ' + JSON.stringify(out)));
`;

describe.skipIf(!requireRoot('final-runtime supervisor security'))('the supervisor socket', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const user = `hullsv${randomToken(5)}`;
  let uid = 0;
  let gid = 0;
  let image = '';
  let name = '';
  let id = '';
  let supervisor = 0;
  const socket = join(root.dir, 'supervisor.sock');

  const asUser = (line: string) =>
    run('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', process.execPath, '-e', CLIENT, socket, line], { cwd: '/', env: { HOME: '/' } });

  beforeAll(async () => {
    requireBuild();
    withPasswdLockRetry('useradd', ['--no-create-home', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '--shell', '/bin/sh', user]);
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    await root.hull(['pull', image]);
    name = `sv-${randomToken(6)}`;
    const r = await root.hull(['run', '-d', '--name', name, image]);
    expect(r.stderr).toBe('');
    id = r.stdout.trim();
    supervisor = root.supervisorPid()!;
    expect(alive(supervisor)).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await root.hull(['rm', '-f', name]);
    withPasswdLockRetry('userdel', [user]);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  /** The supervisor is the same process and still serves: `hull ps` shows its container running. */
  async function stillServing(): Promise<void> {
    expect(root.supervisorPid()).toBe(supervisor);
    expect(alive(supervisor)).toBe(true);
    const ps = JSON.parse((await root.hull(['ps', '--json'])).stdout) as { Names: string; State: string }[];
    expect(ps.find((c) => c.Names === name)?.State).toBe('running');
    // And it still starts containers: a fresh `run -d` goes through the same socket.
    const other = `sv2-${randomToken(5)}`;
    const r = await root.hull(['run', '-d', '--name', other, image, 'sleep', '5']);
    expect(r.code).toBe(0);
    expect(root.supervisorPid()).toBe(supervisor);
    expect((await root.hull(['rm', '-f', other])).code).toBe(0);
  }

  it('is 0600 from its creation, and another user cannot even connect', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).uid).toBe(0);
    chmodSync(root.dir, 0o711); // let the user reach the socket: only its own mode stops them now
    try {
      const r = await asUser(JSON.stringify({ op: 'start', id }));
      expect(r.stdout.trim()).toBe('error EACCES');
    } finally {
      chmodSync(root.dir, 0o700);
    }
  });

  it('refuses a peer that is neither root nor the store owner (SO_PEERCRED), even on a socket made 0666', async () => {
    // A created container planted beside the running one: a start request for it would run it as root.
    const config = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'config.json'), 'utf8')) as { id: string; name: string; argv: string[] };
    const planted = randomBytes(32).toString('hex');
    const plantedName = `planted-${randomToken(6)}`;
    const dir = join(root.dir, 'containers', planted);
    mkdirSync(dir, { mode: 0o700 });
    const created = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'state.json'), 'utf8')) as Record<string, unknown>;
    Object.assign(created, { status: 'created', pid: 0, pidStartTime: 0, monitorPid: 0, startedAt: '', finishedAt: '', exitCode: 0, error: '', rootfsDriver: '', cgroupDirs: [], ipAddress: '' });
    writeFileSync(join(dir, 'state.json'), JSON.stringify(created));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id: planted, name: plantedName, argv: ['sleep', '300'] }));
    const status = () => (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { status: string }).status;

    chmodSync(root.dir, 0o711);
    chmodSync(socket, 0o666); // a mistake, or an attacker's: the peer check must still hold
    try {
      const r = await asUser(JSON.stringify({ op: 'start', id: planted }));
      expect(r.code).toBe(0);
      // Cut off without an answer (closed, or reset mid-write): no container name or error text leaks either.
      expect(r.stdout.trim()).toMatch(/^(reply ""|error (EPIPE|ECONNRESET))$/);
      expect(status()).toBe('created');
      expect(readFileSync(join(root.dir, 'supervisor.log'), 'utf8')).toMatch(new RegExp(`refused a connection: pid \\d+ runs as uid ${uid}`));
    } finally {
      chmodSync(socket, 0o600);
      chmodSync(root.dir, 0o700);
    }

    // Root, with the same request, is served: the refusal above was the peer check, not a broken request.
    const answer = JSON.parse(await rawRequest(socket, `${JSON.stringify({ op: 'start', id: planted })}\n`)) as { ok: boolean; pid?: number };
    expect(answer.ok).toBe(true);
    expect(status()).toBe('running');
    expect((await root.hull(['rm', '-f', plantedName])).code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses an id that walks out of the store, without reading what is there', async () => {
    // A complete, startable container planted beside the store (the parent of HULL_ROOT), reached by ../../
    const outside = join(dirname(root.dir), `hull-trav-${randomToken(8)}`);
    const marker = `marker${randomToken(12)}`;
    mkdirSync(outside);
    const config = JSON.parse(readFileSync(join(root.dir, 'containers', id, 'config.json'), 'utf8')) as object;
    const files = {
      'config.json': JSON.stringify({ ...config, id: `../../${outside.split('/').pop()}`, name: marker, argv: ['sh', '-c', `echo ${marker}`] }),
      'state.json': JSON.stringify({ status: 'exited', pid: 0, error: marker }),
    };
    for (const [f, content] of Object.entries(files)) writeFileSync(join(outside, f), content);
    try {
      for (const evil of [`../../${outside.split('/').pop()}`, `../..${outside}`, `${id}/../../../${outside.split('/').pop()}`]) {
        const answer = await rawRequest(socket, `${JSON.stringify({ op: 'start', id: evil })}\n`);
        expect(answer).not.toContain(marker);
        const reply = JSON.parse(answer) as { ok: boolean; message: string };
        expect(reply.ok).toBe(false);
        expect(reply.message).toMatch(/^bad request: invalid container id .*: not 64 hex digits$/);
      }
      for (const [f, content] of Object.entries(files)) expect(readFileSync(join(outside, f), 'utf8')).toBe(content);
      await stillServing();
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('survives garbage, huge lines, wrong types, unknown ops and half-closed connections', async () => {
    const replies: [string | Buffer, boolean, RegExp | ''][] = [
      ['hello\n', false, /not JSON/],
      [Buffer.from([0xff, 0xfe, 0x00, 0x0a]), false, /not JSON/],
      ['{"op":"start","id":\n', false, /not JSON/],
      ['[]\n', false, /not a JSON object/],
      ['null\n', false, /not a JSON object/],
      ['42\n', false, /not a JSON object/],
      ['{"op":"start","id":42}\n', false, /invalid container id 42/],
      ['{"op":"start","id":["a"]}\n', false, /invalid container id/],
      ['{"op":"start"}\n', false, /invalid container id undefined/],
      ['{"op":"stop","id":"x"}\n', false, /unknown op "stop"/],
      ['{"op":"__proto__","id":"x"}\n', false, /unknown op/],
      ['{"__proto__":{"op":"start"},"id":"x"}\n', false, /unknown op/],
      [`{"op":"start","id":"${'f'.repeat(64)}"}\n`, false, /^no such container: f{64}$/],
      [`{"op":"start","id":"${id}"}\n`, false, /already started/],
      ['{"op":"start","id":"' + 'a'.repeat(64), true, ''], // half-closed before the newline: no request at all
      ['', true, ''],
      // Oversized: refused at 4 KiB; the reply may be lost in the reset of a socket we stopped reading.
      [`${'x'.repeat(1 << 20)}\n`, false, /longer than|^$/],
      ['x'.repeat(1 << 20), true, /longer than|^$/],
      [`{"op":"start","id":"${id}"}\n{"op":"start","id":"${id}"}\n`, false, /already started/],
    ];
    for (const [bytes, halfClose, expected] of replies) {
      const answer = await rawRequest(socket, bytes, halfClose);
      const what = String(bytes).slice(0, 50);
      if (expected === '') expect(answer, what).toBe('');
      else if (answer === '' && expected.test('')) expect(alive(supervisor)).toBe(true);
      else {
        expect(answer.trim().split('\n'), what).toHaveLength(1);
        const reply = JSON.parse(answer) as { ok: boolean; message: string };
        expect(reply.ok).toBe(false);
        expect(reply.message).toMatch(expected);
      }
      expect(alive(supervisor)).toBe(true);
    }
    // A connection dropped right away, and a crowd at once.
    await new Promise<void>((resolve) => connect(socket).on('connect', function (this: ReturnType<typeof connect>) { this.destroy(); resolve(); }));
    await Promise.all(Array.from({ length: 20 }, () => rawRequest(socket, '{"op":1}\n')));
    await stillServing();
  });
});
