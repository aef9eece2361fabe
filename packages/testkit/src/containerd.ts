// containerd, started privately for one test file: its own root, state, gRPC
// and ttrpc sockets under a temp dir, the CRI plugin and the snapshotters that
// probe the host (aufs loads a module, btrfs/zfs/devmapper look at host
// devices) disabled, overlayfs snapshots under the private root. Containers
// run through containerd-shim-runc-v2 with `ctr run --runc-binary WRAPPER`:
// the path Kubernetes takes (CRI's runc options carry the same BinaryName).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupPids, killPids, pidsMentioning, removeCgroupTree, removePrivateDir } from './private-daemon.js';
import { run, type RunOptions, type RunResult, shellQuote, waitFor } from './process.js';
import { randomToken } from './random.js';
import { type RuntimeLog, writeRuntimeWrapper } from './runtime-log.js';

export interface ContainerdOptions {
  /** The OCI runtime the runc shim runs: /usr/sbin/runc, or hull-runtime. */
  runtime: string;
}

export interface Containerd {
  readonly dir: string;
  /** The gRPC socket, for `ctr -a`. */
  readonly address: string;
  /** The containerd namespace our containers live in. */
  readonly namespace: string;
  /** Every container's cgroup is `${cgroupPrefix}/${id}`, e.g. /hull/ctr-1a2b3c4d/c1. */
  readonly cgroupPrefix: string;
  readonly runtime: RuntimeLog;
  readonly pid: number;
  /** `ctr -a SOCK -n NS` then these. */
  readonly globalArgs: readonly string[];
  ctr(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** One shell line running `ctr args`, for a pty driver such as tmux. */
  shellCommand(args: readonly string[]): string;
  /**
   * The `ctr run` flags that keep container `id` private: our runtime, its
   * state root (else the shim passes --root /run/containerd/runc/NS, the
   * host's), our cgroup, our FIFO dir (else /run/containerd/fifo).
   */
  runFlags(id: string): string[];
  /** `ctr images import` of an oci-archive or docker-archive. */
  importImage(archive: string): Promise<void>;
  /** Live processes that are ours: containerd, its shims, the containers. */
  processes(): number[];
  /** Delete every task and container, stop containerd and its shims by pid, unmount, remove all. */
  stop(): Promise<void>;
}

// containerd 1.6 puts each shim's ttrpc socket in /run/containerd/s/<hash>
// whatever its --state: a file, not an abstract socket, since CVE-2020-15257
// (abstract sockets were reachable from containers sharing the host's network
// namespace). The name hashes our address, so it never meets another
// containerd's. We remove the directories only if we made them and they are empty.
const SHIM_SOCKET_DIRS = ['/run/containerd/s', '/run/containerd'];

function toml(s: string): string {
  return JSON.stringify(s);
}

export async function startContainerd(opts: ContainerdOptions): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'hull-containerd-'));
  const address = join(dir, 'containerd.sock');
  const fifoDir = join(dir, 'fifo');
  mkdirSync(fifoDir);
  const runtime = writeRuntimeWrapper(dir, opts.runtime, join(dir, 'runtime-state'));
  const namespace = `hull-${randomToken(6)}`;
  const cgroupPrefix = `/hull/ctr-${randomToken(8)}`;
  const madeShimDirs = SHIM_SOCKET_DIRS.filter((d) => !existsSync(d));

  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${toml(join(dir, 'root'))}`,
      `state = ${toml(join(dir, 'state'))}`,
      'disabled_plugins = [',
      '  "io.containerd.grpc.v1.cri",',
      '  "io.containerd.snapshotter.v1.aufs",',
      '  "io.containerd.snapshotter.v1.btrfs",',
      '  "io.containerd.snapshotter.v1.zfs",',
      '  "io.containerd.snapshotter.v1.devmapper",',
      ']',
      '[grpc]',
      `  address = ${toml(address)}`,
      '[ttrpc]',
      `  address = ${toml(`${address}.ttrpc`)}`,
      '[debug]',
      `  address = ${toml(join(dir, 'debug.sock'))}`,
      '[plugins]',
      // The "opt" plugin would otherwise create /opt/containerd.
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = ${toml(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );

  const logFd = openSync(join(dir, 'containerd.log'), 'a');
  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited = false;
  child.on('exit', () => (exited = true));
  const pid = child.pid!;

  const globalArgs = ['-a', address, '-n', namespace];
  const ctr = (args: readonly string[], o: RunOptions = {}): Promise<RunResult> => run('ctr', [...globalArgs, ...args], o);
  const processes = (): number[] =>
    [...new Set([...(exited ? [] : [pid]), ...pidsMentioning(dir), ...cgroupPids(cgroupPrefix)])];

  const stop = async (): Promise<void> => {
    if (!exited) {
      // Each task, then each container, through containerd: the shim unmounts the rootfs and exits.
      const tasks = await ctr(['tasks', 'ls', '-q'], { timeoutMs: 20_000 });
      for (const id of tasks.stdout.split('\n').filter(Boolean)) await ctr(['tasks', 'kill', '-s', 'SIGKILL', id], { timeoutMs: 20_000 });
      for (const id of tasks.stdout.split('\n').filter(Boolean)) await ctr(['tasks', 'delete', '-f', id], { timeoutMs: 20_000 });
      const containers = await ctr(['containers', 'ls', '-q'], { timeoutMs: 20_000 });
      for (const id of containers.stdout.split('\n').filter(Boolean)) await ctr(['containers', 'delete', id], { timeoutMs: 20_000 });
      child.kill('SIGTERM');
      await waitFor(() => exited, 15_000, 'containerd to exit').catch(() => child.kill('SIGKILL'));
    }
    await killPids(processes());
    for (const ns of existsSync(runtime.stateRoot) ? readdirSync(runtime.stateRoot) : []) {
      for (const id of readdirSync(join(runtime.stateRoot, ns))) {
        try {
          execFileSync(runtime.runtime, ['--root', join(runtime.stateRoot, ns), 'delete', '--force', id], { stdio: 'ignore' });
        } catch {
          // gone already
        }
      }
    }
    await removeCgroupTree(cgroupPrefix);
    removePrivateDir(dir);
    for (const d of madeShimDirs) {
      try {
        rmdirSync(d);
      } catch {
        // not empty: another containerd's shim uses it now
      }
    }
  };

  try {
    await waitFor(
      () => {
        if (exited) throw new Error(`containerd exited at start: ${readFileSync(join(dir, 'containerd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
        return existsSync(address);
      },
      30_000,
      `containerd's socket ${address}`,
    );
    const v = await ctr(['version'], { timeoutMs: 20_000 });
    if (v.code !== 0) throw new Error(`ctr version: ${v.stderr.trim()}`);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    address,
    namespace,
    cgroupPrefix,
    runtime,
    pid,
    globalArgs,
    ctr,
    shellCommand: (args) => ['ctr', ...globalArgs, ...args].map(shellQuote).join(' '),
    runFlags: (id) => [
      '--runc-binary', runtime.wrapper,
      '--runc-root', runtime.stateRoot,
      '--cgroup', `${cgroupPrefix}/${id}`,
      '--fifo-dir', fifoDir,
    ],
    async importImage(archive) {
      const r = await ctr(['images', 'import', archive]);
      if (r.code !== 0) throw new Error(`ctr images import ${archive}: ${r.stderr.trim()}`);
    },
    processes,
    stop,
  };
}
