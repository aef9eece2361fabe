// `hull inspect`: docker's JSON for a container, or for an image (images.ts) when no container has that name.
import { ContainerError, UsageError } from '@hull/01-uts';
import { parseOptions } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { rootfsPaths } from '../rootfs.js';
import { type ContainerConfig, type ContainerState, hullRoot, logPath, observedState } from '../store.js';
import { namedVolumeDir } from '../volumes.js';
import { help } from './help.js';

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
  if (help(args, { usage: 'hull inspect CONTAINER|IMAGE...', options: {} })) return 0;
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
