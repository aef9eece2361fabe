// Step 06: a rootfs container with its own network.
//   sudo npx tsx packages/06-network/src/main.ts --rootfs DIR --net bridge|none|host [--ip A.B.C.D]
//        [--publish [IP:]HOSTPORT:CTRPORT[/tcp|/udp]]... [--hostname N] -- CMD [ARGS...]
// The bridge, subnet and state dir come from HULL_BRIDGE (hull0), HULL_SUBNET
// (10.77.0.0/24) and HULL_ROOT (/var/lib/hull).
import { hostnameProblem, parseStepArgs, runMain, UsageError } from '@hull/01-uts';
import { isIpv4 } from './subnet.js';
import { parsePublish, publishConflict, publishProblem, type PortMapping } from './publish.js';
import { NET_MODES, type NetMode, runWithNetwork } from './run.js';

const USAGE = 'main.ts --rootfs DIR [--net bridge|none|host] [--ip A.B.C.D] [--publish [IP:]HOSTPORT:CTRPORT[/tcp|/udp]]... [--hostname N] -- CMD [ARGS...]';

await runMain(USAGE, async () => {
  const { values, command } = parseStepArgs(process.argv.slice(2), {
    rootfs: { type: 'string' },
    net: { type: 'string' },
    ip: { type: 'string' },
    publish: { type: 'string', multiple: true },
    hostname: { type: 'string' },
  });
  const rootfs = values.rootfs as string | undefined;
  if (!rootfs) throw new UsageError('missing --rootfs DIR');
  const net = (values.net as string | undefined) ?? 'bridge';
  if (!(NET_MODES as readonly string[]).includes(net)) throw new UsageError(`--net ${JSON.stringify(net)}: must be one of ${NET_MODES.join(', ')}`);
  const ip = values.ip as string | undefined;
  if (ip !== undefined && !isIpv4(ip)) throw new UsageError(`--ip ${JSON.stringify(ip)}: not an IPv4 address`);
  const publish: PortMapping[] = ((values.publish as string[] | undefined) ?? []).map((p) => {
    const mapping = parsePublish(p);
    if (!mapping) throw new UsageError(`--publish ${JSON.stringify(p)}: ${publishProblem(p)}`);
    return mapping;
  });
  const conflict = publishConflict(publish);
  if (conflict) throw new UsageError(`--publish: ${conflict}`);
  if (net !== 'bridge' && (ip !== undefined || publish.length > 0)) throw new UsageError(`--ip and --publish need --net bridge, not --net ${net}`);
  const hostname = values.hostname as string | undefined;
  const problem = hostname === undefined ? null : hostnameProblem(hostname);
  if (problem) throw new UsageError(`--hostname ${JSON.stringify(hostname)} ${problem}`);
  return runWithNetwork({
    rootfs,
    argv: command,
    net: net as NetMode,
    ...(hostname !== undefined ? { hostname } : {}),
    ...(ip !== undefined ? { ip } : {}),
    publish,
  });
});
