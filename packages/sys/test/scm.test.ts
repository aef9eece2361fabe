// SCM_RIGHTS (src/scm.ts), between two real processes: the peer
// (fixtures/scm-peer.ts, a separate node) connects to our socket and sends an
// fd with a name, as runc sends the pty master to `--console-socket`. We
// check both ends: the name, that the fd we got is the peer's open file (the
// same pipe, the same pty), and that bytes written through it arrive at the
// end the peer kept. Bad input is refused with SyscallError, leaking no fd.
import { closeSync, mkdtempSync, readdirSync, readlinkSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, randomToken, type RunResult, start } from '@hull/testkit';
import { close, listenUnix, O_CLOEXEC, receiveFd, sendFd, SyscallError } from '../src/index.js';

const peer = fileURLToPath(new URL('./fixtures/scm-peer.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hull-scm-'));
let sockets = 0;

/** A fresh listening socket in our temp dir. */
function listener(): { path: string; fd: number } {
  const path = join(dir, `s${sockets++}.sock`);
  return { path, fd: listenUnix(path) };
}

function startPeer(args: string[]): Promise<RunResult> {
  return collect(start('npx', ['tsx', peer, ...args]), { timeoutMs: 60_000 });
}

const openFds = (): string[] => readdirSync('/proc/self/fd').sort();

/** fdinfo's "flags:" is octal and holds O_CLOEXEC for a close-on-exec fd. */
function isCloexec(fd: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0';
  return (parseInt(flags, 8) & O_CLOEXEC) !== 0;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sendFd / receiveFd: one fd and a name over an AF_UNIX socket (SCM_RIGHTS)', () => {
  it('a pipe end from another process: it is that pipe, and what we write through it reaches the peer', async () => {
    const { path, fd: listenFd } = listener();
    const name = `pipe-${randomToken(12)}`;
    const marker = `through-the-passed-fd-${randomToken(16)}`;
    const done = startPeer(['pipe', path, name]);
    const got = receiveFd(listenFd);
    close(listenFd);
    expect(got.name).toBe(name);
    expect(isCloexec(got.fd)).toBe(true);
    const inode = readlinkSync(`/proc/self/fd/${got.fd}`);
    writeSync(got.fd, marker);
    closeSync(got.fd);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The peer saw our bytes at its read end, on the pipe it created.
    expect(JSON.parse(r.stdout)).toEqual({ inode, got: marker });
    expect(inode).toMatch(/^pipe:\[\d+\]$/);
  });

  it('a pty master, as runc sends it to --console-socket: named after its slave, and it talks to that slave', async () => {
    const { path, fd: listenFd } = listener();
    const word = `typed-${randomToken(10)}`;
    const done = startPeer(['pty', path]);
    const got = receiveFd(listenFd);
    close(listenFd);
    expect(got.name).toMatch(/^\/dev\/pts\/\d+$/);
    expect(readlinkSync(`/proc/self/fd/${got.fd}`)).toBe('/dev/ptmx');
    // What we "type" on the master comes out of the slave the peer kept; its answer comes back.
    writeSync(got.fd, `${word}\n`);
    const buf = Buffer.alloc(4096);
    let screen = '';
    for (let i = 0; i < 50 && !screen.includes(`answer-${word}`); i++) screen += buf.subarray(0, readSync(got.fd, buf)).toString();
    expect(screen).toContain(`answer-${word}`);
    writeSync(got.fd, 'bye\n');
    const r = await done;
    closeSync(got.fd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ path: got.name, line: word });
  });

  it('a peer that sends a name but no fd is refused, and no fd is left open', async () => {
    const { path, fd: listenFd } = listener();
    const done = startPeer(['no-fd', path, `lonely-${randomToken(6)}`]);
    // The event loop is blocked in receiveFd: nothing but it can open or close an fd until it returns.
    const before = openFds();
    let err: unknown;
    try {
      receiveFd(listenFd);
    } catch (e) {
      err = e;
    }
    expect(openFds()).toEqual(before);
    close(listenFd);
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).code).toBe('EPROTO');
    expect(String(err)).toMatch(/no SCM_RIGHTS fd came with the message/);
    expect((await done).code).toBe(0);
  });

  it('bad input: no listener, a stale socket file, a NUL or an empty name, a path too long; no fd leaks', () => {
    // Any open fd will do: bad input must fail before one is sent.
    const [readEnd, writeEnd] = [0, 1];
    const before = openFds();
    const fail = (call: () => void): SyscallError => {
      try {
        call();
      } catch (e) {
        if (e instanceof SyscallError) return e;
        throw e;
      }
      throw new Error('no error');
    };
    expect(fail(() => sendFd(join(dir, 'nobody.sock'), writeEnd, 'x')).code).toBe('ENOENT');
    const stale = listener();
    close(stale.fd);
    expect(fail(() => sendFd(stale.path, writeEnd, 'x')).code).toBe('ECONNREFUSED');
    const live = listener();
    expect(fail(() => sendFd(live.path, readEnd, 'a\0b')).code).toBe('EINVAL');
    expect(fail(() => sendFd(live.path, readEnd, '')).code).toBe('EINVAL');
    close(live.fd);
    expect(fail(() => sendFd(`/${'x'.repeat(120)}`, readEnd, 'x')).code).toBe('ENAMETOOLONG');
    expect(fail(() => sendFd(`${dir}/a\0b`, readEnd, 'x')).code).toBe('EINVAL');
    writeFileSync(join(dir, 'plain-file'), '');
    expect(fail(() => sendFd(join(dir, 'plain-file'), writeEnd, 'x')).code).toBe('ECONNREFUSED');
    expect(openFds()).toEqual(before);
  });
});
