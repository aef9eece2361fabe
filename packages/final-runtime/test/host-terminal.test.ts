// The host's terminal (docs/hardening.md, "The host terminal"): a container
// run without -t must not be able to type into the shell that started hull.
// hull runs in a real terminal (tmux, a server of our own), under an
// interactive sh that would run whatever lands in its input queue once hull
// exits. The probe tries ioctl(TIOCSTI) on /dev/tty and on fds 0-2 with a
// command that would create a random file on the host; the text comes from a
// file in the image, so it is never on the screen unless it was injected.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';
import { probeBinary } from './probe.js';

/** Field 6 of /proc/PID/stat: the session id (the comm field may hold blanks, so split after its ")"). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

describe.skipIf(!requireRoot('final-runtime host terminal'))('the host terminal never reaches the container', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const server = `hull${randomToken(8)}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
  const screen = (): string => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', 's');
  const marker = `INJ${randomToken(12)}`;
  const injected = join(root.dir, `injected-${randomToken(6)}`);
  const env = `HULL_ROOT=${root.dir} HULL_BRIDGE=${root.bridge} HULL_SUBNET=${root.subnet}`;
  const hull = `env ${env} node ${BIN}`;
  let image = '';

  /** Type a command line into the shell and wait for the line it ends with. */
  async function type(line: string, until: RegExp, timeoutMs = 60_000): Promise<string> {
    tmux('send-keys', '-t', 's', line, 'Enter');
    await waitFor(() => until.test(screen()), timeoutMs, String(until));
    // Anything injected sits in the shell's input queue: give it time to run.
    await new Promise((r) => setTimeout(r, 1000));
    return screen();
  }

  /** The probe's report (the screen from its command line on): no terminal anywhere, and no trace of the text. */
  function expectNothingInjected(report: string): void {
    // /dev/tty: no controlling terminal (a session of its own); 0: /dev/null; 1, 2: pipes hull copies to the terminal.
    for (const line of ['tty: ENXIO', 'fd0: ENOTTY', 'fd1: ENOTTY', 'fd2: ENOTTY', 'session-leader: yes']) expect(report.split('\n')).toContain(line);
    expect(screen()).not.toContain(marker);
    expect(existsSync(injected)).toBe(false);
  }

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sh'] }, [
      {
        entries: [
          { path: 'bin/probe', content: probeBinary(), mode: 0o755 },
          { path: 'inject.txt', content: `echo ${marker} > ${injected}\n`, mode: 0o644 },
        ],
      },
    ]);
    await root.hull(['pull', image]);
    // An interactive shell of our own, with a prompt we can wait for.
    tmux('new-session', '-d', '-s', 's', '-x', '200', '-y', '50', 'env PS1=prompt$\\  sh');
    await waitFor(() => screen().includes('prompt$'), 10_000, 'the shell prompt');
  });

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    // The last detached container gone, the supervisor goes too.
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
  });

  it('hull run (no -t): TIOCSTI fails everywhere, the host shell receives nothing, PID 1 leads its own session', async () => {
    const done = `done-${randomToken(6)}`;
    const out = await type(`${hull} run --rm ${image} probe tiocsti /inject.txt; echo ${done}=$?`, new RegExp(`^${done}=\\d+$`, 'm'));
    expect(out).toMatch(new RegExp(`^${done}=0$`, 'm'));
    expectNothingInjected(out.slice(out.lastIndexOf(`${hull} run`)));
  });

  it('hull run -i: stdin is a pipe fed from the terminal, lines and EOF (Ctrl-D) get through, nothing is injected', async () => {
    const done = `done-${randomToken(6)}`;
    const word = randomToken(8);
    tmux('send-keys', '-t', 's', `${hull} run -i --rm ${image} sh -c 'probe tiocsti /inject.txt; read line; echo got-$line; cat; echo eof'; echo ${done}=$?`, 'Enter');
    await waitFor(() => /^session-leader: yes$/m.test(screen()), 60_000, 'the probe');
    expect(screen()).toMatch(/^fd0: ENOTTY$/m);
    tmux('send-keys', '-t', 's', word, 'Enter');
    await waitFor(() => new RegExp(`^got-${word}$`, 'm').test(screen()), 10_000, 'the line read by the container');
    tmux('send-keys', '-t', 's', 'C-d');
    await waitFor(() => new RegExp(`^${done}=0$`, 'm').test(screen()), 10_000, 'EOF to end cat, and hull');
    await new Promise((r) => setTimeout(r, 1000));
    expect(screen()).toMatch(/^eof$/m);
    expect(screen()).not.toContain(marker);
    expect(existsSync(injected)).toBe(false);
  });

  it('PID 1 is in another session than hull on the host; Ctrl-C still reaches it through hull', async () => {
    const done = `done-${randomToken(6)}`;
    tmux('send-keys', '-t', 's', `${hull} run --rm ${image} sleep 300; echo ${done}=$?`, 'Enter');
    let state: { pid?: number; monitorPid?: number; status?: string } = {};
    await waitFor(() => {
      const ids = root.containers();
      if (ids.length !== 1) return false;
      try {
        state = JSON.parse(readFileSync(join(root.dir, 'containers', ids[0]!, 'state.json'), 'utf8')) as typeof state;
      } catch {
        return false;
      }
      return state.status === 'running';
    }, 60_000, 'the container to run');
    const hullSession = sessionOf(state.monitorPid!);
    expect(sessionOf(state.pid!)).not.toBe(hullSession);
    expect(sessionOf(state.pid!)).toBe(state.pid); // it leads its own
    tmux('send-keys', '-t', 's', 'C-c');
    // sleep has no SIGINT handler, and as PID 1 the kernel would drop it: hull sends SIGKILL (docker's outcome).
    await waitFor(() => new RegExp(`${done}=137$`, 'm').test(screen()), 20_000, 'hull to forward Ctrl-C').catch((err: Error) => {
      throw new Error(`${err.message}; the screen:\n${screen()}`);
    });
    await waitFor(() => root.containers().length === 0, 10_000, '--rm');
  });

  it('hull exec (no -t): the same for a process joining a running container', async () => {
    const name = `term-${randomToken(6)}`;
    const started = await root.hull(['run', '-d', '--name', name, image, 'sleep', '300']);
    expect(started.code).toBe(0);
    try {
      const done = `done-${randomToken(6)}`;
      const out = await type(`${hull} exec ${name} probe tiocsti /inject.txt; echo ${done}=$?`, new RegExp(`^${done}=\\d+$`, 'm'));
      expect(out).toMatch(new RegExp(`^${done}=0$`, 'm'));
      expectNothingInjected(out.slice(out.lastIndexOf(`${hull} exec`)));
    } finally {
      await root.hull(['rm', '-f', name]);
    }
    await waitFor(() => root.containers().length === 0, 10_000, 'rm -f');
    expect(readdirSync(root.dir).filter((f) => f.startsWith('injected-'))).toEqual([]);
    expect(descendants()).toEqual([]);
  });
});
