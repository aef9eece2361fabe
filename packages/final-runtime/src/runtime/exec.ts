// `hull-runtime exec`: a new process in a running container, as runc's exec.
// Its description is a SpecProcess: given whole (--process FILE, which conmon
// and the shim write) or built from the container's own process with the
// flags applied on top (runc's rule). The native helper joins the init's
// namespaces through its pidfd, the host has put it in the container's
// cgroups, and the spec's hardening (capabilities, no_new_privs, seccomp) is
// applied to it, as to the init.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@hull/06-network';
import { close, exitCodeOf, openPtyAt, sendFd, setWindowSize, spawnJoin, type SpecProcess } from '@hull/sys';
import { namespacesOf, resolveInContainer } from '../commands/exec.js';
import { joinSecurity } from '../security/join.js';
import { securityFromSpec } from '../security/oci.js';
import { parseSpec } from './bundle.js';
import { observeStatus, readRecord, RuntimeError } from './state.js';

export interface ExecOptions {
  root: string;
  id: string;
  /** --process FILE, or null to build one from `args` and the flags. */
  processFile?: string;
  args: string[];
  cwd?: string;
  env: string[];
  user?: string;
  additionalGids: string[];
  tty: boolean;
  noNewPrivs: boolean;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
}

function parseUser(text: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new RuntimeError(`--user ${JSON.stringify(text)}: expected UID[:GID] (numbers)`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

function processFor(o: ExecOptions, base: SpecProcess | undefined): SpecProcess {
  if (o.processFile) {
    let proc: SpecProcess;
    try {
      proc = JSON.parse(readFileSync(o.processFile, 'utf8')) as SpecProcess;
    } catch (err) {
      throw new RuntimeError(`--process ${o.processFile}: ${(err as Error).message}`);
    }
    return proc;
  }
  if (o.args.length === 0) throw new RuntimeError('exec: no command given (ARGS or --process)');
  const proc: SpecProcess = { ...(base ?? { user: { uid: 0, gid: 0 }, cwd: '/' }), args: o.args, terminal: o.tty };
  if (o.cwd) proc.cwd = o.cwd;
  if (o.env.length) proc.env = [...(proc.env ?? []), ...o.env];
  if (o.user) proc.user = { ...proc.user, ...parseUser(o.user) };
  if (o.additionalGids.length) proc.user = { ...proc.user, additionalGids: o.additionalGids.map(Number) };
  if (o.noNewPrivs) proc.noNewPrivileges = true;
  return proc;
}

export async function execInContainer(o: ExecOptions): Promise<number> {
  const record = readRecord(o.root, o.id);
  const status = observeStatus(o.root, record);
  if (status === 'stopped') throw new RuntimeError('cannot exec in a stopped container');
  if (status === 'paused') throw new RuntimeError('cannot exec in a paused container');
  const { spec } = parseSpec(record.config, record.bundle);
  const proc = processFor(o, spec.process);
  // The same checks as a bundle's process, and the same hardening as the init's.
  parseSpec(JSON.stringify({ ...spec, process: proc }), record.bundle);
  if (proc.terminal && !o.consoleSocket) throw new RuntimeError('cannot allocate tty if hull-runtime will detach without setting console socket');
  const plan = securityFromSpec({ ...spec, process: proc });
  const pid = record.pid;
  const env = proc.env ?? [];
  const path = resolveInContainer(pid, proc.args![0]!, env);
  let pty: ReturnType<typeof openPtyAt> | undefined;
  if (proc.terminal) {
    // A pty of the container's own devpts, as for its init: it is /dev/pts/N inside.
    pty = openPtyAt(`/proc/${pid}/root/dev/pts/ptmx`);
    if (proc.consoleSize) setWindowSize(pty.slave, proc.consoleSize.height, proc.consoleSize.width);
    try {
      sendFd(o.consoleSocket!, pty.master, pty.path);
    } finally {
      close(pty.master);
    }
  }
  let child;
  try {
    child = await spawnJoin({
      target: pid,
      namespaces: namespacesOf(pid),
      path,
      argv: proc.args!,
      env,
      cwd: proc.cwd,
      user: { uid: proc.user.uid, gid: proc.user.gid, groups: proc.user.additionalGids ?? [] },
      stdio: pty ? [pty.slave, pty.slave, pty.slave] : [0, 1, 2],
      security: joinSecurity(plan.spec),
      setsid: true,
      ...(pty ? { controllingTerminal: true } : {}),
      pdeathsig: o.detach ? 0 : 'SIGKILL',
      beforeStart: (helper) => {
        for (const dir of record.cgroupDirs) writeFileSync(join(dir, 'cgroup.procs'), String(helper));
      },
    });
  } finally {
    if (pty) close(pty.slave);
  }
  // conmon reads it with atoi: digits only.
  if (o.pidFile) writeFileAtomic(o.pidFile, String(child.pid), 0o644);
  if (o.detach) return 0;
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  return exitCodeOf(await child.exited);
}
