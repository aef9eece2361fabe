// hull-runtime: runc's command line over hull's chapters, so that podman
// (through conmon), containerd (through its runc shim) and anyone with a
// bundle can run containers with hull. runtime.md defines the operations;
// runc defines the flags and the words callers match on.
//
//   hull-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]
//                [--systemd-cgroup] COMMAND [OPTIONS] ID
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ContainerError, UsageError } from '@hull/01-uts';
import { detectLayout } from '@hull/04-cgroups';
import { exitCodeOf, OCI_VERSION } from '@hull/sys';
import { boolOption, intOption, listOption, type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { defaultSpec } from '../default-spec.js';
import { specJson } from '../spec-from-config.js';
import { createContainer } from './create.js';
import { execInContainer } from './exec.js';
import { containerPids, deleteContainer, killContainer, parseSignal, pauseContainer, startContainer, withContainerLock } from './lifecycle.js';
import { checkContainerId, DEFAULT_RUNTIME_ROOT, listIds, readRecord, RuntimeError, stateJson } from './state.js';

interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
}

const GLOBAL_OPTIONS: OptionSpecs = {
  root: { type: 'string' },
  log: { type: 'string' },
  'log-format': { type: 'string' },
  'systemd-cgroup': { type: 'boolean' },
  debug: { type: 'boolean' },
  rootless: { type: 'string' },
  criu: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
};

type Command = (g: Globals, args: string[]) => Promise<number>;

/** One-line messages into --log, in runc's (logrus') JSON shape when --log-format json: containerd reads them. */
function logLine(g: Globals, level: 'error' | 'warning' | 'debug', msg: string): void {
  if (!g.log) {
    if (level !== 'debug' || g.debug) process.stderr.write(`hull-runtime: ${msg}\n`);
    return;
  }
  const time = new Date().toISOString();
  const line = g.logFormat === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
  try {
    appendFileSync(g.log, `${line}\n`, { mode: 0o600 });
  } catch {
    process.stderr.write(`hull-runtime: ${msg}\n`);
  }
}

function one(args: string[], specs: OptionSpecs, usage: string): { values: Record<string, unknown>; id: string; rest: string[] } {
  const { values, positionals } = parseOptions(args, { ...specs, help: { type: 'boolean', short: 'h' } }, true);
  const [id, ...rest] = positionals;
  if (!id) throw new UsageError(`"${usage}" requires a container id`);
  checkContainerId(id);
  return { values, id, rest };
}

const create: Command = async (g, args) => {
  const { values, id, rest } = one(args, CREATE_OPTIONS, 'create');
  if (rest.length) throw new UsageError(`unexpected arguments after the container id: ${rest.join(' ')}`);
  await createContainer(createOptions(g, values, id, true));
  return 0;
};

const CREATE_OPTIONS: OptionSpecs = {
  bundle: { type: 'string', short: 'b' },
  'pid-file': { type: 'string' },
  'console-socket': { type: 'string' },
  'no-pivot': { type: 'boolean' },
  'no-new-keyring': { type: 'boolean' },
  'preserve-fds': { type: 'string' },
  detach: { type: 'boolean', short: 'd' },
  'keep': { type: 'boolean' },
  'no-subreaper': { type: 'boolean' },
};

function createOptions(g: Globals, values: Record<string, unknown>, id: string, detach: boolean) {
  const v = values as Record<string, string | boolean | undefined>;
  return {
    root: g.root,
    id,
    bundle: stringOption(v, 'bundle') ?? process.cwd(),
    ...(stringOption(v, 'pid-file') ? { pidFile: stringOption(v, 'pid-file')! } : {}),
    ...(stringOption(v, 'console-socket') ? { consoleSocket: stringOption(v, 'console-socket')! } : {}),
    noPivot: boolOption(v, 'no-pivot'),
    preserveFds: intOption(v, 'preserve-fds') ?? 0,
    detach,
  };
}

const start: Command = async (g, args) => {
  const { id } = one(args, {}, 'start');
  withContainerLock(g.root, id, () => startContainer(g.root, id, (m) => logLine(g, 'warning', m)));
  return 0;
};

/** `run`: create + start in the foreground; our exit status is the container's; then delete (unless --detach). */
const run: Command = async (g, args) => {
  const { values, id } = one(args, CREATE_OPTIONS, 'run');
  const detach = boolOption(values as Record<string, boolean>, 'detach');
  const { child } = await createContainer(createOptions(g, values, id, detach));
  // Signals for us are for the container, as with runc run.
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const sig of forwarded) process.on(sig, forward);
  try {
    withContainerLock(g.root, id, () => startContainer(g.root, id, (m) => logLine(g, 'warning', m)));
    if (detach) return 0;
    const status = await child.exited;
    return exitCodeOf(status);
  } finally {
    for (const sig of forwarded) process.off(sig, forward);
    if (!detach) await deleteContainer(g.root, id, true, (m) => logLine(g, 'warning', m));
  }
};

const state: Command = async (g, args) => {
  const { id } = one(args, {}, 'state');
  process.stdout.write(`${JSON.stringify(stateJson(g.root, readRecord(g.root, id)), null, 2)}\n`);
  return 0;
};

const killCommand: Command = async (g, args) => {
  const { values, id, rest } = one(args, { all: { type: 'boolean', short: 'a' } }, 'kill');
  if (rest.length > 1) throw new UsageError('kill takes at most one signal');
  const sig = parseSignal(rest[0] ?? 'SIGTERM');
  withContainerLock(g.root, id, () => killContainer(g.root, id, sig, boolOption(values as Record<string, boolean>, 'all')));
  return 0;
};

const deleteCommand: Command = async (g, args) => {
  const { values, id } = one(args, { force: { type: 'boolean', short: 'f' } }, 'delete');
  const force = boolOption(values as Record<string, boolean>, 'force');
  try {
    readRecord(g.root, id);
  } catch (err) {
    // runc: deleting what does not exist with --force is not an error.
    if (force) return 0;
    throw err;
  }
  await deleteContainer(g.root, id, force, (m) => logLine(g, 'warning', m));
  return 0;
};

const list: Command = async (g, args) => {
  const { values, positionals } = parseOptions(args, { format: { type: 'string', short: 'f' }, quiet: { type: 'boolean', short: 'q' } });
  if (positionals.length) throw new UsageError('list takes no arguments');
  const states = listIds(g.root).map((id) => stateJson(g.root, readRecord(g.root, id)));
  const format = stringOption(values, 'format') ?? 'table';
  if (boolOption(values, 'quiet')) process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
  else if (format === 'json') process.stdout.write(`${JSON.stringify(states)}\n`);
  else if (format === 'table') {
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...states.map((s) => [s.id, String(s.pid ?? 0), s.status, s.bundle, s.created, 'root'])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n');
  } else throw new UsageError(`invalid format option: ${format}`);
  return 0;
};

const ps: Command = async (g, args) => {
  const { values, id, rest } = one(args, { format: { type: 'string', short: 'f' } }, 'ps');
  const pids = containerPids(readRecord(g.root, id));
  const format = (values as Record<string, string>).format ?? 'table';
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(pids)}\n`);
    return 0;
  }
  if (format !== 'table') throw new UsageError(`invalid format option: ${format}`);
  // runc runs ps(1) with the given options and keeps the header and the container's lines.
  const out = execFileSync('ps', rest.length ? rest : ['-ef'], { encoding: 'utf8' });
  const [header, ...lines] = out.trimEnd().split('\n');
  const col = header!.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new RuntimeError("couldn't find PID field in ps output");
  process.stdout.write([header, ...lines.filter((l) => pids.includes(Number(l.trim().split(/\s+/)[col])))].join('\n') + '\n');
  return 0;
};

const pause: Command = async (g, args) => {
  const { id } = one(args, {}, 'pause');
  withContainerLock(g.root, id, () => pauseContainer(g.root, id, true));
  return 0;
};

const resume: Command = async (g, args) => {
  const { id } = one(args, {}, 'resume');
  withContainerLock(g.root, id, () => pauseContainer(g.root, id, false));
  return 0;
};

/** runc features (1.1+): what this runtime implements, for engines that ask. */
const features: Command = async (_g, args) => {
  if (args.length) throw new UsageError('features takes no arguments');
  const layout = detectLayout();
  process.stdout.write(
    `${JSON.stringify(
      {
        ociVersionMin: '1.0.0',
        ociVersionMax: OCI_VERSION,
        hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
        mountOptions: ['defaults', 'ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'sync', 'async', 'dirsync', 'mand', 'nomand', 'noatime', 'atime', 'nodiratime', 'diratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'nosymfollow', 'symfollow', 'bind', 'rbind', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable', 'rro', 'rnosuid', 'rnodev', 'rnoexec'],
        linux: {
          namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts'],
          cgroup: { v1: layout.version === 1, v2: true, systemd: false, systemdUser: false },
          apparmor: { enabled: false },
          selinux: { enabled: false },
        },
        annotations: { 'org.opencontainers.runc.checkpoint.enabled': 'false' },
      },
      null,
      2,
    )}\n`,
  );
  return 0;
};

const EXEC_OPTIONS: OptionSpecs = {
  process: { type: 'string', short: 'p' },
  cwd: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  user: { type: 'string', short: 'u' },
  'additional-gids': { type: 'string', short: 'g', multiple: true },
  tty: { type: 'boolean', short: 't' },
  detach: { type: 'boolean', short: 'd' },
  'pid-file': { type: 'string' },
  'console-socket': { type: 'string' },
  'no-new-privs': { type: 'boolean' },
};

const execCommand: Command = async (g, args) => {
  const { values, id, rest } = one(args, EXEC_OPTIONS, 'exec');
  const v = values as Record<string, string | boolean | string[] | undefined>;
  return execInContainer({
    root: g.root,
    id,
    ...(stringOption(v, 'process') ? { processFile: stringOption(v, 'process')! } : {}),
    args: rest,
    ...(stringOption(v, 'cwd') ? { cwd: stringOption(v, 'cwd')! } : {}),
    env: listOption(v, 'env'),
    ...(stringOption(v, 'user') ? { user: stringOption(v, 'user')! } : {}),
    additionalGids: listOption(v, 'additional-gids'),
    tty: boolOption(v, 'tty'),
    noNewPrivs: boolOption(v, 'no-new-privs'),
    detach: boolOption(v, 'detach'),
    ...(stringOption(v, 'pid-file') ? { pidFile: stringOption(v, 'pid-file')! } : {}),
    ...(stringOption(v, 'console-socket') ? { consoleSocket: stringOption(v, 'console-socket')! } : {}),
  });
};

/** `spec`: a starting config.json, as `runc spec` writes one (src/default-spec.ts says where they differ). */
const specCommand: Command = async (_g, args) => {
  const { values, positionals } = parseOptions(args, { bundle: { type: 'string', short: 'b' }, rootless: { type: 'boolean' } });
  if (positionals.length) throw new UsageError('spec takes no arguments');
  const path = join(stringOption(values, 'bundle') ?? process.cwd(), 'config.json');
  if (existsSync(path)) throw new RuntimeError('File config.json exists. Remove it first.');
  writeFileSync(path, specJson(defaultSpec({ rootless: boolOption(values, 'rootless') })), { mode: 0o644, flag: 'wx' });
  return 0;
};

const COMMANDS: Record<string, [string, Command]> = {
  spec: ['write a new config.json for a bundle', specCommand],
  exec: ['run a new process in a running container', execCommand],
  create: ['create a container (its init waits for start)', create],
  start: ['run the user process of a created container', start],
  run: ['create and start a container, and wait for it', run],
  state: ['output the state of a container (JSON)', state],
  kill: ['send a signal to the init (or, with --all, to every process) of a container', killCommand],
  delete: ['delete a stopped container (--force: also a running one)', deleteCommand],
  list: ['list the containers under --root', list],
  ps: ['list the processes of a container', ps],
  pause: ['freeze every process of a container', pause],
  resume: ['thaw a paused container', resume],
  features: ['show what this runtime supports (JSON)', features],
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `Usage: hull-runtime [GLOBAL OPTIONS] COMMAND [OPTIONS] ID

An OCI runtime (runtime-spec ${OCI_VERSION}) with runc's command line.

Commands:
${Object.entries(COMMANDS)
  .map(([n, [s]]) => `  ${n.padEnd(width)}  ${s}`)
  .join('\n')}

Global options:
  --root DIR              state directory (default ${DEFAULT_RUNTIME_ROOT})
  --log FILE              write errors and warnings there
  --log-format text|json  the log's format (default text)
  --debug                 more output
`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `hull-runtime version ${pkg.version}\nspec: ${OCI_VERSION}\nnode: ${process.version}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, GLOBAL_OPTIONS, true);
  const logFormat = stringOption(values, 'log-format') ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`invalid log-format: ${logFormat}`);
  const g: Globals = { root: stringOption(values, 'root') ?? DEFAULT_RUNTIME_ROOT, logFormat, debug: boolOption(values, 'debug'), ...(stringOption(values, 'log') ? { log: stringOption(values, 'log')! } : {}) };
  if (boolOption(values, 'version')) {
    process.stdout.write(version());
    return 0;
  }
  const [name, ...args] = positionals;
  if (!name || boolOption(values, 'help') || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  try {
    if (boolOption(values, 'systemd-cgroup')) throw new RuntimeError('--systemd-cgroup: hull-runtime manages cgroups through cgroupfs only (no systemd here to ask)');
    const entry = COMMANDS[name];
    if (!entry) throw new UsageError(`command "${name}" does not exist (see hull-runtime --help)`);
    return await entry[1](g, args);
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    if (process.env.HULL_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    if (g.log) logLine(g, 'error', msg);
    // runc prints the error on stderr as well as in its log: conmon shows stderr, containerd the log.
    process.stderr.write(`hull-runtime: ${msg}\n`);
    return err instanceof ContainerError && err.exitCode !== 125 ? err.exitCode : 1;
  }
}
