// `hull-runtime create` (and the first half of `run`): from a bundle to an
// init that waits on the exec FIFO, as runtime.md's "create" says: every
// resource the spec asks for is set up, the user process is not run yet.
//
//   check id + bundle -> state dir, exec FIFO -> cgroup (linux.resources,
//   cgroupsPath) and device allow list -> clone the init into the new
//   namespaces -> [user namespace: write its uid/gid maps (chapter 05) and
//   move it into its cgroups, while it waits] -> it mounts; we run
//   prestart/createRuntime hooks -> it pivots and joins the cgroup ->
//   "created" -> state.json, --pid-file
//
// The init is our child but must outlive us (conmon and containerd's shim
// are subreapers: they adopt and reap it), so no PDEATHSIG for `create`.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { ContainerError, extname, stageArgv } from '@hull/01-uts';
import { type Cgroup, type CgroupLimits, createCgroup, detectLayout } from '@hull/04-cgroups';
import { checkStageReadable, currentCaller, type IdMapEntry, planUserNamespace, toHost, type UserNamespacePlan, writeIdMaps } from '@hull/05-userns';
import { writeFileAtomic } from '@hull/06-network';
import {
  type Child,
  close,
  mknod,
  type Namespace,
  NAMESPACE_FLAGS,
  O_CLOEXEC,
  O_RDWR,
  OCI_VERSION,
  open,
  pipe2,
  processStartTime,
  read,
  readToEnd,
  type RuntimeSpec,
  spawn,
  type SpecHook,
  type SpecIdMapping,
  type SpecNamespaceType,
  write,
} from '@hull/sys';
import { fileURLToPath } from 'node:url';
import { isatty } from 'node:tty';
import { attachDeviceProgram, DeviceCgroup } from '../security/devices.js';
import { trace } from '../trace.js';
import { securityFromSpec } from '../security/oci.js';
import { type Bundle, loadBundle } from './bundle.js';
import { runHook } from './hooks.js';
import type { RuntimeInitSpec } from './init.js';
import { execFifoPath, makeContainerDir, removeContainerPath, type RuntimeRecord, RuntimeError, writeRecord } from './state.js';

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  /** Pass our fds 3 .. 3+N-1 on to the container's process at the same numbers. */
  preserveFds?: number;
  /** `create`: the init outlives us. `run`: it dies with us (PDEATHSIG), we wait for it. */
  detach: boolean;
  /**
   * The container's stdio (default: ours, as runc passes its own). An engine
   * passes its pipes here; with process.terminal and no console socket, fd 0
   * must be a pty the engine owns (its slave), which becomes PID 1's
   * controlling terminal: the engine keeps the master, as `runc run` does
   * in the foreground.
   */
  stdio?: [number, number, number];
  /**
   * Keep the init's report pipe past "created": the caller reads it to its
   * end after `start` (readExecReport): EOF means execve happened, anything
   * else is {message, exitCode} with docker's 125/126/127. Without it the
   * init reports a late failure on the container's stderr, as runc's does.
   */
  execReport?: boolean;
  /** The name of the v1 devices cgroup (default rt-<hash of the cgroup name>): an engine names it after its container. */
  deviceCgroupId?: string;
}

export interface Created {
  record: RuntimeRecord;
  child: Child;
  /** With execReport: the read end of the init's report pipe; the caller closes it. */
  execReport?: number;
}

const NS_NAMES: Record<SpecNamespaceType, Namespace | null> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: null,
};

/** The sysctls the kernel keeps per namespace (runc's list): any other would change the host. */
function checkSysctl(spec: RuntimeSpec, newNs: Set<Namespace>): Record<string, string> {
  const sysctl = spec.linux?.sysctl ?? {};
  for (const key of Object.keys(sysctl)) {
    if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/.test(key)) throw new RuntimeError(`sysctl ${JSON.stringify(key)}: not a sysctl name`);
    const ipc = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+)$/.test(key);
    const net = key.startsWith('net.');
    const uts = key === 'kernel.hostname' || key === 'kernel.domainname';
    const own = (ipc && newNs.has('ipc')) || (net && newNs.has('net')) || (uts && newNs.has('uts'));
    if (!own) throw new RuntimeError(`sysctl ${JSON.stringify(key)} is not in a separate kernel namespace`);
  }
  return sysctl;
}

/** linux.resources -> 04's limits. What 04 cannot write yet is refused rather than silently dropped. */
export function limitsFromResources(spec: RuntimeSpec): CgroupLimits {
  const r = spec.linux?.resources ?? {};
  const limits: CgroupLimits = {};
  if (r.pids?.limit !== undefined && r.pids.limit > 0) limits.pidsMax = r.pids.limit;
  if (r.memory?.limit !== undefined && r.memory.limit > 0) limits.memoryBytes = r.memory.limit;
  const quota = r.cpu?.quota;
  if (quota !== undefined && quota > 0) limits.cpus = quota / (r.cpu?.period && r.cpu.period > 0 ? r.cpu.period : 100_000);
  return limits;
}

/** cgroupsPath under hull's own parent: "/a/b" and "hull/a/b" both become hull/a/b; none gives hull/<id>. */
export function cgroupNameFor(spec: RuntimeSpec, id: string): string {
  const path = (spec.linux?.cgroupsPath ?? '').replace(/^\/+/, '').replace(/^hull\//, '');
  // systemd's "slice:prefix:name" form needs --systemd-cgroup, which main refuses without systemd.
  return path === '' ? id : path;
}

function newNamespaces(spec: RuntimeSpec): { create: Namespace[]; joins: RuntimeInitSpec['joins'] } {
  const create: Namespace[] = [];
  const joins: RuntimeInitSpec['joins'] = [];
  for (const ns of spec.linux?.namespaces ?? []) {
    const name = NS_NAMES[ns.type];
    if (name === null) throw new RuntimeError(`the ${ns.type} namespace is not supported by hull-runtime`);
    if (ns.path === undefined) create.push(name);
    // setns(2) into a user namespace is refused to a multithreaded process (Node), and the init is one until execve.
    else if (name === 'pid' || name === 'mnt' || name === 'user') throw new RuntimeError(`joining an existing ${ns.type} namespace (${ns.path}) is not supported by hull-runtime yet`);
    else joins.push({ flag: NAMESPACE_FLAGS[name], path: ns.path, type: ns.type });
  }
  // The init sets up the rootfs with mounts that must not reach the host.
  if (!create.includes('mnt')) throw new RuntimeError('linux.namespaces: hull-runtime needs a new mount namespace');
  return { create, joins };
}

const idMap = (m: SpecIdMapping): IdMapEntry => ({ containerId: m.containerID, hostId: m.hostID, size: m.size });

/**
 * A new user namespace needs its maps (config.md: "the runtime MUST" map
 * them), written by us, the parent, while the child waits (chapter 05:
 * only a process outside may write them, and only once). Checked here by
 * chapter 05's planUserNamespace, before anything is created.
 */
function userNamespaceOf(spec: RuntimeSpec, namespaces: Namespace[]): UserNamespacePlan | undefined {
  const uids = spec.linux?.uidMappings ?? [];
  const gids = spec.linux?.gidMappings ?? [];
  if (!namespaces.includes('user')) {
    if (uids.length || gids.length) throw new RuntimeError('linux.uidMappings/gidMappings need a new user namespace in linux.namespaces');
    return undefined;
  }
  if (!uids.length || !gids.length) throw new RuntimeError('a new user namespace needs linux.uidMappings and linux.gidMappings');
  try {
    return planUserNamespace({ caller: currentCaller(), uidMap: uids.map(idMap), gidMap: gids.map(idMap) });
  } catch (err) {
    throw new RuntimeError(`linux.uidMappings/gidMappings: ${(err as Error).message}`);
  }
}

/** Read the rest of the report pipe (execReport): null once execve closed it, else why the command never ran. */
export async function readExecReport(fd: number): Promise<{ message: string; exitCode: number } | null> {
  const text = (await readToEnd(fd)).toString('utf8').trim();
  return text ? (JSON.parse(text) as { message: string; exitCode: number }) : null;
}

function stateFor(id: string, bundle: Bundle, status: string, pid?: number): Record<string, unknown> {
  return { ociVersion: OCI_VERSION, id, status, ...(pid ? { pid } : {}), bundle: bundle.dir, annotations: bundle.spec.annotations ?? {} };
}

/** Read the init's newline-delimited reports until one is a step, "created", or its failure. */
class ReportReader {
  private buf = '';
  private readonly chunk = Buffer.alloc(4096);
  constructor(private readonly fd: number) {}

  next(): Record<string, unknown> | null {
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return JSON.parse(line) as Record<string, unknown>;
      }
      const n = read(this.fd, this.chunk);
      if (n === 0) {
        // 01's failStage writes its {message, exitCode} without a newline, then exits.
        const rest = this.buf.trim();
        this.buf = '';
        return rest ? (JSON.parse(rest) as Record<string, unknown>) : null;
      }
      this.buf += this.chunk.subarray(0, n).toString('utf8');
    }
  }
}

export async function createContainer(o: CreateOptions): Promise<Created> {
  const bundle = loadBundle(o.bundle);
  const { spec } = bundle;
  const proc = spec.process;
  if (!proc) throw new RuntimeError('config.json: process is required to create a container');
  const { create: namespaces, joins } = newNamespaces(spec);
  const sysctl = checkSysctl(spec, new Set(namespaces));
  // With stdio given (an engine), a terminal is the engine's own pty: no console socket is needed.
  const ownPty = proc.terminal === true && !o.consoleSocket && o.stdio !== undefined;
  if (ownPty && !isatty(o.stdio![0])) throw new RuntimeError('process.terminal: the stdio given is not a terminal');
  if (proc.terminal && !o.consoleSocket && !ownPty) throw new RuntimeError('cannot allocate tty if hull-runtime will detach without setting console socket');
  if (!proc.terminal && o.consoleSocket) throw new RuntimeError('cannot use console socket if hull-runtime will not detach or allocate tty');
  const userns = userNamespaceOf(spec, namespaces);
  const stage = new URL(`./init${extname(import.meta.url)}`, import.meta.url);
  // The init is Node reading its module as the container's root: say so rather than die with a stack trace in the child.
  if (userns) checkStageReadable(fileURLToPath(stage), toHost(userns.uidMap, 0) ?? 65534, toHost(userns.gidMap, 0) ?? 65534);
  const limits = limitsFromResources(spec);
  const cgroupName = cgroupNameFor(spec, o.id);

  makeContainerDir(o.root, o.id);
  let cgroup: Cgroup | undefined;
  let devices: DeviceCgroup | undefined;
  let child: Child | undefined;
  const fds: number[] = [];
  try {
    const fifo = execFifoPath(o.root, o.id);
    mknod(fifo, 0o010000 | 0o600, 0);
    cgroup = createCgroup(cgroupName, limits);
    // The spec's hardening fields: capabilities, no_new_privs, seccomp, rlimits, devices, masked paths (docs/hardening.md).
    const security = securityFromSpec(spec);
    if (security.deviceProgram) attachDeviceProgram(cgroup, security.deviceProgram);
    if (security.deviceCgroup) devices = DeviceCgroup.create(security.deviceCgroup.mountPoint, o.deviceCgroupId ?? `rt-${createHash('sha256').update(cgroupName).digest('hex').slice(0, 24)}`, security.deviceCgroup.rules);
    const layout = detectLayout();
    const cgroupV1Dirs: Record<string, string> = {};
    for (const dir of [...cgroup.dirs, ...(devices ? [devices.path] : [])]) {
      const mountPoint = dir.slice(0, dir.lastIndexOf(`/hull/`));
      cgroupV1Dirs[mountPoint] = dir;
    }
    const record: RuntimeRecord = {
      id: o.id,
      pid: 0,
      pidStartTime: 0,
      bundle: bundle.dir,
      rootfs: bundle.rootfs,
      created: new Date().toISOString(),
      annotations: spec.annotations ?? {},
      cgroup: cgroupName,
      cgroupDirs: [...cgroup.dirs, ...(devices ? [devices.path] : [])],
      config: bundle.text,
    };
    writeRecord(o.root, record);
    const hooks = (kind: keyof NonNullable<RuntimeSpec['hooks']>): SpecHook[] => spec.hooks?.[kind] ?? [];
    const hasDevBind = (spec.mounts ?? []).some((m) => m.destination.replace(/\/+$/, '') === '/dev' && (m.type === 'bind' || m.options?.includes('bind') || m.options?.includes('rbind')));
    const initSpec: RuntimeInitSpec = {
      id: o.id,
      argv: proc.args!,
      env: proc.env ?? [],
      rootfs: bundle.rootfs,
      bundle: bundle.dir,
      mounts: spec.mounts ?? [],
      readonlyRoot: spec.root?.readonly ?? false,
      ...(spec.linux?.rootfsPropagation ? { rootfsPropagation: spec.linux.rootfsPropagation } : {}),
      noPivot: o.noPivot ?? false,
      joins,
      ...(spec.hostname !== undefined && (namespaces.includes('uts') || joins.some((j) => j.type === 'uts')) ? { hostname: spec.hostname } : {}),
      ...(spec.domainname !== undefined && (namespaces.includes('uts') || joins.some((j) => j.type === 'uts')) ? { domainname: spec.domainname } : {}),
      cwd: proc.cwd,
      defaultDevices: !hasDevBind,
      terminal: (proc.terminal ?? false) && !ownPty,
      ...(o.consoleSocket ? { consoleSocket: resolve(o.consoleSocket) } : {}),
      ...(proc.consoleSize ? { consoleSize: proc.consoleSize } : {}),
      user: { uid: proc.user.uid, gid: proc.user.gid },
      sysctl,
      // The mapped root of a user namespace may not open the host's cgroup.procs: we move it in, in beforeStart.
      cgroupProcs: userns ? [] : [...cgroup.procsFiles, ...(devices ? [devices.procsFile] : [])],
      cgroup: { cgroupV1Dirs: layout.version === 1 ? cgroupV1Dirs : {}, cgroupV2: layout.version === 2 },
      hooks: { createContainer: hooks('createContainer'), startContainer: hooks('startContainer') },
      state: stateFor(o.id, bundle, 'created'),
      security: security.spec,
      preserveFds: o.preserveFds ?? 0,
    };
    for (const warning of security.warnings) process.stderr.write(`hull-runtime: warning: ${warning}\n`);

    // O_RDWR never blocks on a FIFO (fifo(7)); the init's copy keeps a reader open so `start`'s open for writing succeeds.
    const fifoFd = open(fifo, O_RDWR | O_CLOEXEC);
    fds.push(fifoFd);
    const [specR, specW] = pipe2(O_CLOEXEC);
    const [reportR, reportW] = pipe2(O_CLOEXEC);
    const [continueR, continueW] = pipe2(O_CLOEXEC);
    fds.push(specR, specW, reportR, reportW, continueR, continueW);
    write(specW, Buffer.from(JSON.stringify(initSpec)));
    close(specW);
    fds.splice(fds.indexOf(specW), 1);
    const preserved = Array.from({ length: o.preserveFds ?? 0 }, (_, i) => 3 + i);
    const joinFromHost = userns ? cgroup : undefined;
    const devicesFromHost = userns ? devices : undefined;
    child = await spawn({
      argv: stageArgv(stage),
      env: stageEnv(),
      namespaces,
      stdio: [...(o.stdio ?? [0, 1, 2]), specR, reportW, continueR, fifoFd, ...preserved],
      setsid: true,
      controllingTerminal: ownPty,
      pdeathsig: o.detach ? 0 : 'SIGKILL',
      readonlyExecutable: true,
      ...(userns
        ? {
            beforeStart: (pid: number) => {
              writeIdMaps(pid, userns);
              joinFromHost?.add(pid);
              devicesFromHost?.add(pid);
            },
          }
        : {}),
    });
    trace('clone');
    for (const fd of [specR, reportW, continueR, fifoFd]) {
      close(fd);
      fds.splice(fds.indexOf(fd), 1);
    }
    record.pid = child.pid;
    record.pidStartTime = processStartTime(child.pid);
    writeRecord(o.root, record);
    const reports = new ReportReader(reportR);
    for (;;) {
      const msg = reports.next();
      if (msg === null) throw new RuntimeError('the container init exited before it was created');
      // runc's status 1 for its callers; an engine keeps docker's code (125 for a setup failure).
      if (typeof msg.message === 'string') throw new ContainerError(msg.message, o.execReport && typeof msg.exitCode === 'number' ? msg.exitCode : 1);
      if (msg.step === 'createRuntime') {
        const state = stateFor(o.id, bundle, 'creating', child.pid);
        for (const hook of hooks('prestart')) runHook('prestart', hook, state);
        for (const hook of hooks('createRuntime')) runHook('createRuntime', hook, state);
        write(continueW, Buffer.from('1'));
      } else if (msg.created === true) {
        break;
      }
    }
    for (const fd of o.execReport ? [continueW] : [reportR, continueW]) {
      close(fd);
      fds.splice(fds.indexOf(fd), 1);
    }
    // conmon reads the pid file with atoi: digits only, no newline.
    if (o.pidFile) writeFileAtomic(o.pidFile, String(child.pid), 0o644);
    return { record, child, ...(o.execReport ? { execReport: reportR } : {}) };
  } catch (err) {
    // Killed before its pipes close: woken by their EOF it would print a second line of its own.
    child?.kill('SIGKILL');
    fds.forEach((fd) => close(fd));
    if (child) await child.exited.catch(() => undefined);
    await cgroup?.destroy().catch(() => undefined);
    try {
      devices?.remove();
    } catch {
      // the error that brought us here matters more
    }
    removeContainerPath(o.root, o.id);
    throw err;
  }
}

/** The init stage needs our loader flags (tsx) and PATH; the container's own env travels in its spec. */
function stageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}
