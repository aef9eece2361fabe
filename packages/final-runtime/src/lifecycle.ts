// Start a created container and see it through to its end: the host-side
// half of `hull run`, shared by the foreground CLI and the supervisor of
// detached containers.
//
//   mount the overlay -> /etc files -> resolve the user -> runContainer
//   (chapter 01's loop, with our init stage: chapter 03's setupRootfs + ours)
//   -> PID 1 runs: record pid -> it exits: record the code, unmount, clean up.
import { lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ContainerError, extname, runContainer } from '@hull/01-uts';
import { hostsFile, isKind, missingMountpoints, prepareEtc, resolvConf, ROOTFS_NAMESPACES } from '@hull/03-chroot-proc';
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
} from '@hull/06-network';
import { type Cgroup, createCgroup } from '@hull/04-cgroups';
import { checkStageReadable, currentCaller, planUserNamespace, toHost, userNamespaceProblem, type UserNamespacePlan, writeIdMaps } from '@hull/05-userns';
import { resolveUser } from '@hull/07-oci-pull';
import { prepareVolumes } from './volumes.js';
import { type Namespace, processStartTime } from '@hull/sys';
import { mergeEnv } from './container-config.js';
import type { HullSpec } from './init.js';
import { mountRootfs, rootfsPaths, unmountRootfs } from './rootfs.js';
import { attachDeviceProgram, DeviceCgroup } from './security/devices.js';
import { planSecurity } from './security/plan.js';
import { type ContainerConfig, containerDir, hullRoot, removeContainerDir, updateState } from './store.js';
import { trace } from './trace.js';

export interface Started {
  pid: number;
  /** The container's exit code (128+N for signal N), once everything is cleaned up. */
  exited: Promise<number>;
}

/** Where the container's /etc/hostname, hosts and resolv.conf are generated for its mount namespace. */
function etcDir(id: string, root: string): string {
  return join(containerDir(id, root), 'etc');
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

function namespacesOf(config: ContainerConfig): Namespace[] {
  return [...ROOTFS_NAMESPACES, ...(config.network === 'host' ? [] : (['net'] as Namespace[]))];
}

/**
 * Start the container with the given stdio. Resolves once the command runs
 * (exec succeeded); rejects with a ContainerError (docker's exit code) when
 * it never got that far, after recording the failure and cleaning up.
 */
export async function startContainer(config: ContainerConfig, stdio: [number, number, number], root = hullRoot()): Promise<Started> {
  const { id } = config;
  const monitorPid = process.pid;
  let spec: HullSpec;
  let cgroup: Cgroup | undefined;
  let plan: UserNamespacePlan | undefined;
  let devicesCgroup: DeviceCgroup | undefined;
  const stage = new URL(`./init${extname(import.meta.url)}`, import.meta.url);
  const net: Network = { proxies: [] };
  try {
    // Every container gets its cgroup, limits or not, so its processes can be counted and killed as one.
    cgroup = createCgroup(id, config.limits);
    trace('cgroup');
    const dirs = [...cgroup.dirs];
    updateState(id, (s) => (s.cgroupDirs = dirs), root);
    if (config.network === 'bridge') {
      // Chapter 06: an address on the bridge (made by the first container), and a proxy per -p.
      net.lease = acquireLease(bridgeNetworkFromEnv({ ...process.env, HULL_ROOT: root }));
      const address = net.lease.address;
      updateState(id, (s) => (s.ipAddress = address), root);
      for (const mapping of config.publish) net.proxies.push(await listenPublished(mapping, address));
    }
    if (config.userns === 'remap') {
      // Chapter 05: the default remap (0 -> 100000, 65536 ids), checked before anything is cloned.
      plan = planUserNamespace({ caller: currentCaller() });
      const problem = userNamespaceProblem(false);
      if (problem) throw new ContainerError(problem);
      checkStageReadable(fileURLToPath(stage), toHost(plan.uidMap, 0)!, toHost(plan.gidMap, 0)!);
      checkTraversable(rootfsPaths(id, root).rootfs, toHost(plan.uidMap, 0)!);
    }
    const driver = await mountRootfs(id, config, root, plan);
    trace('overlay');
    updateState(id, (s) => (s.rootfsDriver = driver), root);
    const { rootfs } = rootfsPaths(id, root);
    createMountpoints(rootfs);
    const missing = missingMountpoints(rootfs);
    if (missing.length) throw new ContainerError(`image ${config.image}: ${missing.join(', ')} must be directories`);
    const user = resolveUser(rootfs, config.user);
    // docs/hardening.md: planned here, applied by init, which also joins the devices cgroup.
    const security = planSecurity({ ...config.security, user: { uid: user.uid, gid: user.gid, groups: user.groups } });
    for (const warning of security.warnings) process.stderr.write(`hull: warning: ${warning}\n`);
    if (security.deviceProgram) attachDeviceProgram(cgroup, security.deviceProgram);
    trace('devices');
    const devices = security.deviceCgroup ? DeviceCgroup.create(security.deviceCgroup.mountPoint, id, security.deviceCgroup.rules) : undefined;
    devicesCgroup = devices;
    // Recorded with the others, so `rm` removes it too if this monitor dies first.
    if (devices) updateState(id, (s) => s.cgroupDirs.push(devices.path), root);
    const etc = etcDir(id, root);
    rmSync(etc, { recursive: true, force: true });
    mkdirSync(etc, { mode: 0o755 });
    const binds = prepareEtc(rootfs, etc, {
      hostname: `${config.hostname}\n`,
      hosts: net.lease ? hostsFileWithAddress(config.hostname, net.lease.address) : hostsFile(config.hostname),
      'resolv.conf': net.lease ? hostResolvConf() : resolvConf(config.network !== 'host'),
    });
    spec = {
      argv: config.argv,
      // docker sets HOME from the user's passwd entry unless the env has one.
      env: mergeEnv([`HOME=${user.home}`], config.env),
      hostname: config.hostname,
      rootfs,
      // Volumes after the /etc files, so a volume may cover one of them.
      binds: [...binds, ...prepareVolumes(root, rootfs, config.volumes)],
      tmp: isKind(join(rootfs, 'tmp'), 'directory'),
      workdir: config.workdir,
      readonly: config.readonly,
      tty: config.tty,
      readonlyVolumes: config.volumes.filter((v) => v.readonly).map((v) => v.destination),
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      // In a user namespace the init runs as the mapped root, which may not open
      // cgroup.procs: the host side moves it in before it starts (beforeStart).
      cgroupProcs: plan ? [] : [...cgroup.procsFiles, ...(devices ? [devices.procsFile] : [])],
      security: security.spec,
    };
  } catch (err) {
    await finish(config, root, cgroup, net, err);
    throw err;
  }
  const lease = net.lease;
  const userPlan = plan;
  const joinFromHost = userPlan ? cgroup : undefined;
  const devicesFromHost = userPlan ? devicesCgroup : undefined;

  trace('spec');
  return new Promise<Started>((resolve, reject) => {
    let started = false;
    const exit = runContainer<HullSpec>({
      stage,
      spec,
      namespaces: [...namespacesOf(config), ...(userPlan ? (['user'] as Namespace[]) : [])],
      stdio,
      terminal: config.tty,
      // While the child waits: its uid/gid maps (chapter 05), its cgroups when
      // it cannot join them itself, eth0 on the bridge or just lo up.
      beforeStart: (pid) => {
        trace('clone');
        if (userPlan) writeIdMaps(pid, userPlan);
        joinFromHost?.add(pid);
        devicesFromHost?.add(pid);
        if (lease) attachToBridge(lease, pid);
        else if (config.network === 'none') bringUpLoopback(pid);
      },
      onStart: (pid) => {
        trace('exec');
        started = true;
        updateState(
          id,
          (s) => {
            s.status = 'running';
            s.pid = pid;
            s.pidStartTime = processStartTime(pid);
            s.monitorPid = monitorPid;
            s.startedAt = new Date().toISOString();
          },
          root,
        );
        resolve({ pid, exited });
      },
    });
    const exited = exit.then(
      async (code) => {
        trace('exited');
        await finish(config, root, cgroup, net, undefined, code);
        trace('cleaned');
        return code;
      },
      async (err: unknown) => {
        await finish(config, root, cgroup, net, err);
        throw err;
      },
    );
    exited.catch((err: unknown) => {
      if (!started) reject(err);
    });
  });
}

/** Record how it ended and release what it held; tolerant of a container removed meanwhile. */
/** What a container holds of the host's network: a lease on the bridge, port proxies. */
interface Network {
  lease?: Lease;
  proxies: Proxy[];
}

async function finish(config: ContainerConfig, root: string, cgroup: Cgroup | undefined, net: Network, err?: unknown, code?: number): Promise<void> {
  await Promise.all(net.proxies.map((p) => p.close().catch(() => undefined)));
  // The last container out removes the bridge and its NAT table (chapter 06).
  if (net.lease) releaseLease(net.lease);
  // PID 1 is gone, so the kernel killed the rest of its PID namespace; the
  // cgroup's destroy makes sure of it before removing the directories.
  await cgroup?.destroy().catch(() => undefined);
  try {
    DeviceCgroup.find(config.id)?.remove();
  } catch {
    // like the rootfs below: a busy cgroup must not hide the exit code
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
