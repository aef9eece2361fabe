// hull exec [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]
// A new process in a running container: the native helper joins PID 1's
// namespaces through its pidfd (all at once), forks into the PID namespace
// and execs; we put it in the container's cgroup first. The container's env,
// user and working directory apply unless overridden, as in docker; so do its
// capabilities, no_new_privs and seccomp filter (src/security/join.ts).
import { readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, StdioRelay, UsageError } from '@hull/01-uts';
import { resolveUser } from '@hull/07-oci-pull';
import { close, exitCodeOf, type Namespace, O_CLOEXEC, O_RDONLY, open, spawnJoin, SyscallError } from '@hull/sys';
import { boolOption, helpText, listOption, type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { flagEnv, mergeEnv } from '../container-config.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { DeviceCgroup } from '../security/devices.js';
import { joinSecurity } from '../security/join.js';
import { planSecurity } from '../security/plan.js';
import { isRunning, observedState } from '../store.js';

const OPTIONS: OptionSpecs = {
  interactive: { type: 'boolean', short: 'i', help: 'Keep stdin attached' },
  tty: { type: 'boolean', short: 't', help: 'Give it a pseudo-terminal' },
  env: { type: 'string', short: 'e', multiple: true, value: 'K=V', help: 'Set an environment variable (repeatable)' },
  user: { type: 'string', short: 'u', value: 'U[:G]', help: "Username or uid (default: the container's user)" },
  workdir: { type: 'string', short: 'w', value: 'DIR', help: "Working directory (default: the container's)" },
  help: { type: 'boolean' },
};

const HELP = helpText('hull exec [OPTIONS] CONTAINER COMMAND [ARG...]', OPTIONS, 'Run a command in a running container.');

const NAMESPACES: Namespace[] = ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup'];
const NS_FILE: Record<Namespace, string> = { user: 'user', mnt: 'mnt', pid: 'pid', net: 'net', uts: 'uts', ipc: 'ipc', cgroup: 'cgroup' };

/** The namespaces in which PID 1 differs from us: exactly the ones to join (setns refuses to "join" our own user namespace). */
export function namespacesOf(pid: number): Namespace[] {
  return NAMESPACES.filter((ns) => readlinkSync(`/proc/${pid}/ns/${NS_FILE[ns]}`) !== readlinkSync(`/proc/self/ns/${NS_FILE[ns]}`));
}

/** execvp's search, in the container's tree as /proc/PID/root shows it. */
export function resolveInContainer(pid: number, name: string, env: string[]): string {
  if (name.includes('/')) return name;
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of path.split(':')) {
    const candidate = `${dir || '/'}/${name}`.replace(/\/+/g, '/');
    try {
      const st = statSync(join(`/proc/${pid}/root`, candidate));
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not there
    }
  }
  throw new ContainerError(`exec "${name}": executable file not found in $PATH`, EXIT_NOT_FOUND);
}

export async function exec(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, OPTIONS, true);
  if (boolOption(values, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const [ref, ...command] = positionals;
  if (!ref || command.length === 0) throw new UsageError('"hull exec" requires at least 2 arguments: CONTAINER COMMAND');
  const config = findContainer(ref);
  const state = observedState(config.id);
  if (!isRunning(state)) throw new ContainerError(`container ${config.name} is not running`, EXIT_ERROR);
  const pid = state.pid;
  const rootOfIt = `/proc/${pid}/root`;
  const user = resolveUser(rootOfIt, stringOption(values, 'user') ?? config.user);
  const env = mergeEnv([`HOME=${user.home}`], config.env, flagEnv(listOption(values, 'env')), boolOption(values, 'tty') ? ['TERM=xterm'] : []);
  const path = resolveInContainer(pid, command[0]!, env);
  // The plan `hull run` made from the same recorded flags (its warnings were shown then), for this user.
  const security = joinSecurity(planSecurity({ ...config.security, user: { uid: user.uid, gid: user.gid, groups: user.groups } }).spec);
  const interactive = boolOption(values, 'interactive');
  const tty = boolOption(values, 'tty');

  const { Terminal } = tty ? await import('../terminal.js') : { Terminal: undefined };
  const terminal = Terminal?.open();
  const stdin = interactive ? 0 : open('/dev/null', O_RDONLY | O_CLOEXEC);
  // Never our terminal: a pty of its own with -t, else pipes wherever ours is one (01-uts stdio.ts).
  const relay = terminal ? undefined : StdioRelay.open([stdin, 1, 2]);
  const stdio = terminal ? [terminal.slave, terminal.slave, terminal.slave] : (relay?.stdio ?? [stdin, 1, 2]);
  let child;
  try {
    child = await spawnJoin({
      target: pid,
      namespaces: namespacesOf(pid),
      path,
      argv: command,
      env,
      cwd: stringOption(values, 'workdir') ?? config.workdir,
      user,
      stdio,
      security,
      // A session of its own, like PID 1: our terminal is not its controlling one.
      setsid: true,
      ...(terminal ? { controllingTerminal: true } : {}),
      // Into the container's cgroup before it joins anything: whatever it forks is counted and limited too.
      beforeStart: (helper) => {
        for (const dir of state.cgroupDirs) writeFileSync(join(dir, 'cgroup.procs'), String(helper));
        // and the devices allowlist (docs/hardening.md), or exec would be a way around it.
        DeviceCgroup.find(config.id)?.add(helper);
      },
    });
  } catch (err) {
    terminal?.abandon();
    relay?.abandon();
    throw explain(err, command[0]!, stringOption(values, 'workdir') ?? config.workdir);
  } finally {
    if (stdin !== 0) close(stdin);
  }
  terminal?.attach(interactive);
  relay?.start();
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  try {
    return exitCodeOf(await child.exited);
  } finally {
    await terminal?.detach();
    await relay?.finish();
  }
}

/** docker's words and codes for a command that cannot start. */
export function explain(err: unknown, name: string, workdir: string): unknown {
  if (!(err instanceof SyscallError)) return err;
  if (err.syscall === 'execve' && err.code === 'ENOENT') return new ContainerError(`exec "${name}": no such file or directory`, EXIT_NOT_FOUND);
  if (err.syscall === 'execve' && (err.code === 'EACCES' || err.code === 'ENOEXEC'))
    return new ContainerError(`exec "${name}": permission denied: not an executable file`, EXIT_CANNOT_EXECUTE);
  if (err.syscall === 'chdir') return new ContainerError(`exec: working directory ${workdir}: ${err.code}`, EXIT_CANNOT_EXECUTE);
  if (err.syscall === 'execve(own executable)') return new ContainerError(`exec "${name}": refused: it would run hull's own node binary (/proc/self/exe)`, EXIT_CANNOT_EXECUTE);
  if (err.syscall === 'getcwd') return new ContainerError(`exec: working directory ${workdir}: outside the container's root filesystem`, EXIT_CANNOT_EXECUTE);
  return err;
}
