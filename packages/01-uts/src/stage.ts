// The loop every chapter runs, the Node twin of Go's /proc/self/exe trick:
//
//   main.ts (host) --sys.spawn(new namespaces)--> node init.ts (PID 1 inside)
//        |                                            | reads the spec on fd 3
//        | beforeStart: maps, cgroup, network         | sets the container up
//        | waits, forwards signals                    | execve(CMD)
//        | reads fd 4: EOF = exec worked, else error  |
//
// The init stage is a second Node process because JS cannot run in a forked
// child (docs/architecture.md). Each chapter has its own init.ts that adds its
// setup steps; this module carries the spec in and the error out.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  close,
  closeRange,
  CLOSE_RANGE_CLOEXEC,
  type Child,
  exitCodeOf,
  type Namespace,
  O_CLOEXEC,
  pipe2,
  prctl,
  PR_SET_DUMPABLE,
  readToEnd,
  setCloexec,
  spawn,
  SyscallError,
  write,
  execve,
  execReachesSelfCheck,
} from '@hull/sys';
import { signals } from './signals.js';
import { StdioRelay } from './stdio.js';

/** docker's exit codes for failures before the command runs. */
export const EXIT_RUNTIME = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

/** A failure to set up or start the container; `exitCode` follows docker. */
export class ContainerError extends Error {
  override name = 'ContainerError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_RUNTIME,
  ) {
    super(message);
  }
}

/** What every chapter's spec holds; chapters extend it. */
export interface BaseSpec {
  /** The command, argv[0] resolved inside the container via PATH. */
  argv: string[];
  env: string[];
  hostname?: string;
}

const SPEC_FD = 3;
const REPORT_FD = 4;

/** The argv that runs a stage module with the same Node (and, under tsx, the same loader) as us. */
export function stageArgv(stage: URL): string[] {
  return [process.execPath, ...process.execArgv, fileURLToPath(stage)];
}

export interface RunOptions<S extends BaseSpec> {
  /** The init module to run as PID 1, e.g. new URL('./init.js', import.meta.url). */
  stage: URL;
  spec: S;
  namespaces: Namespace[];
  beforeStart?: (pid: number) => void | Promise<void>;
  /** Called once the command runs (exec succeeded), with its host pid. */
  onStart?: (pid: number) => void;
  /** The container's stdio (default: ours); any of them that is a terminal is replaced by a pipe (stdio.ts). */
  stdio?: [number, number, number];
  /** `stdio` is a pty of the container's own (-t): passed as is, and made PID 1's controlling terminal. */
  terminal?: boolean;
}

/**
 * Start the container, wait for it, and return its exit code (128+N when a
 * signal N ended it). Throws ContainerError when it never got to run CMD.
 */
export async function runContainer<S extends BaseSpec>(opts: RunOptions<S>): Promise<number> {
  const [specR, specW] = pipe2(O_CLOEXEC);
  const [reportR, reportW] = pipe2(O_CLOEXEC);
  const relay = opts.terminal ? undefined : StdioRelay.open(opts.stdio ?? [0, 1, 2]);
  // From before the clone: a signal that comes while we set up waits for the command (signals.ts).
  const signalSession = signals.session();
  let child: Child;
  try {
    // The spec is small; it fits in the pipe buffer, so this cannot block.
    write(specW, Buffer.from(JSON.stringify(opts.spec)));
    close(specW);
    const [i, o, e] = relay?.stdio ?? opts.stdio ?? [0, 1, 2];
    const argv = stageArgv(opts.stage);
    child = await spawn({
      argv,
      env: stageEnv(),
      namespaces: opts.namespaces,
      stdio: [i, o, e, specR, reportW],
      // PID 1 leads a session of its own, so it never has our terminal as its
      // controlling one (/dev/tty, TIOCSTI, our job control); with -t its pty is.
      setsid: true,
      controllingTerminal: opts.terminal === true,
      // CVE-2019-5736: the init stage is the host's node until it execs the command.
      readonlyExecutable: opts.namespaces.includes('mnt'),
      ...(opts.beforeStart ? { beforeStart: opts.beforeStart } : {}),
    });
  } catch (err) {
    close(reportR);
    relay?.abandon();
    signalSession.close();
    throw err;
  } finally {
    close(specR);
    close(reportW);
  }
  relay?.start();

  try {
    const report = await readToEnd(reportR);
    if (report.length > 0) {
      await child.exited;
      const failure = JSON.parse(report.toString('utf8')) as { message: string; exitCode: number };
      throw new ContainerError(failure.message, failure.exitCode);
    }
    // EOF: the execve happened, the command runs. Now, and not before, it gets its signals.
    signalSession.forwardTo(child, opts.namespaces.includes('pid'));
    opts.onStart?.(child.pid);
    return exitCodeOf(await child.exited);
  } finally {
    signalSession.close();
    await relay?.finish();
  }
}

/** The init stage needs our loader flags and PATH; the container's own env travels in the spec. */
function stageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

// ---------------------------------------------------------------- init side

/** In the init stage: read the spec the parent wrote on fd 3. */
export function readSpec<S extends BaseSpec>(): S {
  const spec = JSON.parse(readFileSync(SPEC_FD, 'utf8')) as S;
  close(SPEC_FD);
  // The report pipe must vanish with a successful execve: that is how the parent learns it worked.
  setCloexec(REPORT_FD, true);
  return spec;
}

/** In the init stage: tell the parent why we failed, then exit with docker's code. */
export function failStage(err: unknown): never {
  const failure = describeFailure(err);
  try {
    write(REPORT_FD, Buffer.from(JSON.stringify(failure)));
  } catch {
    process.stderr.write(`hull: ${failure.message}\n`);
  }
  process.exit(failure.exitCode);
}

function describeFailure(err: unknown): { message: string; exitCode: number } {
  if (err instanceof ContainerError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof SyscallError) return { message: err.message, exitCode: EXIT_RUNTIME };
  const message = err instanceof Error ? err.message : String(err);
  return { message: process.env.HULL_DEBUG === '1' && err instanceof Error ? (err.stack ?? message) : message, exitCode: EXIT_RUNTIME };
}

/**
 * Run an init stage: read the spec, run the chapter's setup, exec the command.
 * Any failure goes to the parent as one line with docker's exit code.
 */
export function runStage<S extends BaseSpec>(setup: (spec: S) => void): never {
  try {
    // CVE-2016-9962's class: until execve this process is the host's node,
    // with the host's view and fds. Non-dumpable, no process without
    // CAP_SYS_PTRACE over it may ptrace it or open its /proc/PID/fd, mem or
    // environ. execve makes the container's program dumpable again.
    prctl(PR_SET_DUMPABLE, 0);
    // The native library lives on the host: load it before setup leaves the host's tree.
    reachesSelf = execReachesSelfCheck();
    const spec = readSpec<S>();
    setup(spec);
    execCommand(spec.argv, spec.env);
  } catch (err) {
    failStage(err);
  }
}

let reachesSelf: ((path: string) => boolean) | undefined;

/** Find argv[0] the way execvp does, using the container's PATH, then exec it. */
export function execCommand(argv: readonly string[], env: readonly string[], reaches = reachesSelf, keepFds = 0): never {
  const name = argv[0];
  if (!name) throw new ContainerError('no command given', EXIT_RUNTIME);
  const path = resolveCommand(name, env);
  // Whatever Node or our setup opened without O_CLOEXEC stays here: the command
  // gets 0, 1, 2 only (runc closes them for CVE-2024-21626's class too). The
  // report pipe is already close-on-exec, so a failed execve can still report.
  closeRange(3 + keepFds, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  // CVE-2019-5736: until execve we are the host's node, and `#!/proc/self/exe`
  // (or a PT_INTERP naming it) would run it inside the container.
  if (reaches?.(path)) throw new ContainerError(`exec "${name}": refused: it would run hull's own node binary (/proc/self/exe)`, EXIT_CANNOT_EXECUTE);
  try {
    return execve(path, argv, env);
  } catch (err) {
    if (err instanceof SyscallError) {
      if (err.code === 'ENOENT') throw new ContainerError(`exec "${name}": no such file or directory`, EXIT_NOT_FOUND);
      if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR')
        throw new ContainerError(`exec "${name}": permission denied: not an executable file`, EXIT_CANNOT_EXECUTE);
    }
    throw err;
  }
}

export function resolveCommand(name: string, env: readonly string[]): string {
  if (name.includes('/')) return name;
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of pathVar.split(':')) {
    const candidate = `${dir || '.'}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new ContainerError(`exec "${name}": executable file not found in $PATH`, EXIT_NOT_FOUND);
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSyncSafe(path);
    return st !== null && st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function statSyncSafe(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}
