// podman, started privately for one test file: its own storage, run and tmp
// dirs, its own containers.conf/storage.conf/registries.conf (through the
// CONTAINERS_* variables, so no file under /etc is read for these), cgroups
// under our prefix, and a runtime of the test's choosing (runc, hull-runtime)
// behind the argv-logging wrapper of runtime-log.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cgroupPids, killPids, pidsMentioning, removeCgroupTree, removePrivateDir } from './private-daemon.js';
import { run, type RunOptions, type RunResult, shellQuote } from './process.js';
import { randomToken } from './random.js';
import { type RuntimeLog, writeRuntimeWrapper } from './runtime-log.js';

export interface PodmanOptions {
  /** The OCI runtime binary podman runs, through conmon: /usr/sbin/runc, or hull-runtime. */
  runtime: string;
  /** Registries (host:port on 127.0.0.1) to reach over plain HTTP. */
  insecureRegistries?: string[];
}

export interface Podman {
  /** The private directory everything lives in. */
  readonly dir: string;
  /** The cgroup parent of every container and conmon, e.g. /hull/podman-1a2b3c4d. */
  readonly cgroupParent: string;
  readonly runtime: RuntimeLog;
  /** The environment podman runs with (the CONTAINERS_* config files). */
  readonly env: Record<string, string>;
  /** `podman` followed by these, then the command's own arguments. */
  readonly globalArgs: readonly string[];
  /** The full argv after `podman` for `args`; `run` and `create` get `--cgroup-parent`. */
  argv(args: readonly string[]): string[];
  podman(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** One shell line running `podman args` with our env, for a pty driver such as tmux. */
  shellCommand(args: readonly string[]): string;
  /** `podman load -i` of an oci-archive or docker-archive. */
  load(archive: string): Promise<void>;
  /** Live processes that are podman's: conmon, slirp4netns, containers (by our dir and our cgroups). */
  processes(): number[];
  /** Remove every container, kill what is left by pid, unmount, remove the cgroups and the dir. */
  stop(): Promise<void>;
}

const PODMAN = 'podman';

function toml(s: string): string {
  return JSON.stringify(s);
}

export function startPodman(opts: PodmanOptions): Podman {
  const dir = mkdtempSync(join(tmpdir(), 'hull-podman-'));
  const paths = {
    root: join(dir, 'root'),
    runroot: join(dir, 'runroot'),
    tmp: join(dir, 'tmp'),
    cni: join(dir, 'cni'),
    conf: join(dir, 'conf'),
  };
  for (const p of Object.values(paths)) mkdirSync(p, { recursive: true });
  const runtime = writeRuntimeWrapper(dir, opts.runtime, join(dir, 'runtime-state'));
  const cgroupParent = `/hull/podman-${randomToken(8)}`;

  const containersConf = join(paths.conf, 'containers.conf');
  writeFileSync(
    containersConf,
    [
      '[containers]',
      // No network by default: podman's default CNI bridge (cni-podman0 and its
      // iptables chains) is host-wide and not ours. A published port uses
      // slirp4netns, which listens on the host's 127.0.0.1 only.
      'netns = "none"',
      // The sandbox lacks CAP_SYS_RESOURCE: podman's default RLIMIT_NOFILE of 1048576 fails setrlimit.
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      // podman passes --log-format=json (and reads the runtime's errors as
      // JSON) only to runtimes named here, by basename.
      `runtime_supports_json = ${JSON.stringify(['crun', 'runc', 'kata', 'runsc', 'krun', ...new Set([basename(opts.runtime)])])}`,
      // No systemd as PID 1: no systemd cgroup manager, no journald.
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(join(paths.tmp, 'events.log'))}`,
      // The default "shm" lock is one segment (/dev/shm/libpod_lock) shared by every podman on the host.
      'lock_type = "file"',
      `tmp_dir = ${toml(paths.tmp)}`,
      `volume_path = ${toml(join(paths.root, 'volumes'))}`,
      `image_copy_tmp_dir = ${toml(paths.tmp)}`,
      '[network]',
      'network_backend = "cni"',
      // Else podman writes its lock into the host's /etc/cni/net.d.
      `network_config_dir = ${toml(paths.cni)}`,
      '',
    ].join('\n'),
  );
  const storageConf = join(paths.conf, 'storage.conf');
  writeFileSync(storageConf, ['[storage]', 'driver = "overlay"', `runroot = ${toml(paths.runroot)}`, `graphroot = ${toml(paths.root)}`, ''].join('\n'));
  const registriesConf = join(paths.conf, 'registries.conf');
  writeFileSync(
    registriesConf,
    [
      // A short name never resolves to a real registry.
      'unqualified-search-registries = []',
      ...(opts.insecureRegistries ?? []).flatMap((r) => ['[[registry]]', `location = ${toml(r)}`, 'insecure = true']),
      '',
    ].join('\n'),
  );

  const env = {
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    TMPDIR: paths.tmp,
  };
  const globalArgs = [
    '--root', paths.root,
    '--runroot', paths.runroot,
    '--tmpdir', paths.tmp,
    '--cgroup-manager=cgroupfs',
    '--events-backend=file',
    '--runtime', runtime.wrapper,
  ];
  const argv = (args: readonly string[]): string[] => {
    const [cmd, ...rest] = args;
    // podman has no containers.conf key for the cgroup parent; without it
    // containers and conmon land in /libpod_parent, outside our prefix.
    const own = cmd === 'run' || cmd === 'create' ? [cmd, `--cgroup-parent=${cgroupParent}`, ...rest] : [...args];
    return [...globalArgs, ...own];
  };
  const podman = (args: readonly string[], o: RunOptions = {}): Promise<RunResult> =>
    run(PODMAN, argv(args), { ...o, env: { ...env, ...o.env } });

  const processes = (): number[] => [...new Set([...pidsMentioning(dir), ...cgroupPids(cgroupParent)])];

  return {
    dir,
    cgroupParent,
    runtime,
    env,
    globalArgs,
    argv,
    podman,
    shellCommand: (args) =>
      ['env', ...Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`), PODMAN, ...argv(args).map(shellQuote)].join(' '),
    async load(archive) {
      const r = await podman(['load', '-i', archive]);
      if (r.code !== 0) throw new Error(`podman load ${archive}: ${r.stderr.trim()}`);
    },
    processes,
    async stop() {
      await podman(['rm', '--all', '--force', '--time', '0'], { timeoutMs: 60_000 });
      await killPids(processes());
      // State the runtime kept for containers podman lost track of.
      for (const id of readdirSync(runtime.stateRoot)) {
        try {
          execFileSync(runtime.runtime, ['--root', runtime.stateRoot, 'delete', '--force', id], { stdio: 'ignore' });
        } catch {
          // gone already
        }
      }
      await removeCgroupTree(cgroupParent);
      removePrivateDir(dir);
    },
  };
}
