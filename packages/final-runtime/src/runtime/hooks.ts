// config.md "POSIX-platform Hooks": a program run with the container's state
// on stdin. The host runs prestart, createRuntime, poststart and poststop;
// the init runs createContainer and startContainer inside the container.
import { spawnSync } from 'node:child_process';
import { ContainerError } from '@hull/01-uts';
import type { SpecHook } from '@hull/sys';

/** Run a hook with the state on stdin, as config.md "POSIX-platform Hooks" says. */
export function runHook(kind: string, hook: SpecHook, state: Record<string, unknown>): void {
  const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path];
  const r = spawnSync(hook.path, args, {
    argv0,
    env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
    input: JSON.stringify(state),
    stdio: ['pipe', 'ignore', 'pipe'],
    timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
  });
  // A hook need not read its stdin: if it exits first, our write of the state fails with EPIPE,
  // and its exit status is what counts.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw new ContainerError(`${kind} hook ${hook.path}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  if (r.signal) throw new ContainerError(`${kind} hook ${hook.path}: killed by ${r.signal}${hook.timeout ? ` (timeout ${hook.timeout}s)` : ''}`);
  if (r.status !== 0) {
    const err = r.stderr.toString().trim().split('\n').pop();
    throw new ContainerError(`${kind} hook ${hook.path}: exit status ${r.status}${err ? `: ${err}` : ''}`);
  }
}

