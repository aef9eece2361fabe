// Signals sent to us belong to the container, however early they come.
//
// Until execve the container's first process is our init stage (or the native
// helper): a signal forwarded then reaches the wrong program. Node catches it
// in a handler it never gets to run (the init is busy in synchronous setup and
// then execs), and an uncaught SIGTERM to PID 1 of a PID namespace is dropped
// by the kernel. Either way the command never sees it and the step never ends.
// So from before the clone until the exec is confirmed (the report pipe's EOF)
// signals are queued, and delivered the moment the command runs. After the
// container has exited they are swallowed, so cleanup is never cut short.
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

export const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export type ForwardedSignal = (typeof FORWARDED)[number];
const TERMINATING = new Set<string>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);

/** Does the process have a handler for this signal? (SigCgt in /proc/PID/status.) */
export function catchesSignal(pid: number, name: string): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = BigInt('0x' + (/^SigCgt:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'));
    const n = (osConstants.signals as Record<string, number>)[name]!;
    return ((mask >> BigInt(n - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** The running command: its host pid, and how to signal it (a pidfd-backed Child never hits a reused pid). */
export interface SignalTarget {
  pid: number;
  kill(signal: NodeJS.Signals): void;
}

/**
 * One container's share of our signals: queued until `forwardTo()` names its
 * running command, then delivered to it, until `close()`.
 */
export class SignalSession {
  private queue: ForwardedSignal[] = [];
  private target: SignalTarget | undefined;
  private pidNamespace = false;

  constructor(private readonly closeSession: (s: SignalSession) => void) {}

  forwardTo(target: SignalTarget, pidNamespace: boolean): void {
    this.target = target;
    this.pidNamespace = pidNamespace;
    for (const name of this.queue.splice(0)) this.deliver(name);
  }

  receive(name: ForwardedSignal): void {
    if (this.target) this.deliver(name);
    else this.queue.push(name);
  }

  close(): void {
    this.target = undefined;
    this.queue = [];
    this.closeSession(this);
  }

  /**
   * PID 1 of a PID namespace gets only the signals it handles: `sleep` as PID 1
   * would shrug off SIGTERM forever. So a terminating signal it does not catch
   * becomes SIGKILL, the outcome a normal process would have had.
   */
  private deliver(name: ForwardedSignal): void {
    const target = this.target!;
    const signal = this.pidNamespace && TERMINATING.has(name) && !catchesSignal(target.pid, name) ? 'SIGKILL' : name;
    try {
      target.kill(signal);
    } catch {
      // already gone: its exit is on its way to us
    }
  }
}

/**
 * The one owner of our signal handlers. While anyone holds them, a signal sent
 * to us goes to every open session (a supervisor runs many containers) and is
 * otherwise swallowed; when the last holder lets go, the defaults are back.
 */
class SignalRelay {
  private holders = 0;
  private readonly sessions = new Set<SignalSession>();
  private readonly handlers = new Map<ForwardedSignal, () => void>();

  hold(): () => void {
    if (this.holders++ === 0) {
      for (const name of FORWARDED) {
        const handler = () => this.sessions.forEach((s) => s.receive(name));
        this.handlers.set(name, handler);
        process.on(name, handler);
      }
    }
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.holders > 0) return;
      for (const [name, handler] of this.handlers) process.off(name, handler);
      this.handlers.clear();
    };
  }

  /** A container's session; it holds our handlers until it is closed. */
  session(): SignalSession {
    const letGo = this.hold();
    const session = new SignalSession((s) => {
      this.sessions.delete(s);
      letGo();
    });
    this.sessions.add(session);
    return session;
  }
}

export const signals = new SignalRelay();
