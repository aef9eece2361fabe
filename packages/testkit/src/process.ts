import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Run any command to completion, collecting its output. Bounded by timeoutMs (SIGKILL). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return collect(start(cmd, args, opts), opts);
}

export function start(cmd: string, args: readonly string[], opts: RunOptions = {}): ChildProcess {
  return spawn(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess, opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr: stripNpmNoise(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** npm on some machines warns about its own config on every npx; that is not our output. */
function stripNpmNoise(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !/^npm (warn|notice)\b/.test(l))
    .join('\n');
}

/** The exact command a learner types, minus sudo (tests already run as root). */
export function stepCommand(chapter: string, args: readonly string[]): [string, string[]] {
  return ['npx', ['tsx', `packages/${chapter}/src/main.ts`, ...args]];
}

/** `npx tsx packages/<chapter>/src/main.ts ARGS...`, run to completion. */
export function runStep(chapter: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, argv] = stepCommand(chapter, args);
  return run(cmd, argv, opts);
}

/** Start a step and return the handle, for tests that signal it. */
export function startStep(chapter: string, args: readonly string[], opts: RunOptions = {}): ChildProcess {
  const [cmd, argv] = stepCommand(chapter, args);
  return start(cmd, argv, opts);
}

/** Resolve when `predicate` holds, polling every 50 ms; reject after timeoutMs. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const isRoot = process.getuid?.() === 0;

/**
 * For `describe.skipIf(!rootOr(...))`: true when running as root; otherwise
 * prints why the suite skips (under CI=true the no-skip reporter fails the run).
 */
export function requireRoot(suite: string): boolean {
  if (!isRoot) process.stderr.write(`skip: ${suite}: needs root (namespaces, mounts); run npm test as root\n`);
  return isRoot;
}

/** A word as a POSIX shell reads it back unchanged: bare when safe, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
