// hull run -it: a real pty, driven like a person would, through tmux
// (send-keys, capture-pane): a prompt, the window size and its changes,
// Ctrl-C reaching the container's foreground job, the exit code.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime tty'))('hull run -it under tmux', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  // A tmux server of our own (-L): never the user's, never another test's.
  const server = `hull${randomToken(8)}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
  const screen = (): string => tmux('capture-pane', '-p', '-t', 's');
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sh'] });
    await root.hull(['pull', image]);
  });

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone with its last session
    }
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
  });

  it('is a usable shell: prompt, window size and resize, Ctrl-C, exit code', async () => {
    const exitFile = join(root.dir, 'exit');
    const env = `HULL_ROOT=${root.dir} HULL_BRIDGE=${root.bridge} HULL_SUBNET=${root.subnet}`;
    tmux('new-session', '-d', '-s', 's', '-x', '100', '-y', '30', `env ${env} node ${BIN} run -it --rm ${image}; echo exit=$? > ${exitFile}; sleep 60`);
    await waitFor(() => screen().includes('/ #'), 30_000, 'the shell prompt');

    tmux('send-keys', '-t', 's', 'echo $((6*7)); stty size; tty', 'Enter');
    await waitFor(() => screen().includes('42'), 10_000, 'the answer');
    await waitFor(() => /^30 100$/m.test(screen()), 10_000, 'stty size 30 100');

    tmux('resize-window', '-t', 's', '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 's', 'clear; stty size', 'Enter');
    await waitFor(() => /^40 120$/m.test(screen()), 10_000, 'stty size 40 120 after the resize');

    // Ctrl-C ends the foreground job, not the shell.
    const marker = randomToken(8);
    tmux('send-keys', '-t', 's', 'clear; sleep 100', 'Enter');
    await new Promise((r) => setTimeout(r, 500));
    tmux('send-keys', '-t', 's', 'C-c');
    tmux('send-keys', '-t', 's', `echo alive-${marker}`, 'Enter');
    await waitFor(() => screen().includes(`alive-${marker}`), 10_000, 'the shell to survive Ctrl-C');

    tmux('send-keys', '-t', 's', 'exit 7', 'Enter');
    await waitFor(() => existsSync(exitFile), 15_000, 'hull to exit');
    expect(readFileSync(exitFile, 'utf8')).toBe('exit=7\n');
    await waitFor(() => root.containers().length === 0, 10_000, '--rm');
    expect(descendants()).toEqual([]);
  });

  it('-t without -i: output through the pty, no stdin; -dt is refused for now', async () => {
    const r = await root.hull(['run', '--rm', '-t', image, 'sh', '-c', 'test -t 1 && echo stdout-is-a-tty']);
    expect(r.stdout).toBe('stdout-is-a-tty\r\n'); // the pty's line discipline turns \n into \r\n, as docker's does
    const d = await root.hull(['run', '-dt', image]);
    expect(d.code).toBe(125);
  });
});
