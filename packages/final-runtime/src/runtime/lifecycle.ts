// The rest of runtime.md's operations on a created container: start, kill,
// delete, plus runc's pause/resume and ps. Each reads state.json and the
// kernel, never a daemon: any number of hull-runtime processes may act on
// the same --root (a lock serialises the ones that change it).
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import { openCgroup } from '@hull/04-cgroups';
import { close, kill, O_NONBLOCK, O_WRONLY, open, OCI_VERSION, pidfdOpen, pidfdSendSignal, signalNumber, SyscallError, withLock, write } from '@hull/sys';
import { DeviceCgroup } from '../security/devices.js';
import { parseSpec } from './bundle.js';
import { runHook } from './hooks.js';
import { checkContainerId, execFifoPath, initAlive, observeStatus, readRecord, removeContainerPath, type RuntimeRecord, RuntimeError } from './state.js';

/**
 * Serialise start/kill/delete/pause. One lock file for the whole --root (the
 * sections are short): a lock inside a container's directory could not
 * outlive the delete that removes it, and one beside it would be left behind.
 */
export function withContainerLock<T>(root: string, id: string, fn: () => T): T {
  checkContainerId(id);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  return withLock(join(root, 'hull-runtime.lock'), fn);
}

function hookState(record: RuntimeRecord, status: string): Record<string, unknown> {
  return { ociVersion: OCI_VERSION, id: record.id, status, ...(status === 'stopped' ? {} : { pid: record.pid }), bundle: record.bundle, annotations: record.annotations };
}

/** `start`: one byte into the exec FIFO releases the init; then poststart hooks. */
export function startContainer(root: string, id: string, log: (msg: string) => void): void {
  const record = readRecord(root, id);
  const status = observeStatus(root, record);
  if (status === 'stopped') throw new RuntimeError('cannot start a container that has stopped');
  if (status !== 'created') throw new RuntimeError('cannot start an already running container');
  const fifo = execFifoPath(root, id);
  let fd: number;
  try {
    // Non-blocking: ENXIO (no reader) means the init is gone, rather than waiting for ever.
    fd = open(fifo, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'ENXIO') throw new RuntimeError('cannot start a container that has stopped');
    throw err;
  }
  try {
    write(fd, Buffer.from('0'));
  } finally {
    close(fd);
  }
  unlinkSync(fifo);
  const spec = parseSpec(record.config, record.bundle).spec;
  // poststart: a failure is logged, the container goes on (config.md).
  for (const hook of spec.hooks?.poststart ?? []) {
    try {
      runHook('poststart', hook, hookState(record, 'running'));
    } catch (err) {
      log(`warning: ${(err as Error).message}`);
    }
  }
}

/** A signal to the init, through a pidfd opened after checking its start time: never to a reused pid. */
function signalInit(record: RuntimeRecord, sig: number): void {
  let pidfd: number;
  try {
    pidfd = pidfdOpen(record.pid);
  } catch {
    throw new RuntimeError('container not running');
  }
  try {
    if (!initAlive(record)) throw new RuntimeError('container not running');
    pidfdSendSignal(pidfd, sig);
  } finally {
    close(pidfd);
  }
}

export function parseSignal(text: string): number {
  const name = text.toUpperCase();
  if (/^\d+$/.test(name)) {
    const n = Number(name);
    if (n < 1 || n > 64) throw new RuntimeError(`invalid signal: ${text}`);
    return n;
  }
  try {
    return signalNumber(name.startsWith('SIG') ? name : `SIG${name}`);
  } catch {
    throw new RuntimeError(`invalid signal: ${text}`);
  }
}

export function containerPids(record: RuntimeRecord): number[] {
  return openCgroup(record.cgroup)?.pids() ?? [];
}

/** `kill [--all] ID [SIGNAL]`: the init, or with --all every process in its cgroup. */
export function killContainer(root: string, id: string, sig: number, all: boolean): void {
  const record = readRecord(root, id);
  const status = observeStatus(root, record);
  if (status === 'stopped') throw new RuntimeError('container not running');
  if (!all) return signalInit(record, sig);
  for (const pid of containerPids(record)) {
    try {
      kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  }
}

async function waitGone(record: RuntimeRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (initAlive(record)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * `delete [--force] ID`: a stopped (or created: its init only waits) container
 * goes; a running one only with --force, which SIGKILLs what is in its cgroup.
 * Then the cgroup, the poststop hooks and the state directory.
 */
export async function deleteContainer(root: string, id: string, force: boolean, log: (msg: string) => void): Promise<void> {
  const record = readRecord(root, id);
  const status = observeStatus(root, record);
  if ((status === 'running' || status === 'paused') && !force) throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
  if (status !== 'stopped') {
    const cgroup = openCgroup(record.cgroup);
    // A frozen cgroup cannot die: thaw it first.
    if (status === 'paused') setFrozen(record, false);
    try {
      signalInit(record, 9);
    } catch {
      // gone meanwhile
    }
    for (const pid of cgroup?.pids() ?? []) {
      try {
        kill(pid, 9);
      } catch {
        // exited meanwhile
      }
    }
    if (!(await waitGone(record, 10_000))) throw new RuntimeError(`container ${id}: its init (pid ${record.pid}) did not die after SIGKILL`);
  }
  await openCgroup(record.cgroup)?.destroy();
  for (const dir of record.cgroupDirs) if (dir.includes('/devices/')) DeviceCgroup.find(dir.slice(dir.lastIndexOf('/') + 1))?.remove();
  removeContainerPath(root, id);
  const spec = parseSpec(record.config, record.bundle).spec;
  for (const hook of spec.hooks?.poststop ?? []) {
    try {
      runHook('poststop', hook, hookState(record, 'stopped'));
    } catch (err) {
      log(`warning: ${(err as Error).message}`);
    }
  }
}

/** The cgroup v2 freezer (cgroup.freeze; a hybrid host's unified tree has it too), or v1's freezer.state. */
function setFrozen(record: RuntimeRecord, frozen: boolean): void {
  const v2 = record.cgroupDirs.find((d) => existsSync(join(d, 'cgroup.freeze')));
  if (!v2) throw new RuntimeError('pause needs the cgroup v2 freezer (cgroup.freeze), which this container\'s cgroup lacks');
  writeFileSync(join(v2, 'cgroup.freeze'), frozen ? '1' : '0');
  // The kernel freezes asynchronously; cgroup.events says when it is done.
  const deadline = Date.now() + 5000;
  while (!readFileSync(join(v2, 'cgroup.events'), 'utf8').includes(`frozen ${frozen ? 1 : 0}`)) {
    if (Date.now() > deadline) throw new ContainerError(`container ${record.id}: the freezer did not settle`, 1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

export function pauseContainer(root: string, id: string, pause: boolean): void {
  const record = readRecord(root, id);
  const status = observeStatus(root, record);
  if (pause && status !== 'running') throw new RuntimeError(`container not running`);
  if (!pause && status !== 'paused') throw new RuntimeError(`container not paused`);
  setFrozen(record, pause);
}
