// The container half of the store under HULL_ROOT (the image half belongs to
// chapter 07):
//
//   containers/<id>/config.json   what was asked for; written once at create
//   containers/<id>/state.json    what is true now; rewritten as it changes
//   containers/<id>/upper, work   the overlay's writable layer
//   containers/<id>/rootfs        the overlay mount point (mounted while it runs)
//   containers/<id>/<id>-json.log its output, docker's json-file format
//
// Every write is chapter 06's writeFileAtomic (temp file created 0600 +
// rename), so a reader sees the old file or the new one, never half of one. Writers that must see each other (two `hull run
// --name x` at once) serialise on one lock file.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';
import type { CgroupLimits } from '@hull/04-cgroups';
import { type PortMapping, writeFileAtomic } from '@hull/06-network';
import { processStartTime, withLock } from '@hull/sys';
import { checkStoreRoot, storeRoot } from '@hull/07-oci-pull';
import type { VolumeSpec } from './volumes.js';
import type { SecurityFlags } from './security/plan.js';

const checkedRoots = new Set<string>();

/**
 * `HULL_ROOT`, else /var/lib/hull for root, else $XDG_DATA_HOME/hull:
 * chapter 07's storeRoot, checked once per process by chapter 07's
 * checkStoreRoot (not a symlink, writable by us alone) before anything is
 * read from it or created in it.
 */
export function hullRoot(): string {
  const root = storeRoot();
  if (!checkedRoots.has(root)) {
    checkStoreRoot(root);
    checkedRoots.add(root);
  }
  return root;
}

export function containersDir(root = hullRoot()): string {
  return join(root, 'containers');
}

/** A full container id as newContainerId makes it: 64 lowercase hex digits, so never `..`, `/` or empty. */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

export function isContainerId(id: string): boolean {
  return CONTAINER_ID.test(id);
}

/**
 * The one place a container id becomes a path: an id that arrives from a
 * request (the supervisor's socket) or a file must not name a directory
 * outside containers/ (`../../tmp/x`).
 */
export function containerDir(id: string, root = hullRoot()): string {
  if (!isContainerId(id)) throw new ContainerError(`invalid container id ${JSON.stringify(id)}: not 64 hex digits`, 1);
  return join(containersDir(root), id);
}

export function logPath(id: string, root = hullRoot()): string {
  return join(containerDir(id, root), `${id}-json.log`);
}

/** What the user asked for, resolved against the image: fixed once created. */
export interface ContainerConfig {
  id: string;
  name: string;
  /** The reference as typed, and the image it resolved to. */
  image: string;
  imageId: string;
  created: string;
  argv: string[];
  env: string[];
  hostname: string;
  workdir: string;
  /** As given (`-u`) or from the image; resolved to numbers at start. */
  user: string;
  autoRemove: boolean;
  detached: boolean;
  network: 'none' | 'host' | 'bridge';
  /** -p HOSTPORT:CTRPORT (bridge only; chapter 06's userland proxy). */
  publish: PortMapping[];
  /** -v/--volume, in the order given. */
  volumes: VolumeSpec[];
  /** --read-only: the root filesystem is mounted read-only (volumes keep their own mode). */
  readonly: boolean;
  /** --userns: 'remap' runs it in a user namespace (root inside = host uid 100000, chapter 05). */
  userns: 'host' | 'remap';
  /** -t: its stdio is a pty, which its init makes the controlling terminal of a new session. */
  tty: boolean;
  /** -m, --cpus, --pids-limit (chapter 04). */
  limits: CgroupLimits;
  /** --cap-add, --cap-drop, --security-opt, --ulimit, --privileged (src/security); absent in older configs. */
  security?: SecurityFlags;
  /** Overlay lower dirs, top layer first, as overlayfs wants them. */
  lowerdirs: string[];
  /** The image's manifest digest: what the copy driver flattens when overlayfs is unavailable. */
  manifest: string;
  /** overlay, or copy when HULL_STORAGE_DRIVER=copy asked for it at create (overlay falls back to copy by itself). */
  storageDriver: 'overlay' | 'copy';
}

export type Status = 'created' | 'running' | 'exited';

/** What is true now. `pid` + `pidStartTime` name one process even after pid reuse. */
export interface ContainerState {
  status: Status;
  pid: number;
  pidStartTime: number;
  /** The process that waits for PID 1 and records its exit: the foreground CLI or the supervisor. */
  monitorPid: number;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  error: string;
  /** How the rootfs was made (only overlay so far). */
  rootfsDriver: 'overlay' | 'copy' | '';
  /** The cgroup directories made for it (chapter 04), so `rm` can remove them after a crash. */
  cgroupDirs: string[];
  /** Its address on the bridge, for --network bridge. */
  ipAddress: string;
}

export function newState(): ContainerState {
  return { status: 'created', pid: 0, pidStartTime: 0, monitorPid: 0, startedAt: '', finishedAt: '', exitCode: 0, error: '', rootfsDriver: '', cgroupDirs: [], ipAddress: '' };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readConfig(id: string, root = hullRoot()): ContainerConfig {
  const config = readJson<ContainerConfig>(join(containerDir(id, root), 'config.json'));
  // Its id names the paths rm deletes and mounts under: it must be the directory it was read from.
  if (config.id !== id) throw new ContainerError(`container ${id}: its config.json names another id (${JSON.stringify(config.id)})`, 1);
  return config;
}

export function writeConfig(config: ContainerConfig, root = hullRoot()): void {
  writeFileAtomic(join(containerDir(config.id, root), 'config.json'), JSON.stringify(config, null, 2));
}

export function readState(id: string, root = hullRoot()): ContainerState {
  return readJson<ContainerState>(join(containerDir(id, root), 'state.json'));
}

export function writeState(id: string, state: ContainerState, root = hullRoot()): void {
  writeFileAtomic(join(containerDir(id, root), 'state.json'), JSON.stringify(state, null, 2));
}

/** Read-modify-write of state.json under the store lock. */
export function updateState(id: string, change: (s: ContainerState) => void, root = hullRoot()): ContainerState {
  return withStoreLock(() => {
    const state = readState(id, root);
    change(state);
    writeState(id, state, root);
    return state;
  }, root);
}

/** Every container id in the store whose config is complete (a crash mid-create leaves none). */
export function containerIds(root = hullRoot()): string[] {
  const dir = containersDir(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((id) => isContainerId(id) && existsSync(join(dir, id, 'config.json')) && existsSync(join(dir, id, 'state.json')));
}

export function removeContainerDir(id: string, root = hullRoot()): void {
  rmSync(containerDir(id, root), { recursive: true, force: true });
}

// ------------------------------------------------------------------ the lock

/**
 * Run `fn` holding HULL_ROOT/containers.lock: chapter 06's flock, which the
 * kernel releases when its holder dies, so a crashed command never blocks
 * the next one. Sections under it are short and synchronous.
 */
export function withStoreLock<T>(fn: () => T, root = hullRoot()): T {
  return withLock(join(root, 'containers.lock'), fn);
}

export function processAlive(pid: number): boolean {
  if (!(pid > 0)) return false; // kill(0) would mean our whole process group
  try {
    // A zombie is dead for our purposes: it will never record anything again.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

// --------------------------------------------------------------- processes

/** Is the container's PID 1 still the process we started (not a reused pid, not a zombie)? */
export function isRunning(state: ContainerState): boolean {
  if (state.status !== 'running' || state.pid <= 0) return false;
  if (processStartTime(state.pid) !== state.pidStartTime) return false;
  try {
    const status = readFileSync(`/proc/${state.pid}/status`, 'utf8');
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

/**
 * The recorded state, corrected by the kernel. A 'running' container whose
 * PID 1 is gone while nobody is left to record it (the monitor crashed, or
 * the machine rebooted) has exited with an unknown code: say so (-1) rather
 * than show a ghost as running.
 */
export function observedState(id: string, root = hullRoot()): ContainerState {
  const state = readState(id, root);
  if (state.status === 'running' && !isRunning(state) && !processAlive(state.monitorPid)) {
    state.status = 'exited';
    state.exitCode = -1;
    state.error = 'its monitor died before it recorded the exit';
  }
  return state;
}

/** Exited and recorded: what `stop` and `rm -f` wait for. */
export function isSettled(id: string, root = hullRoot()): boolean {
  try {
    return observedState(id, root).status !== 'running';
  } catch {
    return true; // removed (--rm): settled for good
  }
}
