// hull-runtime's init stage: PID 1 of the container until `start` lets it
// exec. It does exactly what config.json says, in crun's order:
//
//   join namespaces given by path -> open the exec FIFO and cgroup.procs
//   (host paths, before the host's tree goes) -> private mounts -> bind the
//   rootfs -> config.json's mounts in order -> /dev nodes and links ->
//   [host: prestart + createRuntime hooks] -> createContainer hooks ->
//   pivot_root -> propagation, read-only root -> sysctl, hostname -> join the
//   cgroup -> report "created" -> block on the FIFO until `start` ->
//   startContainer hooks -> cwd check -> masked paths, rlimits, caps, user,
//   seccomp (hardening) -> execve(process.args)
//
// The report pipe stays open (close-on-exec) until execve: an engine that
// still reads it (create's execReport) learns that the command ran from its
// EOF, or why it did not, with docker's exit code; for anyone else the
// failure goes to the container's stderr, as runc's does.
import { fchownSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { ContainerError, type BaseSpec, EXIT_RUNTIME, execCommand, failStage, readSpec } from '@hull/01-uts';
import { bindRootfs, createDevice, DEV_LINKS, DEVICES, pivotInto } from '@hull/03-chroot-proc';
import { makeMountsPrivate } from '@hull/02-pid-mount';
import { joinCgroup, openCgroupProcs } from '@hull/04-cgroups';
import {
  chdir,
  chroot,
  close,
  getcwd,
  linux,
  mount,
  MS_BIND,
  MS_MOVE,
  MS_RDONLY,
  MS_REMOUNT,
  dup2,
  open,
  O_CLOEXEC,
  O_RDONLY,
  prctl,
  PR_SET_DUMPABLE,
  read,
  type SpecHook,
  type SpecMount,
  setns,
  write,
  execReachesSelfCheck,
  openPtyAt,
  sendFd,
  setControllingTerminal,
  setWindowSize,
} from '@hull/sys';
import { applySecurity, linuxSecurity, type SecuritySpec } from '../security/harden.js';
import { trace } from '../trace.js';
import { enterWorkdir } from '../workdir.js';
import { runHook } from './hooks.js';
import { applyMount, type MountContext, PROPAGATION, resolveInRoot } from './mounts.js';

const REPORT_FD = 4;
const CONTINUE_FD = 5;

export interface RuntimeInitSpec extends BaseSpec {
  id: string;
  rootfs: string;
  bundle: string;
  mounts: SpecMount[];
  readonlyRoot: boolean;
  rootfsPropagation?: string;
  noPivot: boolean;
  /** Namespaces to enter by path (setns), as {flag, path}; the new ones were made by the clone. */
  joins: { flag: number; path: string; type: string }[];
  /** The container has its own UTS namespace: set hostname / domainname. */
  hostname?: string;
  domainname?: string;
  cwd: string;
  /** runc makes the default nodes unless /dev is a bind mount of the host's. */
  defaultDevices: boolean;
  terminal: boolean;
  /** With terminal: where to send the pty master (--console-socket), and the window size. */
  consoleSocket?: string;
  consoleSize?: { height: number; width: number };
  /** process.user, for the console's owner. */
  user: { uid: number; gid: number };
  sysctl: Record<string, string>;
  cgroupProcs: string[];
  cgroup: Pick<MountContext, 'cgroupV1Dirs' | 'cgroupV2'>;
  hooks: { createContainer: SpecHook[]; startContainer: SpecHook[] };
  /** The state JSON hooks get on stdin (pid filled in by us). */
  state: Record<string, unknown>;
  security: SecuritySpec;
  /** --preserve-fds N: our fds 7.. carry them; they go to 3.. right before execve. */
  preserveFds: number;
}

/** The exec FIFO, opened by the host: a user namespace's root could not open it in hull-runtime's 0700 --root. */
const FIFO_FD = 6;
const PRESERVED_BASE = 7;
/** Once "created" is reported the host is gone: failures go to the container's stderr. */
let created = false;

/** Tell the host where we are; newline-delimited JSON, so it can tell steps from a failure. */
function report(msg: Record<string, unknown>): void {
  write(REPORT_FD, Buffer.from(`${JSON.stringify(msg)}\n`));
}

/** Wait for the host's go-ahead (it ran its hooks); EOF means it gave up on us. */
function waitContinue(): void {
  const buf = Buffer.alloc(1);
  if (read(CONTINUE_FD, buf) !== 1) throw new ContainerError('the runtime gave up on this container (a hook failed)');
}

function makeDevices(spec: RuntimeInitSpec): void {
  const dev = resolveInRoot(spec.rootfs, '/dev');
  mkdirSync(dev, { recursive: true, mode: 0o755 });
  if (spec.defaultDevices) {
    for (const device of DEVICES) {
      const path = `${dev}/${device.name}`;
      if (!exists(path)) createDevice(linux, dev, device);
    }
    for (const [target, name] of DEV_LINKS) if (!exists(`${dev}/${name}`)) linux.symlink(target, `${dev}/${name}`);
  }
}

/**
 * runc's console: a pty from the container's own devpts (so it is
 * /dev/pts/N inside), its master sent to --console-socket and not kept, its
 * slave our stdio and controlling terminal, and bound over /dev/console.
 */
function setupConsole(spec: RuntimeInitSpec): void {
  const ptmx = resolveInRoot(spec.rootfs, '/dev/pts/ptmx');
  if (!exists(ptmx)) throw new ContainerError('process.terminal needs a devpts mount at /dev/pts');
  const pty = openPtyAt(ptmx);
  try {
    if (spec.consoleSize) setWindowSize(pty.slave, spec.consoleSize.height, spec.consoleSize.width);
    fchownSync(pty.slave, spec.user.uid, spec.user.gid);
    sendFd(spec.consoleSocket!, pty.master, pty.path);
  } finally {
    close(pty.master);
  }
  for (const fd of [0, 1, 2]) dup2(pty.slave, fd);
  close(pty.slave);
  setControllingTerminal(0);
  const console = resolveInRoot(spec.rootfs, '/dev/console');
  if (!exists(console)) writeFileSync(console, '', { mode: 0o600 });
  mount(resolveInRoot(spec.rootfs, pty.path), console, null, MS_BIND);
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}


function enterRoot(spec: RuntimeInitSpec): void {
  if (spec.noPivot) {
    // --no-pivot (for a rootfs on a ramfs, where pivot_root is refused): move it over "/" and chroot.
    chdir(spec.rootfs);
    mount(spec.rootfs, '/', null, MS_MOVE);
    chroot('.');
    chdir('/');
  } else {
    pivotInto(linux, spec.rootfs);
  }
  // runc makes a missing cwd, before the root can turn read-only; never
  // through a /proc magic link (CVE-2024-21626's class: workdir.ts).
  enterWorkdir(spec.cwd);
  if (spec.rootfsPropagation) mount(null, '/', null, PROPAGATION[spec.rootfsPropagation]!);
  if (spec.readonlyRoot) mount(null, '/', null, MS_REMOUNT | MS_BIND | MS_RDONLY | 4 /* MS_NODEV, kept from bindRootfs */);
}

function setup(spec: RuntimeInitSpec): void {
  for (const ns of spec.joins) {
    const fd = open(ns.path, O_RDONLY | O_CLOEXEC);
    try {
      setns(fd, ns.flag);
    } catch (err) {
      throw new ContainerError(`join the ${ns.type} namespace ${ns.path}: ${(err as Error).message}`);
    } finally {
      close(fd);
    }
  }
  const fifo = FIFO_FD;
  const cgroupProcs = openCgroupProcs(spec.cgroupProcs);
  makeMountsPrivate(linux);
  bindRootfs(linux, spec.rootfs);
  const ctx: MountContext = { rootfs: spec.rootfs, bundle: spec.bundle, ...spec.cgroup };
  for (const m of spec.mounts) applyMount(linux, m, ctx);
  makeDevices(spec);
  if (spec.terminal) setupConsole(spec);
  report({ step: 'createRuntime' });
  waitContinue();
  const state = { ...spec.state, pid: process.pid };
  for (const hook of spec.hooks.createContainer) runHook('createContainer', hook, state);
  enterRoot(spec);
  for (const [key, value] of Object.entries(spec.sysctl)) writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  if (spec.hostname !== undefined) linux.sethostname(spec.hostname);
  if (spec.domainname !== undefined) writeFileSync('/proc/sys/kernel/domainname', spec.domainname);
  // Into the cgroup before "created", as runc: from here on `ps`, `kill --all`
  // and the engine's stats see it. Node's memory so far stays charged where it
  // was (charges do not move with a process), and pids.max does not block a move.
  joinCgroup(cgroupProcs);
  report({ created: true });
  close(CONTINUE_FD);
  created = true;
  // `start` writes one byte. Until then we sleep here, PID 1 of a created container.
  const go = Buffer.alloc(1);
  while (read(fifo, go) !== 1);
  close(fifo);
  for (const hook of spec.hooks.startContainer) runHook('startContainer', hook, state);
  // CVE-2024-21626's class: a cwd that "/" cannot reach (through a leaked fd) is refused.
  if (!getcwd().startsWith('/')) throw new ContainerError(`working directory ${spec.cwd}: outside the container's root filesystem`);
  trace('init-security');
  applySecurity(linuxSecurity, spec.security);
  // --preserve-fds: into place at 3.. (dup2 clears close-on-exec on the copy).
  for (let i = 0; i < spec.preserveFds; i++) dup2(PRESERVED_BASE + i, 3 + i);
}

try {
  // As in 01's runStage: non-dumpable until execve, and the exec check loaded while the host's tree is here.
  prctl(PR_SET_DUMPABLE, 0);
  const reaches = execReachesSelfCheck();
  const spec = readSpec<RuntimeInitSpec>();
  trace('init-start');
  setup(spec);
  trace('init-exec');
  execCommand(spec.argv, spec.env, reaches, spec.preserveFds);
} catch (err) {
  if (!created) failStage(err);
  const message = err instanceof Error ? err.message : String(err);
  try {
    // EPIPE (Node ignores SIGPIPE) when nobody reads any more: then stderr.
    write(REPORT_FD, Buffer.from(JSON.stringify({ message, exitCode: err instanceof ContainerError ? err.exitCode : EXIT_RUNTIME })));
  } catch {
    process.stderr.write(`hull-runtime: ${message}\n`);
  }
  process.exit(err instanceof ContainerError ? err.exitCode : 1);
}
