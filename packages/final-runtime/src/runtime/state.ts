// hull-runtime's own bookkeeping: one directory per container under --root
// (default /run/hull-runtime, like runc's /run/runc), holding state.json and,
// between `create` and `start`, the exec FIFO the init waits on.
//
// The status is never stored: it is observed, as runc does.
//   the init's pid is gone (or reused)       -> stopped
//   the exec FIFO still exists               -> created   (the init waits on it)
//   the cgroup's freezer says frozen         -> paused
//   otherwise                                -> running
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@hull/06-network';
import { OCI_VERSION, type ContainerState, processStartTime } from '@hull/sys';

export const DEFAULT_RUNTIME_ROOT = '/run/hull-runtime';

/** A runtime failure: one line, and runc's exit status 1. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/** What state.json records, once `create` has cloned the init. */
export interface RuntimeRecord {
  id: string;
  /** The init's host pid, and its start time, so a reused pid is never mistaken for it. */
  pid: number;
  pidStartTime: number;
  bundle: string;
  rootfs: string;
  /** RFC 3339, as runc's `state` prints it. */
  created: string;
  annotations: Record<string, string>;
  /** The container's cgroup under hull/, as 04's createCgroup names it. */
  cgroup: string;
  /** Its directories, so `delete` can remove them even if the layout changed. */
  cgroupDirs: string[];
  /** The bundle's config.json as `create` read it: `delete` runs its poststop hooks. */
  config: string;
}

export type ObservedStatus = ContainerState['status'] | 'paused';

/** runc's rule: letters, digits, "_", "+", "-", "."; never "." or "..": the id is a directory name. */
export function checkContainerId(id: string): string {
  if (!/^[\w+.-]{1,1024}$/.test(id) || id === '.' || id === '..') throw new RuntimeError(`invalid id format: ${JSON.stringify(id)}`);
  return id;
}

export function containerPath(root: string, id: string): string {
  return join(root, checkContainerId(id));
}

export function execFifoPath(root: string, id: string): string {
  return join(containerPath(root, id), 'exec.fifo');
}

/** The container's directory, made exclusively: a second `create` of the same id fails here. */
export function makeContainerDir(root: string, id: string): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = containerPath(root, id);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new RuntimeError(`container with id exists: ${id}`);
    throw err;
  }
  return dir;
}

export function writeRecord(root: string, record: RuntimeRecord): void {
  writeFileAtomic(join(containerPath(root, record.id), 'state.json'), JSON.stringify(record, null, 2));
}

/** The record, or a "does not exist" error (containerd and podman match on those words). */
export function readRecord(root: string, id: string): RuntimeRecord {
  const path = join(containerPath(root, id), 'state.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new RuntimeError(`container "${id}" does not exist`);
  }
  return JSON.parse(text) as RuntimeRecord;
}

export function recordExists(root: string, id: string): boolean {
  return existsSync(join(containerPath(root, id), 'state.json'));
}

export function removeContainerPath(root: string, id: string): void {
  rmSync(containerPath(root, id), { recursive: true, force: true });
}

export function listIds(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((id) => /^[\w+.-]+$/.test(id) && recordExists(root, id)).sort();
}

/** Is the init (or what it exec'd) still the process create started? A zombie counts as gone. */
export function initAlive(record: RuntimeRecord): boolean {
  if (!(record.pid > 0) || processStartTime(record.pid) !== record.pidStartTime) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${record.pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function frozen(record: RuntimeRecord): boolean {
  for (const dir of record.cgroupDirs) {
    try {
      if (existsSync(join(dir, 'freezer.state'))) return readFileSync(join(dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
      // pause writes cgroup.freeze (v2, or a hybrid host's unified tree); cgroup.events says whether it took.
      if (existsSync(join(dir, 'cgroup.events'))) return /^frozen 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
    } catch {
      // a cgroup removed under us: not frozen
    }
  }
  return false;
}

export function observeStatus(root: string, record: RuntimeRecord): ObservedStatus {
  if (!initAlive(record)) return 'stopped';
  if (existsSync(execFifoPath(root, record.id))) return 'created';
  return frozen(record) ? 'paused' : 'running';
}

/** The runtime spec's state, plus runc's rootfs, created and owner. */
export function stateJson(root: string, record: RuntimeRecord): ContainerState & { rootfs: string; created: string; owner: string } {
  const status = observeStatus(root, record);
  const state: ContainerState & { rootfs: string; created: string; owner: string } = {
    ociVersion: OCI_VERSION,
    id: record.id,
    pid: status === 'stopped' ? 0 : record.pid,
    status: status === 'paused' ? 'running' : status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    annotations: record.annotations,
    owner: '',
  };
  // runc prints "paused" though the spec knows only four statuses; podman and containerd read it.
  if (status === 'paused') (state as { status: string }).status = 'paused';
  return state;
}
