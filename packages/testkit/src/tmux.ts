// A real pty for `-t` tests, driven as a person would: a tmux server of our
// own (-L NAME, never the user's or another test's), send-keys in,
// capture-pane out.
import { execFileSync } from 'node:child_process';
import { randomToken } from './random.js';

export interface TmuxSession {
  /** What the pane shows now. */
  screen(): string;
  /** tmux send-keys: literal text, or key names such as "Enter", "C-c". */
  send(...keys: string[]): void;
  /** Kill our tmux server (and whatever it still runs in its pane). */
  kill(): void;
}

/** Start `command` (one shell line) in a detached session of WIDTHxHEIGHT on a private tmux server. */
export function startTmux(command: string, size = { width: 100, height: 30 }): TmuxSession {
  const server = `hull${randomToken(8)}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
  tmux('new-session', '-d', '-s', 's', '-x', String(size.width), '-y', String(size.height), command);
  return {
    screen: () => tmux('capture-pane', '-p', '-t', 's'),
    send: (...keys) => void tmux('send-keys', '-t', 's', ...keys),
    kill: () => {
      try {
        tmux('kill-server');
      } catch {
        // already gone with its last session
      }
    },
  };
}
