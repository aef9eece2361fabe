// `hull port CONTAINER [PRIVATE_PORT[/PROTO]]`: the -p mappings, as docker lists them.
import { ContainerError, UsageError } from '@hull/01-uts';
import { parseOptions } from '../args.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { help } from './help.js';

export async function port(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull port CONTAINER [PRIVATE_PORT[/PROTO]]', options: {}, about: 'List port mappings or a specific mapping for the container.' })) return 0;
  const { positionals } = parseOptions(args, {});
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`"hull port" requires 1 or 2 arguments: CONTAINER [PRIVATE_PORT[/PROTO]]`);
  const [ref, wanted] = positionals as [string, string | undefined];
  const config = findContainer(ref);
  const mappings = config.publish.map((m) => ({ key: `${m.containerPort}/${m.protocol ?? 'tcp'}`, host: `${m.hostIp || '0.0.0.0'}:${m.hostPort}` }));
  if (wanted === undefined) {
    process.stdout.write(mappings.map((m) => `${m.key} -> ${m.host}\n`).join(''));
    return 0;
  }
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(wanted);
  if (!match || Number(match[1]) > 65535) throw new UsageError(`invalid port ${JSON.stringify(wanted)}: expected PRIVATE_PORT[/tcp|udp|sctp]`);
  const key = `${Number(match[1])}/${match[2] ?? 'tcp'}`;
  const found = mappings.filter((m) => m.key === key);
  if (found.length === 0) throw new ContainerError(`no public port '${key}' published for ${ref}`, EXIT_ERROR);
  process.stdout.write(found.map((m) => `${m.host}\n`).join(''));
  return 0;
}
