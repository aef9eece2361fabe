// hull run [OPTIONS] IMAGE [COMMAND] [ARG...]
// Flags -> a ContainerConfig (docker's override rules, container-config.ts)
// -> the store (name taken under the lock) -> started here (foreground) or
// by the supervisor (-d).
import { mkdirSync } from 'node:fs';
import { ContainerError, signals, UsageError } from '@hull/01-uts';
import { type CgroupLimits, parseLimits } from '@hull/04-cgroups';
import { parsePublish, publishConflict, publishProblem, type PortMapping } from '@hull/06-network';
import { Store } from '@hull/07-oci-pull';
import { close, O_CLOEXEC, O_RDONLY, open } from '@hull/sys';
import { boolOption, helpText, listOption, type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { commandOf, environmentOf, hostnameOf, type RunFlags, workdirOf } from '../container-config.js';
import { findImage, type LocalImage } from '../image.js';
import { startContainer } from '../lifecycle.js';
import { checkName, newContainerId, randomName } from '../names.js';
import { planSecurity, type SecurityFlags } from '../security/plan.js';
import { type ContainerConfig, containerDir, containerIds, hullRoot, newState, readConfig, withStoreLock, writeConfig, writeState } from '../store.js';
import { startDetached } from '../supervisor-client.js';
import { parseVolume } from '../volumes.js';
import { storageDriverFromEnv } from '../rootfs.js';
import { trace } from '../trace.js';

export const RUN_OPTIONS: OptionSpecs = {
  detach: { type: 'boolean', short: 'd', help: 'Run in the background and print the container id' },
  rm: { type: 'boolean', help: 'Remove the container when it exits' },
  interactive: { type: 'boolean', short: 'i', help: 'Keep stdin attached (otherwise it is /dev/null)' },
  tty: { type: 'boolean', short: 't', help: 'Give the container a pseudo-terminal (-it for a shell)' },
  name: { type: 'string', value: 'NAME', help: 'Name the container' },
  env: { type: 'string', short: 'e', multiple: true, value: 'K=V|K', help: 'Set an environment variable (repeatable)' },
  'env-file': { type: 'string', multiple: true, value: 'FILE', help: 'Read environment variables from a file (repeatable)' },
  hostname: { type: 'string', short: 'h', value: 'NAME', help: 'Container hostname (default: the short id)' },
  workdir: { type: 'string', short: 'w', value: 'DIR', help: 'Working directory inside the container' },
  user: { type: 'string', short: 'u', value: 'U[:G]', help: 'Username or uid, optional group or gid' },
  entrypoint: { type: 'string', value: 'CMD', help: "Override the image's entrypoint" },
  network: {
    type: 'string',
    value: 'MODE',
    help: 'none (own namespace, loopback only; default), bridge (eth0 on HULL_BRIDGE, default hull0, NAT to the outside) or host',
  },
  publish: { type: 'string', short: 'p', multiple: true, value: '[IP:]H:C[/udp]', help: "Forward host port H (on IP only, if given; TCP unless /udp) to the container's port C (bridge only)" },
  volume: { type: 'string', short: 'v', multiple: true, value: 'SRC:DST[:ro]', help: 'Bind a host path (absolute SRC) or a named volume (SRC a name)' },
  'read-only': { type: 'boolean', help: "Mount the container's root filesystem read-only" },
  userns: { type: 'string', value: 'MODE', help: 'host (default) or remap: root inside is host uid 100000' },
  memory: { type: 'string', short: 'm', value: 'BYTES', help: 'Memory limit (e.g. 64m, 1g); over it, the OOM killer ends it (137)' },
  cpus: { type: 'string', value: 'N', help: 'CPUs worth of time (e.g. 0.5)' },
  'pids-limit': { type: 'string', value: 'N', help: 'Most processes and threads at once' },
  'cap-add': { type: 'string', multiple: true, value: 'CAP', help: 'Add a capability, or ALL (repeatable; docs/hardening.md)' },
  'cap-drop': { type: 'string', multiple: true, value: 'CAP', help: 'Drop a capability, or ALL (repeatable)' },
  'security-opt': { type: 'string', multiple: true, value: 'OPT', help: 'no-new-privileges=false, seccomp=unconfined|PROFILE.json, systempaths=unconfined' },
  ulimit: { type: 'string', multiple: true, value: 'N=S[:H]', help: "Resource limit, e.g. nofile=1024:2048 (never above hull's own hard limit)" },
  privileged: { type: 'boolean', help: 'Every capability, no seccomp, no masked paths, every device' },
  help: { type: 'boolean' },
};

const HELP = helpText('hull run [OPTIONS] IMAGE [COMMAND] [ARG...]', RUN_OPTIONS, 'Create and run a container from an image (pulled first if absent).');

/** Resolve the image, pulling it like docker does when it is not here yet. */
async function imageFor(store: Store, ref: string): Promise<LocalImage> {
  const local = findImage(store, ref);
  if (local) return local;
  process.stderr.write(`Unable to find image '${ref}' locally\n`);
  // The registry client (and its HTTP stack, undici: most of the bundle's
  // bytes) loads only now: a run of a local image never parses it. Not
  // through the chapter's index, which would bring all of it along.
  const [{ pull }, { createProgress }] = await Promise.all([import('@hull/07-oci-pull/pull'), import('@hull/07-oci-pull/progress')]);
  const progress = createProgress(process.stderr);
  try {
    await pull({ ref, store, progress, insecure: (process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean) });
  } finally {
    progress.stop();
  }
  const pulled = findImage(store, ref);
  if (!pulled) throw new ContainerError(`image ${ref}: pulled but not in the store`);
  return pulled;
}

function networkOf(value: string | undefined): ContainerConfig['network'] {
  if (value === undefined || value === 'none' || value === 'host' || value === 'bridge') return value ?? 'none';
  throw new UsageError(`--network ${value}: use none, bridge or host`);
}

function usernsOf(value: string | undefined): ContainerConfig['userns'] {
  if (value === undefined || value === 'host' || value === 'remap') return value ?? 'host';
  throw new UsageError(`--userns ${value}: use host or remap`);
}

function publishOf(values: string[], network: ContainerConfig['network']): PortMapping[] {
  if (values.length && network !== 'bridge') throw new UsageError('-p/--publish needs --network bridge');
  // docker's [IP:]HOST:CTR[/tcp|/udp], parsed by chapter 06, whose proxies serve it.
  const mappings = values.map((text) => {
    const mapping = parsePublish(text);
    if (!mapping) throw new UsageError(`-p ${text}: ${publishProblem(text)}`);
    return mapping;
  });
  const conflict = publishConflict(mappings);
  if (conflict) throw new UsageError(`-p: ${conflict}`);
  return mappings;
}

/** Chapter 04 parses the values; the flag is docker's --pids-limit, not the step's --pids-max. */
function limitsOf(memory: string | undefined, cpus: string | undefined, pidsMax: string | undefined): CgroupLimits {
  try {
    return parseLimits({ ...(memory !== undefined ? { memory } : {}), ...(cpus !== undefined ? { cpus } : {}), ...(pidsMax !== undefined ? { pidsMax } : {}) });
  } catch (err) {
    if (err instanceof Error) err.message = err.message.replace('--pids-max', '--pids-limit');
    throw err;
  }
}

/** Take the name and write the container's files, all under the store lock, so two runs never share a name. */
export function create(config: ContainerConfig, root: string, nameGiven: boolean): void {
  withStoreLock(() => {
    const taken = new Map(containerIds(root).map((id) => [readConfig(id, root).name, id]));
    // A generated name that happens to be taken is simply drawn again.
    while (!nameGiven && taken.has(config.name)) config.name = randomName();
    const other = taken.get(config.name);
    if (other) throw new ContainerError(`the container name "${config.name}" is already in use by container ${other.slice(0, 12)}: remove it or pick another name`);
    // With --userns remap the container's root (host uid 100000) must walk through to its rootfs and /etc files.
    mkdirSync(containerDir(config.id, root), { recursive: true, mode: config.userns === 'remap' ? 0o711 : 0o700 });
    writeState(config.id, newState(), root);
    writeConfig(config, root);
  }, root);
}

export async function run(args: string[]): Promise<number> {
  trace('run-loaded');
  const { values, positionals } = parseOptions(args, RUN_OPTIONS, true);
  if (boolOption(values, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const [ref, ...command] = positionals;
  if (!ref) throw new UsageError('"hull run" requires at least 1 argument: IMAGE');
  const detach = boolOption(values, 'detach');
  const interactive = boolOption(values, 'interactive');
  const tty = boolOption(values, 'tty');
  if (detach && interactive) throw new UsageError('-d with -i needs `hull attach`, which hull does not have yet');
  if (detach && tty) throw new UsageError('-d with -t is not supported yet: a detached pty needs `hull attach`');
  const name = stringOption(values, 'name');
  if (name !== undefined) checkName(name);
  const network = networkOf(stringOption(values, 'network'));
  const publish = publishOf(listOption(values, 'publish'), network);
  const limits = limitsOf(stringOption(values, 'memory'), stringOption(values, 'cpus'), stringOption(values, 'pids-limit'));
  const flags: RunFlags = {
    command,
    env: listOption(values, 'env'),
    envFiles: listOption(values, 'env-file'),
    tty,
    ...(stringOption(values, 'entrypoint') !== undefined ? { entrypoint: stringOption(values, 'entrypoint')! } : {}),
    ...(stringOption(values, 'workdir') !== undefined ? { workdir: stringOption(values, 'workdir')! } : {}),
    ...(stringOption(values, 'user') !== undefined ? { user: stringOption(values, 'user')! } : {}),
    ...(stringOption(values, 'hostname') !== undefined ? { hostname: stringOption(values, 'hostname')! } : {}),
  };

  const security: SecurityFlags = {
    capAdd: listOption(values, 'cap-add'),
    capDrop: listOption(values, 'cap-drop'),
    securityOpt: listOption(values, 'security-opt'),
    ulimit: listOption(values, 'ulimit'),
    privileged: boolOption(values, 'privileged'),
  };
  planSecurity(security); // a bad capability, profile or limit fails here, before any pull or container

  const storageDriver = storageDriverFromEnv();
  const userns = usernsOf(stringOption(values, 'userns'));
  if (storageDriver === 'copy' && userns === 'remap') throw new ContainerError('HULL_STORAGE_DRIVER=copy: --userns remap needs overlayfs');
  const root = hullRoot();
  const store = new Store(root);
  const image = await imageFor(store, ref);
  trace('image-resolved');
  const imageConfig = image.config.config ?? {};
  const id = newContainerId();
  const hostname = hostnameOf(flags, id);
  const config: ContainerConfig = {
    id,
    name: name ?? randomName(),
    image: image.ref,
    imageId: image.record.config,
    created: new Date().toISOString(),
    argv: commandOf(imageConfig, flags),
    env: environmentOf(imageConfig, flags, hostname),
    hostname,
    workdir: workdirOf(imageConfig, flags),
    user: flags.user ?? imageConfig.User ?? '',
    autoRemove: boolOption(values, 'rm'),
    detached: detach,
    network,
    publish,
    volumes: listOption(values, 'volume').map(parseVolume),
    readonly: boolOption(values, 'read-only'),
    userns,
    tty,
    limits,
    security,
    lowerdirs: image.lowerdirs,
    manifest: image.record.manifest,
    storageDriver,
  };
  create(config, root, name !== undefined);
  trace('created');

  if (detach) {
    await startDetached(root, id);
    process.stdout.write(`${id}\n`);
    return 0;
  }
  // A Ctrl-C or SIGTERM while we mount and clone would kill us half-way and
  // leave the mount and the cgroup behind. So we hold signals from here on, for
  // our whole life: runContainer hands them to PID 1 once it runs (queued ones
  // first), and once the container has exited they must not cut its cleanup
  // short either (01-uts signals.ts).
  signals.hold();
  if (tty) return runWithTerminal(config, root, interactive);
  // Without -i docker gives the container no stdin; /dev/null is the honest equivalent.
  const stdin = interactive ? 0 : open('/dev/null', O_RDONLY | O_CLOEXEC);
  try {
    const started = await startContainer(config, [stdin, 1, 2], root);
    return await started.exited;
  } finally {
    if (stdin !== 0) close(stdin);
  }
}

async function runWithTerminal(config: ContainerConfig, root: string, interactive: boolean): Promise<number> {
  const { Terminal } = await import('../terminal.js');
  const terminal = Terminal.open();
  let started;
  try {
    started = await startContainer(config, [terminal.slave, terminal.slave, terminal.slave], root);
  } catch (err) {
    terminal.abandon();
    throw err;
  }
  terminal.attach(interactive);
  try {
    return await started.exited;
  } finally {
    await terminal.detach();
  }
}
