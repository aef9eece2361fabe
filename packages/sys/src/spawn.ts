// The one way hull starts a process in new namespaces: the native helper
// clones, the child waits on a sync pipe while the parent prepares it
// (beforeStart), then it execs. See native/spawn.c for the child's side.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { SyscallError } from './errors.js';
import { type GuardedLibrary, loadLibrary } from './ffi.js';
import { encodeSockFilters, type SockFilter } from './security.js';
import { namespaceFlags, type Namespace, WNOHANG } from './flags.js';
import { close, envList, type ExitStatus, kill, pidfdOpen, pipe2, read, signalNumber, waitpid, write } from './syscalls.js';

const OPT_BECOME_ROOT = 1;
const OPT_SETSID = 2;
const OPT_SETCTTY = 4;
const OPT_HARDEN = 8;
const OPT_NO_NEW_PRIVS = 16;
const OPT_SECCOMP_EARLY = 32;
const OPT_READONLY_EXE = 64;

const STEPS = ['', 'sync', 'setresgid', 'setgroups', 'setresuid', 'setsid', 'ioctl(TIOCSCTTY)', 'dup2', 'execve', 'prctl(PR_SET_PDEATHSIG)'];

type NativeSpawn = (
  flags: number,
  path: string,
  argv: (string | null)[],
  envp: (string | null)[],
  fds: Int32Array,
  nfds: number,
  syncFd: number,
  errFd: number,
  pdeathsig: number,
  options: number,
) => number;

let nativeSpawn: NativeSpawn | undefined;

/** Where `npm ci` put the compiled helper (same depth from src/ and dist/). */
export function nativeLibraryPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'libhull_spawn.so');
}

/** The native helper's one handle (ffi.ts keeps one per path), or a clear error when npm ci has not built it. */
function nativeLibrary(): GuardedLibrary {
  const path = nativeLibraryPath();
  if (!existsSync(path)) {
    throw new Error(`hull: the native spawn helper is missing (${path}): run npm ci (it needs a C compiler, cc)`);
  }
  return loadLibrary(path);
}

function loadNative(): NativeSpawn {
  if (nativeSpawn) return nativeSpawn;
  nativeSpawn = nativeLibrary().func(
    'int hull_spawn(unsigned long flags, const char *path, const char **argv, const char **envp, const int *fds, int nfds, int sync_fd, int err_fd, int pdeathsig, int options)',
  ) as NativeSpawn;
  return nativeSpawn;
}

export interface SpawnOptions {
  /** argv[0] is also the program to run unless `path` is given. It is not searched in PATH. */
  argv: readonly string[];
  path?: string;
  env: Record<string, string> | readonly string[];
  /** New namespaces for the child. With 'user', the child becomes uid/gid 0 in it after beforeStart. */
  namespaces?: readonly Namespace[];
  /**
   * The child's file descriptors: child fd i becomes a copy of stdio[i]; -1 leaves it closed.
   * Defaults to our own 0, 1, 2.
   */
  stdio?: readonly number[];
  /** Runs while the child is blocked before exec: write uid/gid maps, join a cgroup, wire the network. */
  beforeStart?: (pid: number) => void | Promise<void>;
  /** Signal the child gets if we die first. Defaults to SIGKILL. */
  pdeathsig?: number | string;
  /** Start a new session, and with `controllingTerminal` make child fd 0 its terminal. */
  setsid?: boolean;
  controllingTerminal?: boolean;
  /**
   * Needs 'mnt' in `namespaces`: exec `path` through a read-only bind mount of
   * itself in the child's mount namespace, so that /proc/PID/exe of the child
   * cannot be opened for writing (CVE-2019-5736; native/spawn.c).
   */
  readonlyExecutable?: boolean;
}

export interface Child {
  readonly pid: number;
  /** Resolves once, when the child exits, and reaps it. Never blocks the event loop. */
  readonly exited: Promise<ExitStatus>;
  kill(sig?: number | string): void;
}

/**
 * Clone a child into new namespaces and exec a program in it.
 * Throws SyscallError if clone fails, if beforeStart throws (the child is
 * killed and reaped), or if the child cannot exec (e.g. execve: ENOENT).
 */
export async function spawn(opts: SpawnOptions): Promise<Child> {
  const fn = loadNative();
  const namespaces = opts.namespaces ?? [];
  const flags = namespaceFlags(namespaces);
  const stdio = Int32Array.from(opts.stdio ?? [0, 1, 2]);
  const path = opts.path ?? opts.argv[0];
  if (!path) throw new TypeError('spawn: empty argv');
  let options = 0;
  if (namespaces.includes('user')) options |= OPT_BECOME_ROOT;
  if (opts.setsid || opts.controllingTerminal) options |= OPT_SETSID;
  if (opts.controllingTerminal) options |= OPT_SETCTTY;
  if (opts.readonlyExecutable) {
    // Without a mount namespace of its own the bind would land on the host.
    if (!namespaces.includes('mnt')) throw new TypeError('spawn: readonlyExecutable needs a new mount namespace');
    options |= OPT_READONLY_EXE;
  }

  const [syncR, syncW] = pipe2();
  const [errR, errW] = pipe2();
  let pid: number;
  try {
    pid = fn(
      flags,
      path,
      [...opts.argv, null],
      [...envList(opts.env), null],
      stdio,
      stdio.length,
      syncR,
      errW,
      signalNumber(opts.pdeathsig ?? 'SIGKILL'),
      options,
    );
  } finally {
    close(syncR);
    close(errW);
  }
  if (pid < 0) {
    close(syncW);
    close(errR);
    throw new SyscallError('clone', -pid, [namespaces.join('|') || 'no new namespaces']);
  }

  let pidfd = -1;
  try {
    pidfd = pidfdOpen(pid);
  } catch (err) {
    abandon(pid, syncW, errR);
    throw err;
  }
  await release(pid, syncW, errR, opts.beforeStart, () => close(pidfd));

  // The report pipe is close-on-exec in the child: EOF means execve succeeded.
  // It happens within microseconds of the sync byte, so a blocking read is fine.
  const report = Buffer.alloc(8);
  let got = 0;
  try {
    for (;;) {
      const n = read(errR, report.subarray(got));
      if (n === 0) break;
      got += n;
      if (got === 8) break;
    }
  } finally {
    close(errR);
  }
  if (got === 8) {
    const step = report.readInt32LE(0);
    const errno = report.readInt32LE(4);
    waitpid(pid);
    close(pidfd);
    throw new SyscallError(STEPS[step] ?? JOIN_STEPS[step] ?? `step ${step}`, errno, step === 8 || step === 22 ? [path] : []);
  }

  return childHandle(pid, waitExit(pid, pidfd));
}

/** Kill and reap a child that is still blocked on the sync pipe, and close our ends. */
function abandon(pid: number, syncW: number, errR: number): void {
  close(syncW);
  close(errR);
  try {
    kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  waitpid(pid);
}

/**
 * Run beforeStart while the child waits, then let it go with the sync byte.
 * If beforeStart throws, the child never runs anything of its own: it is
 * killed and reaped, and the error goes to our caller.
 */
async function release(
  pid: number,
  syncW: number,
  errR: number,
  beforeStart: ((pid: number) => void | Promise<void>) | undefined,
  onAbandon: () => void = () => {},
): Promise<void> {
  try {
    if (beforeStart) await beforeStart(pid);
    write(syncW, Buffer.from('g'));
  } catch (err) {
    abandon(pid, syncW, errR);
    onAbandon();
    throw err;
  }
  close(syncW);
}

function childHandle(pid: number, exited: Promise<ExitStatus>): Child {
  return {
    pid,
    exited,
    kill(sig: number | string = 'SIGTERM') {
      try {
        kill(pid, sig);
      } catch (err) {
        if (!(err instanceof SyscallError && err.code === 'ESRCH')) throw err;
      }
    },
  };
}

/**
 * Wait for a child of ours without blocking the event loop: a pidfd becomes
 * readable when its process exits; then waitpid reaps it at once.
 * Takes ownership of pidfd (closes it).
 */
export function waitExit(pid: number, pidfd = pidfdOpen(pid)): Promise<ExitStatus> {
  return new Promise<ExitStatus>((resolve, reject) => {
    const poll = koffi.node.poll(pidfd, { readable: true }, () => {
      try {
        const done = waitpid(pid, WNOHANG);
        if (!done) return; // spurious wake-up
        poll.close();
        close(pidfd);
        resolve(done.status);
      } catch (err) {
        poll.close();
        close(pidfd);
        reject(err);
      }
    });
  });
}

/**
 * A checker for "would execve(path) run our own executable": the path
 * itself, or its "#!" interpreter or ELF interpreter, nested as the kernel
 * nests them? A `#!/proc/self/exe` script does, when the caller is still
 * hull's node (CVE-2019-5736). Implemented once, in native/spawn.c, for
 * hull_spawn_join and for the Node init stage, which must load it while the
 * host's files are still in view (before pivot_root).
 */
export function execReachesSelfCheck(): (path: string) => boolean {
  const fn = nativeLibrary().func('int hull_exec_reaches_self(const char *path)') as (path: string) => number;
  return (path) => fn(path) === 1;
}

// ------------------------------------------------------------ joining a container

const JOIN_STEPS: Record<number, string> = {
  10: 'setns',
  11: 'clone(CLONE_PARENT)',
  12: 'chdir',
  13: 'prctl(PR_CAPBSET_DROP)',
  14: 'prctl(PR_SET_KEEPCAPS)',
  15: 'capset',
  16: 'prctl(PR_CAP_AMBIENT_CLEAR_ALL)',
  17: 'prctl(PR_SET_NO_NEW_PRIVS)',
  18: 'seccomp',
  19: 'prctl(PR_SET_DUMPABLE)',
  20: 'close_range(CLOSE_RANGE_CLOEXEC)',
  // getcwd(2) failed, or the new cwd is not below the container's "/" (CVE-2024-21626).
  21: 'getcwd',
  22: 'mount(read-only exe)',
  // The program (or its #! / PT_INTERP chain) is our own node binary (CVE-2019-5736).
  23: 'execve(own executable)',
};

type NativeSpawnJoin = (
  targetPidfd: number,
  nsFlags: number,
  cwd: string | null,
  setUser: number,
  uid: number,
  gid: number,
  groups: Uint32Array | null,
  ngroups: number,
  path: string,
  argv: (string | null)[],
  envp: (string | null)[],
  fds: Int32Array,
  nfds: number,
  syncFd: number,
  errFd: number,
  pdeathsig: number,
  options: number,
  lastCap: number,
  caps: Uint32Array | null,
  filter: Buffer | null,
  filterLen: number,
) => number;

let nativeSpawnJoin: NativeSpawnJoin | undefined;

function loadNativeJoin(): NativeSpawnJoin {
  if (nativeSpawnJoin) return nativeSpawnJoin;
  nativeSpawnJoin = nativeLibrary().func(
    'int hull_spawn_join(int target_pidfd, unsigned long ns_flags, const char *cwd, int set_user, unsigned int uid, unsigned int gid, const unsigned int *groups, int ngroups, const char *path, const char **argv, const char **envp, const int *fds, int nfds, int sync_fd, int err_fd, int pdeathsig, int options, int last_cap, const uint32_t *caps, const void *filter, int filter_len)',
  ) as NativeSpawnJoin;
  return nativeSpawnJoin;
}

/**
 * The container's process-level hardening, for the joining process (docker
 * exec applies the container's capabilities, no_new_privs and seccomp too).
 * The caller decides every value; the native side only applies them, in
 * hull run's order: bounding set (while CAP_SETPCAP is there), the user
 * switch, capset, ambient cleared, no_new_privs, the seccomp filter last.
 */
export interface JoinSecurity {
  /** /proc/sys/kernel/cap_last_cap: every capability up to it that is not in `bounding` is dropped. */
  lastCap: number;
  /** The bounding set to keep. */
  bounding: bigint;
  /** capset(2) after the user switch. */
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  noNewPrivs: boolean;
  /** The classic BPF program; null = no filter (unconfined). */
  seccomp: readonly SockFilter[] | null;
}

/** The 8 words hull_spawn_join reads: bounding, effective, permitted, inheritable, each low then high 32 bits. */
function capabilityWords(s: JoinSecurity): Uint32Array {
  const words = new Uint32Array(8);
  [s.bounding, s.effective, s.permitted, s.inheritable].forEach((mask, i) => {
    words[2 * i] = Number(mask & 0xffffffffn);
    words[2 * i + 1] = Number((mask >> 32n) & 0xffffffffn);
  });
  return words;
}

export interface JoinOptions {
  /** A process of the container (its PID 1): we join its namespaces. */
  target: number;
  /** Which of its namespaces to join (those that differ from ours). */
  namespaces: readonly Namespace[];
  /** The program's path as the container sees it; not searched in PATH. */
  path: string;
  argv: readonly string[];
  env: Record<string, string> | readonly string[];
  /** Directory inside the container; the container's "/" otherwise. */
  cwd?: string;
  user?: { uid: number; gid: number; groups: readonly number[] };
  stdio?: readonly number[];
  /** Runs while the helper waits, before it joins: put its pid in the container's cgroup. */
  beforeStart?: (pid: number) => void | Promise<void>;
  pdeathsig?: number | string;
  setsid?: boolean;
  controllingTerminal?: boolean;
  /** Absent: the process keeps our capabilities and has no filter (only for callers that are not `hull exec`). */
  security?: JoinSecurity;
}

/**
 * Start a process inside a running container's namespaces (`hull exec`),
 * through native/spawn.c's hull_spawn_join. Resolves once it has exec'd; its
 * `pid` is a child of ours. Throws SyscallError as spawn() does.
 */
export async function spawnJoin(opts: JoinOptions): Promise<Child> {
  const fn = loadNativeJoin();
  const stdio = Int32Array.from(opts.stdio ?? [0, 1, 2]);
  let options = 0;
  if (opts.setsid || opts.controllingTerminal) options |= OPT_SETSID;
  if (opts.controllingTerminal) options |= OPT_SETCTTY;
  const security = opts.security;
  if (security) options |= OPT_HARDEN;
  if (security?.noNewPrivs) options |= OPT_NO_NEW_PRIVS;
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the capabilities go.
  else if (security?.seccomp) options |= OPT_SECCOMP_EARLY;
  const filter = security?.seccomp?.length ? encodeSockFilters(security.seccomp) : null;
  const groups = opts.user ? Uint32Array.from(opts.user.groups) : null;
  const targetPidfd = pidfdOpen(opts.target);
  const [syncR, syncW] = pipe2();
  const [errR, errW] = pipe2();
  let middle: number;
  try {
    middle = fn(
      targetPidfd,
      namespaceFlags(opts.namespaces),
      opts.cwd ?? null,
      opts.user ? 1 : 0,
      opts.user?.uid ?? 0,
      opts.user?.gid ?? 0,
      groups && groups.length ? groups : null,
      groups?.length ?? 0,
      opts.path,
      [...opts.argv, null],
      [...envList(opts.env), null],
      stdio,
      stdio.length,
      syncR,
      errW,
      signalNumber(opts.pdeathsig ?? 'SIGKILL'),
      options,
      security?.lastCap ?? -1,
      security ? capabilityWords(security) : null,
      filter,
      security?.seccomp?.length ?? 0,
    );
  } finally {
    close(syncR);
    close(errW);
    close(targetPidfd);
  }
  if (middle < 0) {
    close(syncW);
    close(errR);
    throw new SyscallError('clone', -middle, ['join']);
  }
  await release(middle, syncW, errR, opts.beforeStart);

  // Messages of 8 bytes, in any order: {STEP_PID=0, pid} from the middle
  // child, and {step, errno} if either of them failed. EOF once both are done
  // (the middle exited, the grandchild exec'd: the pipe is close-on-exec).
  const messages: Buffer[] = [];
  const buf = Buffer.alloc(16);
  let got = 0;
  try {
    for (;;) {
      const n = read(errR, buf.subarray(got));
      if (n === 0) break;
      got += n;
      while (got >= 8) {
        messages.push(Buffer.from(buf.subarray(0, 8)));
        buf.copy(buf, 0, 8, got);
        got -= 8;
      }
    }
  } finally {
    close(errR);
  }
  waitpid(middle);
  const pidMessage = messages.find((m) => m.readInt32LE(0) === 0);
  const failure = messages.find((m) => m.readInt32LE(0) !== 0);
  const pid = pidMessage?.readInt32LE(4) ?? -1;
  if (failure) {
    if (pid > 0) waitpid(pid);
    const step = failure.readInt32LE(0);
    throw new SyscallError(JOIN_STEPS[step] ?? STEPS[step] ?? `step ${step}`, failure.readInt32LE(4), step === 8 || step === 23 ? [opts.path] : step === 12 || step === 21 ? [opts.cwd ?? '/'] : []);
  }
  if (pid <= 0) throw new SyscallError('clone(CLONE_PARENT)', 10 /* ECHILD */, ['no pid reported']);
  return childHandle(pid, waitExit(pid));
}
