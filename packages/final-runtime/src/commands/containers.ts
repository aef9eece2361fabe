// The lifecycle commands: ps, logs, stop, kill, rm, inspect. They read the
// store and signal PID 1 by its host pid (checked against its start time, so
// a reused pid is never hit). Whoever started the container (the foreground
// CLI or the supervisor) records the exit; these commands wait for that.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { catchesSignal, ContainerError, UsageError } from '@hull/01-uts';
import { drainAndRemove, hostCgroupFs } from '@hull/04-cgroups';
import { kill as sendSignal, signalNumber } from '@hull/sys';
import { boolOption, intOption, parseOptions, stringOption } from '../args.js';
import { type LogLine } from '../logs.js';
import { EXIT_ERROR, findContainer, shortId } from '../names.js';
import { rootfsPaths, unmountRootfs } from '../rootfs.js';
import { DeviceCgroup } from '../security/devices.js';
import { namedVolumeDir } from '../volumes.js';
import {
  type ContainerConfig,
  containerIds,
  type ContainerState,
  hullRoot,
  isRunning,
  isSettled,
  logPath,
  observedState,
  readConfig,
  removeContainerDir,
  withStoreLock,
} from '../store.js';

function help(args: string[], text: string): boolean {
  if (!args.includes('--help')) return false;
  process.stdout.write(text);
  return true;
}

/** Run `fn` for each container argument; like docker, report each failure and exit 1 if any failed. */
async function eachContainer(refs: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (!(err instanceof ContainerError)) throw err;
      process.stderr.write(`hull: ${err.message}\n`);
      failed = true;
    }
  }
  return failed ? EXIT_ERROR : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitSettled(id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!isSettled(id)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** Signal PID 1 if it is still the process we started. */
function signalContainer(state: ContainerState, signal: string | number): void {
  if (!isRunning(state)) return;
  try {
    sendSignal(state.pid, signal);
  } catch {
    // exited meanwhile
  }
}

// ------------------------------------------------------------------------ ps

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

export function statusText(state: ContainerState): string {
  if (state.status === 'running') return `Up ${ago(state.startedAt)}`;
  if (state.status === 'exited') return `Exited (${state.exitCode}) ${ago(state.finishedAt || state.startedAt)} ago`;
  return 'Created';
}

function commandText(config: ContainerConfig): string {
  const cmd = config.argv.join(' ');
  return `"${cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd}"`;
}

interface Listed {
  config: ContainerConfig;
  state: ContainerState;
}

function listContainers(all: boolean): Listed[] {
  const out: Listed[] = [];
  for (const id of containerIds()) {
    try {
      const state = observedState(id);
      if (all || state.status === 'running') out.push({ config: readConfig(id), state });
    } catch {
      // removed while we listed
    }
  }
  return out.sort((a, b) => b.config.created.localeCompare(a.config.created));
}

export async function ps(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull ps [-a] [-q] [--json]\n\n  -a, --all    Show all containers (default: running only)\n  -q, --quiet  Only ids\n      --json   One JSON array\n')) return 0;
  const { values, positionals } = parseOptions(args, { all: { type: 'boolean', short: 'a' }, quiet: { type: 'boolean', short: 'q' }, json: { type: 'boolean' } });
  if (positionals.length) throw new UsageError(`"hull ps" accepts no arguments`);
  const rows = listContainers(boolOption(values, 'all'));
  if (boolOption(values, 'json')) {
    const json = rows.map(({ config, state }) => ({
      Id: config.id,
      Names: config.name,
      Image: config.image,
      Command: config.argv.join(' '),
      Created: config.created,
      State: state.status,
      Status: statusText(state),
      ExitCode: state.exitCode,
      Pid: state.status === 'running' ? state.pid : 0,
    }));
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  if (boolOption(values, 'quiet')) {
    process.stdout.write(rows.map((r) => `${shortId(r.config.id)}\n`).join(''));
    return 0;
  }
  const table = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES']];
  for (const { config, state } of rows) {
    table.push([shortId(config.id), config.image, commandText(config), `${ago(config.created)} ago`, statusText(state), config.name]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  process.stdout.write(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n').join(''));
  return 0;
}

// ---------------------------------------------------------------------- logs

function printLogLine(line: LogLine, timestamps: boolean): void {
  const out = line.stream === 'stderr' ? process.stderr : process.stdout;
  out.write(timestamps ? `${line.time} ${line.log}` : line.log);
}

function parseLogLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LogLine);
}

export async function logs(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull logs [-f] [--tail N] [-t] CONTAINER\n\n  -f, --follow      Follow the output until the container exits\n  -n, --tail N      Only the last N lines\n  -t, --timestamps  Show timestamps\n')) return 0;
  const { values, positionals } = parseOptions(args, {
    follow: { type: 'boolean', short: 'f' },
    tail: { type: 'string', short: 'n' },
    timestamps: { type: 'boolean', short: 't' },
  });
  if (positionals.length !== 1) throw new UsageError(`"hull logs" requires exactly 1 argument: CONTAINER`);
  const tailValue = stringOption(values, 'tail');
  const tail = tailValue === undefined || tailValue === 'all' ? undefined : intOption(values, 'tail');
  const timestamps = boolOption(values, 'timestamps');
  const config = findContainer(positionals[0]!);
  const path = logPath(config.id);
  if (!existsSync(path) && !config.detached) {
    throw new ContainerError(`container ${config.name} ran in the foreground: its output went to the terminal, not to a log`, EXIT_ERROR);
  }
  let offset = 0;
  const readNew = (): LogLine[] => {
    if (!existsSync(path)) return [];
    const size = statSync(path).size;
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    const fd = readFileSync(path);
    fd.copy(buf, 0, offset, size);
    // Only whole lines: the supervisor may be half-way through one.
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n') + 1;
    offset += Buffer.byteLength(text.slice(0, end));
    return parseLogLines(text.slice(0, end));
  };
  let lines = readNew();
  if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
  for (const line of lines) printLogLine(line, timestamps);
  if (!boolOption(values, 'follow')) return 0;
  for (;;) {
    const settled = isSettled(config.id);
    for (const line of readNew()) printLogLine(line, timestamps);
    // The log is complete once the container has exited: the supervisor closes it before recording the exit.
    if (settled) return 0;
    await sleep(100);
  }
}

// ---------------------------------------------------------------- stop, kill

export async function stop(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull stop [-t SECONDS] CONTAINER...\n\nSIGTERM, then SIGKILL after the grace period (default 10 s).\n')) return 0;
  const { values, positionals } = parseOptions(args, { time: { type: 'string', short: 't' } });
  if (positionals.length === 0) throw new UsageError(`"hull stop" requires at least 1 argument: CONTAINER`);
  const grace = intOption(values, 'time') ?? 10;
  return eachContainer(positionals, async (ref) => {
    const { id } = findContainer(ref);
    const state = observedState(id);
    if (isRunning(state)) {
      // PID 1 of a PID namespace never dies of a signal it does not handle
      // (the kernel drops it), so waiting out the grace period would only
      // delay the SIGKILL that docker sends in the end anyway.
      if (catchesSignal(state.pid, 'SIGTERM')) {
        signalContainer(state, 'SIGTERM');
        if (await waitSettled(id, grace * 1000)) {
          process.stdout.write(`${ref}\n`);
          return;
        }
      }
      signalContainer(state, 'SIGKILL');
    }
    if (!(await waitSettled(id, 10_000))) throw new ContainerError(`container ${ref} did not stop`, EXIT_ERROR);
    process.stdout.write(`${ref}\n`);
  });
}

export async function kill(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull kill [-s SIGNAL] CONTAINER...\n\n  -s, --signal SIG  Signal to send (default SIGKILL)\n')) return 0;
  const { values, positionals } = parseOptions(args, { signal: { type: 'string', short: 's' } });
  if (positionals.length === 0) throw new UsageError(`"hull kill" requires at least 1 argument: CONTAINER`);
  const raw = stringOption(values, 'signal') ?? 'SIGKILL';
  let signal: number;
  try {
    signal = signalNumber(/^\d+$/.test(raw) ? Number(raw) : raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`);
  } catch {
    throw new UsageError(`invalid signal: ${raw}`);
  }
  return eachContainer(positionals, async (ref) => {
    const { id, name } = findContainer(ref);
    const state = observedState(id);
    if (!isRunning(state)) throw new ContainerError(`cannot kill container ${name}: it is not running`, EXIT_ERROR);
    signalContainer(state, signal);
    process.stdout.write(`${ref}\n`);
  });
}

// ------------------------------------------------------------------------ rm

/** Remove a stopped container, repairing what a crash may have left: a rootfs still mounted, cgroups still there. */
async function removeContainer(id: string): Promise<void> {
  const dirs = observedState(id).cgroupDirs.filter((d) => existsSync(d));
  if (dirs.length) await drainAndRemove(hostCgroupFs, `hull/${id}`, dirs);
  DeviceCgroup.find(id)?.remove(); // empty now: its processes were in the cgroups drained above
  withStoreLock(() => {
    unmountRootfs(id);
    removeContainerDir(id);
  });
}

export async function rm(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull rm [-f] CONTAINER...\n\n  -f, --force  Kill a running container first\n')) return 0;
  const { values, positionals } = parseOptions(args, { force: { type: 'boolean', short: 'f' } });
  if (positionals.length === 0) throw new UsageError(`"hull rm" requires at least 1 argument: CONTAINER`);
  const force = boolOption(values, 'force');
  return eachContainer(positionals, async (ref) => {
    const { id, name } = findContainer(ref);
    const state = observedState(id);
    if (state.status === 'running') {
      if (!force) throw new ContainerError(`cannot remove container ${name}: it is running: stop it first or use rm -f`, EXIT_ERROR);
      signalContainer(state, 'SIGKILL');
      if (!(await waitSettled(id, 10_000))) throw new ContainerError(`container ${name} did not die`, EXIT_ERROR);
    }
    await removeContainer(id);
    process.stdout.write(`${ref}\n`);
  });
}

// ------------------------------------------------------------------- inspect

export function inspectContainer(config: ContainerConfig, state: ContainerState): Record<string, unknown> {
  const paths = rootfsPaths(config.id, hullRoot());
  return {
    Id: config.id,
    Created: config.created,
    Path: config.argv[0],
    Args: config.argv.slice(1),
    State: {
      Status: state.status,
      Running: state.status === 'running',
      Pid: state.status === 'running' ? state.pid : 0,
      ExitCode: state.exitCode,
      Error: state.error,
      StartedAt: state.startedAt,
      FinishedAt: state.finishedAt,
    },
    Image: config.imageId,
    Name: `/${config.name}`,
    LogPath: config.detached ? logPath(config.id) : '',
    Config: {
      Hostname: config.hostname,
      User: config.user,
      Env: config.env,
      Cmd: config.argv,
      Image: config.image,
      WorkingDir: config.workdir,
    },
    HostConfig: {
      AutoRemove: config.autoRemove,
      NetworkMode: config.network,
      Memory: config.limits.memoryBytes ?? 0,
      NanoCpus: Math.round((config.limits.cpus ?? 0) * 1e9),
      PidsLimit: config.limits.pidsMax ?? 0,
      ReadonlyRootfs: config.readonly,
      UsernsMode: config.userns,
      CgroupParent: 'hull',
      PortBindings: Object.fromEntries(config.publish.map((m) => [`${m.containerPort}/${m.protocol ?? 'tcp'}`, [{ HostIp: m.hostIp ?? '', HostPort: String(m.hostPort) }]])),
    },
    NetworkSettings: { IPAddress: state.ipAddress },
    Mounts: config.volumes.map((v) => ({
      Type: v.named ? 'volume' : 'bind',
      ...(v.named ? { Name: v.source } : {}),
      Source: v.named ? namedVolumeDir(hullRoot(), v.source) : v.source,
      Destination: v.destination,
      RW: !v.readonly,
    })),
    GraphDriver: {
      Name: state.rootfsDriver || 'overlay',
      Data: { LowerDir: config.lowerdirs.join(':'), UpperDir: paths.upper, WorkDir: paths.work, MergedDir: paths.rootfs },
    },
  };
}

export async function inspect(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull inspect CONTAINER|IMAGE...\n')) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length === 0) throw new UsageError(`"hull inspect" requires at least 1 argument`);
  const out: Record<string, unknown>[] = [];
  let failed = false;
  for (const ref of positionals) {
    try {
      const config = findContainer(ref);
      out.push(inspectContainer(config, observedState(config.id)));
      continue;
    } catch (err) {
      if (!(err instanceof ContainerError)) throw err;
    }
    const image = await (await import('./images.js')).inspectImage(ref);
    if (image) out.push(image);
    else {
      process.stderr.write(`hull: no such object: ${ref}\n`);
      failed = true;
    }
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return failed ? EXIT_ERROR : 0;
}

// --------------------------------------------------------------------- prune

/** Remove every container that is not running (the crash repair of `rm` included). */
export async function prune(args: string[]): Promise<number> {
  if (help(args, 'Usage: hull prune\n\nRemove all stopped containers (no confirmation prompt).\n')) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length) throw new UsageError(`"hull prune" accepts no arguments`);
  const stopped = containerIds().filter((id) => {
    try {
      return observedState(id).status !== 'running';
    } catch {
      return false;
    }
  });
  process.stdout.write('Deleted Containers:\n');
  const code = await eachContainer(stopped, async (id) => {
    await removeContainer(id);
    process.stdout.write(`${id}\n`);
  });
  return code;
}
