// Start a created container and see it through to its end: the engine half
// of `hull run`, shared by the foreground CLI and the supervisor of detached
// containers. It owns what a runtime knows nothing of (the image, the store,
// the network, the UX) and hands the rest to the runtime library as a
// bundle, exactly as it would hand it to runc (docs/oci-runtime.md, "The
// engine"):
//
//   lease an address (-p: proxies) -> mount the overlay -> /etc files,
//   volumes, the image's user -> config.json (specFromContainerConfig) in
//   containers/<id>/bundle -> runtime create (hull-runtime's library,
//   in-process) -> wire the network into the init's netns (CNI's ADD) ->
//   runtime start -> its report pipe's EOF: the command runs -> it exits:
//   runtime delete, release the network, unmount, record the code.
import { lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, signals, StdioRelay } from '@hull/01-uts';
import { hostsFile, isKind, missingMountpoints, prepareEtc, resolvConf } from '@hull/03-chroot-proc';
import {
  acquireLease,
  attachToBridge,
  bridgeNetworkFromEnv,
  bringUpLoopback,
  hostResolvConf,
  hostsFile as hostsFileWithAddress,
  type Lease,
  listenPublished,
  type Proxy,
  releaseLease,
  writeFileAtomic,
} from '@hull/06-network';
import { currentCaller, planUserNamespace, toHost, userNamespaceProblem, type UserNamespacePlan } from '@hull/05-userns';
import { resolveUser } from '@hull/07-oci-pull';
import { close, exitCodeOf, processStartTime } from '@hull/sys';
import { mountRootfs, rootfsPaths, unmountRootfs } from './rootfs.js';
import { type Created, createContainer, readExecReport } from './runtime/create.js';
import { deleteContainer, startContainer as startCreated } from './runtime/lifecycle.js';
import { planSecurity } from './security/plan.js';
import { specFromContainerConfig, specJson } from './spec-from-config.js';
import { type ContainerConfig, containerDir, hullRoot, removeContainerDir, updateState } from './store.js';
import { trace } from './trace.js';
import { prepareVolumes } from './volumes.js';

export interface Started {
  pid: number;
  /** The container's exit code (128+N for signal N), once everything is cleaned up. */
  exited: Promise<number>;
}

/** Where the container's /etc/hostname, hosts and resolv.conf are generated for its mount namespace. */
function etcDir(id: string, root: string): string {
  return join(containerDir(id, root), 'etc');
}

/** The bundle the engine writes for the runtime: config.json only, its root.path is the mounted overlay. */
export function bundleDir(id: string, root: string): string {
  return join(containerDir(id, root), 'bundle');
}

/**
 * The runtime library's --root for this container: its state.json and exec
 * FIFO. Inside the container's own directory, so whatever removes that
 * (`rm`, even after a crash of this monitor) removes them too.
 */
export function runtimeRoot(id: string, root: string): string {
  return join(containerDir(id, root), 'runtime');
}

/**
 * The overlay is writable, so unlike chapter 03 (which may not write a shared
 * rootfs) we create the mount points an image lacks, in the container's own
 * layer, as docker does (the working directory is created later, by init).
 * Never through a symlink: only a missing name is created; anything else is
 * left for missingMountpoints to refuse.
 */
function createMountpoints(rootfs: string): void {
  for (const dir of ['proc', 'sys', 'dev', 'tmp']) {
    const path = join(rootfs, dir);
    try {
      lstatSync(path);
    } catch {
      mkdirSync(path, { mode: dir === 'tmp' ? 0o1777 : 0o755 });
    }
  }
}

/** The mapped root must walk from / to the rootfs: bind mounts resolve their source with its credentials. */
function checkTraversable(path: string, uid: number): void {
  const parts = path.split('/').filter(Boolean);
  let dir = '';
  for (const part of parts.slice(0, -1)) {
    dir += `/${part}`;
    const st = statSync(dir);
    const bit = st.uid === uid ? 0o100 : 0o001;
    if ((st.mode & bit) === 0) throw new ContainerError(`--userns remap: the container's root (host uid ${uid}) cannot reach ${path}: ${dir} is mode ${(st.mode & 0o777).toString(8)} (chmod o+x ${dir})`);
  }
}

/** What a container holds of the host's network: a lease on the bridge, port proxies. */
interface Network {
  lease?: Lease;
  proxies: Proxy[];
}

/**
 * Everything before the runtime: the network's address, the rootfs, the
 * files it binds, and the bundle that says all of it. Returns the bundle's
 * directory; what it made is recorded for `finish` (and `rm`) to undo.
 */
async function prepareBundle(config: ContainerConfig, root: string, net: Network): Promise<string> {
  const { id } = config;
  if (config.network === 'bridge') {
    // Chapter 06: an address on the bridge (made by the first container), and a proxy per -p.
    net.lease = acquireLease(bridgeNetworkFromEnv({ ...process.env, HULL_ROOT: root }));
    const address = net.lease.address;
    updateState(id, (s) => (s.ipAddress = address), root);
    for (const mapping of config.publish) net.proxies.push(await listenPublished(mapping, address));
  }
  let plan: UserNamespacePlan | undefined;
  if (config.userns === 'remap') {
    // Chapter 05: the default remap (0 -> 100000, 65536 ids), checked before anything is cloned.
    plan = planUserNamespace({ caller: currentCaller() });
    const problem = userNamespaceProblem(false);
    if (problem) throw new ContainerError(problem);
    checkTraversable(rootfsPaths(id, root).rootfs, toHost(plan.uidMap, 0)!);
  }
  // The mark bench/report.ts keeps its phases by; the cgroup itself is made by the runtime's create now.
  trace('cgroup');
  const driver = await mountRootfs(id, config, root, plan);
  trace('overlay');
  updateState(id, (s) => (s.rootfsDriver = driver), root);
  const { rootfs } = rootfsPaths(id, root);
  createMountpoints(rootfs);
  const missing = missingMountpoints(rootfs);
  if (missing.length) throw new ContainerError(`image ${config.image}: ${missing.join(', ')} must be directories`);
  const user = resolveUser(rootfs, config.user);
  // docs/hardening.md: planned from docker's flags here, written into the spec, applied by the runtime.
  const security = planSecurity({ ...config.security, user: { uid: user.uid, gid: user.gid, groups: user.groups } });
  for (const warning of security.warnings) process.stderr.write(`hull: warning: ${warning}\n`);
  const etc = etcDir(id, root);
  rmSync(etc, { recursive: true, force: true });
  mkdirSync(etc, { mode: 0o755 });
  const etcBinds = prepareEtc(rootfs, etc, {
    hostname: `${config.hostname}\n`,
    hosts: net.lease ? hostsFileWithAddress(config.hostname, net.lease.address) : hostsFile(config.hostname),
    'resolv.conf': net.lease ? hostResolvConf() : resolvConf(config.network !== 'host'),
  });
  const spec = specFromContainerConfig({
    config,
    user,
    rootfs,
    security,
    // Volumes after the /etc files, so a volume may cover one of them.
    binds: [...etcBinds, ...prepareVolumes(root, rootfs, config.volumes)],
    tmp: isKind(join(rootfs, 'tmp'), 'directory'),
    ...(plan ? { userns: { uidMap: plan.uidMap, gidMap: plan.gidMap } } : {}),
  });
  const bundle = bundleDir(id, root);
  rmSync(bundle, { recursive: true, force: true });
  mkdirSync(bundle, { mode: 0o700 });
  writeFileAtomic(join(bundle, 'config.json'), specJson(spec), 0o600);
  trace('spec');
  return bundle;
}

/**
 * CNI's ADD, between the runtime's create and start: the init waits on its
 * exec FIFO in the network namespace the runtime made for it, and we wire
 * that namespace from the host: eth0 on the bridge, or just lo up.
 */
function wireNetwork(config: ContainerConfig, net: Network, pid: number): void {
  if (net.lease) attachToBridge(net.lease, pid);
  else if (config.network === 'none') bringUpLoopback(pid);
}

/**
 * Start the container with the given stdio. Resolves once the command runs
 * (exec succeeded); rejects with a ContainerError (docker's exit code) when
 * it never got that far, after recording the failure and cleaning up.
 */
export async function startContainer(config: ContainerConfig, stdio: [number, number, number], root = hullRoot()): Promise<Started> {
  const { id } = config;
  const monitorPid = process.pid;
  const net: Network = { proxies: [] };
  const rtRoot = runtimeRoot(id, root);
  // Pipes in place of our terminal (01's stdio.ts); with -t, stdio is the container's own pty, passed as is.
  const relay = config.tty ? undefined : StdioRelay.open(stdio);
  // From before the clone: a signal that comes while we set up waits for the command (01's signals.ts).
  const signalSession = signals.session();
  let created: Created | undefined;
  try {
    const bundle = await prepareBundle(config, root, net);
    created = await createContainer({
      root: rtRoot,
      id,
      bundle,
      detach: false,
      stdio: relay?.stdio ?? stdio,
      execReport: true,
      deviceCgroupId: id,
    });
    trace('created-runtime');
    const dirs = [...created.record.cgroupDirs];
    // Recorded at once, so `rm` removes them too if this monitor dies first.
    updateState(id, (s) => (s.cgroupDirs = dirs), root);
    wireNetwork(config, net, created.child.pid);
    startCreated(rtRoot, id, (m) => process.stderr.write(`hull: warning: ${m}\n`));
  } catch (err) {
    relay?.abandon();
    signalSession.close();
    if (created) {
      close(created.execReport!);
      created.child.kill('SIGKILL');
      await created.child.exited.catch(() => undefined);
    }
    await finish(config, root, net, err);
    throw err;
  }
  const { child } = created;
  relay?.start();
  // readToEnd closes it.
  const report = await readExecReport(created.execReport!);
  const exited = (async () => {
    try {
      const status = await child.exited;
      trace('exited');
      return exitCodeOf(status);
    } finally {
      signalSession.close();
      await relay?.finish();
    }
  })();
  if (report) {
    // The init's one line, with docker's code: 125 setup, 126 cannot execute, 127 not found.
    const err = new ContainerError(report.message, report.exitCode);
    await exited.catch(() => undefined);
    await finish(config, root, net, err);
    throw err;
  }
  // EOF: the execve happened, the command runs. Now, and not before, it gets its signals.
  trace('exec');
  signalSession.forwardTo(child, true); // always PID 1 of its own pid namespace (specFromContainerConfig)
  updateState(
    id,
    (s) => {
      s.status = 'running';
      s.pid = child.pid;
      s.pidStartTime = processStartTime(child.pid);
      s.monitorPid = monitorPid;
      s.startedAt = new Date().toISOString();
    },
    root,
  );
  return {
    pid: child.pid,
    exited: exited.then(
      async (code) => {
        await finish(config, root, net, undefined, code);
        trace('cleaned');
        return code;
      },
      async (err: unknown) => {
        await finish(config, root, net, err);
        throw err;
      },
    ),
  };
}

/** Record how it ended and release what it held; tolerant of a container removed meanwhile. */
async function finish(config: ContainerConfig, root: string, net: Network, err?: unknown, code?: number): Promise<void> {
  await Promise.all(net.proxies.map((p) => p.close().catch(() => undefined)));
  // The last container out removes the bridge and its NAT table (chapter 06).
  if (net.lease) releaseLease(net.lease);
  // PID 1 is gone, so the kernel killed the rest of its PID namespace; the
  // runtime's delete (--force) makes sure of it, then removes its cgroups
  // (the devices one too) and its state.
  try {
    await deleteContainer(runtimeRoot(config.id, root), config.id, true, () => undefined);
  } catch {
    // not created, or already gone; a busy cgroup must not hide the exit code either (`rm` retries)
  }
  try {
    unmountRootfs(config.id, root);
  } catch {
    // `rm` retries it; a busy rootfs must not hide the exit code
  }
  try {
    updateState(
      config.id,
      (s) => {
        s.status = 'exited';
        s.finishedAt = new Date().toISOString();
        if (err === undefined) s.exitCode = code ?? 0;
        else {
          s.exitCode = err instanceof ContainerError ? err.exitCode : 125;
          s.error = err instanceof Error ? err.message : String(err);
        }
      },
      root,
    );
  } catch {
    return; // removed while it ran (rm -f): nothing left to record
  }
  if (config.autoRemove) removeContainerDir(config.id, root);
}
