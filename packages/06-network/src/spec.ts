// Chapter 06's part of config.json: a network entry in linux.namespaces
// (none for --net host). The runtime spec stops there: which bridge, which
// address, which ports are the engine's to wire, as CNI does for
// containerd. This step is both engine and runtime, so it notes them in
// annotations, the spec's place for what a runtime does not interpret.
import { type OptionSpecs, type OptionValues, stringOption, UsageError, withNamespaces } from '@hull/01-uts';
import { ROOTFS_FLAGS, rootfsOptions, rootfsSpecFromFlags } from '@hull/03-chroot-proc';
import type { RuntimeSpec } from '@hull/sys';
import { formatPublish, parsePublish, publishConflict, publishProblem, type PortMapping } from './publish.js';
import { NET_MODES, type NetMode, type NetworkRunOptions } from './run.js';
import { isIpv4 } from './subnet.js';

export const NETWORK_FLAGS: OptionSpecs = {
  rootfs: ROOTFS_FLAGS.rootfs!,
  net: { type: 'string', value: 'bridge|none|host', help: 'bridge (default): eth0 on HULL_BRIDGE with NAT; none: only lo; host: the host\'s network' },
  ip: { type: 'string', value: 'A.B.C.D', help: 'bridge only: this address instead of the first free one in HULL_SUBNET' },
  publish: { type: 'string', multiple: true, value: '[IP:]HOSTPORT:CTRPORT[/tcp|/udp]', help: 'bridge only: forward a host port to the container (repeatable)' },
  hostname: { ...ROOTFS_FLAGS.hostname!, value: 'N' },
};

/** The engine's network settings, kept in config.json's annotations. */
export const NETWORK_ANNOTATIONS = {
  mode: 'org.hull.network.mode',
  ip: 'org.hull.network.ip',
  publish: 'org.hull.network.publish',
} as const;

export interface NetworkRequest {
  net: NetMode;
  ip?: string;
  publish: PortMapping[];
}

/** Chapter 03's spec with a network namespace of its own (bridge, none) or the host's (host). */
export function withNetwork(spec: RuntimeSpec, req: NetworkRequest): RuntimeSpec {
  const out = req.net === 'host' ? spec : withNamespaces(spec, ['network']);
  const annotations: Record<string, string> = { ...spec.annotations, [NETWORK_ANNOTATIONS.mode]: req.net };
  if (req.ip !== undefined) annotations[NETWORK_ANNOTATIONS.ip] = req.ip;
  if (req.publish.length) annotations[NETWORK_ANNOTATIONS.publish] = req.publish.map(formatPublish).join(',');
  return { ...out, annotations };
}

/** --net, --ip and --publish, checked as usage. */
export function networkFlags(values: OptionValues): NetworkRequest {
  const net = stringOption(values, 'net') ?? 'bridge';
  if (!(NET_MODES as readonly string[]).includes(net)) throw new UsageError(`--net ${JSON.stringify(net)}: must be one of ${NET_MODES.join(', ')}`);
  const ip = stringOption(values, 'ip');
  if (ip !== undefined && !isIpv4(ip)) throw new UsageError(`--ip ${JSON.stringify(ip)}: not an IPv4 address`);
  const publish = ((values.publish as string[] | undefined) ?? []).map((p) => {
    const mapping = parsePublish(p);
    if (!mapping) throw new UsageError(`--publish ${JSON.stringify(p)}: ${publishProblem(p)}`);
    return mapping;
  });
  const conflict = publishConflict(publish);
  if (conflict) throw new UsageError(`--publish: ${conflict}`);
  if (net !== 'bridge' && (ip !== undefined || publish.length > 0)) throw new UsageError(`--ip and --publish need --net bridge, not --net ${net}`);
  return { net: net as NetMode, publish, ...(ip !== undefined ? { ip } : {}) };
}

export function networkSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  // The network flags first: a bad --net is the answer even when --hostname is bad too (as before the spec).
  const req = networkFlags(values);
  return withNetwork(rootfsSpecFromFlags(values, command), req);
}

/** What runWithNetwork needs, read from the spec. */
export function networkOptions(spec: RuntimeSpec): NetworkRunOptions {
  const a = spec.annotations ?? {};
  const mode = a[NETWORK_ANNOTATIONS.mode] ?? 'bridge';
  if (!(NET_MODES as readonly string[]).includes(mode)) throw new Error(`annotation ${NETWORK_ANNOTATIONS.mode}=${JSON.stringify(mode)}: must be one of ${NET_MODES.join(', ')}`);
  const ip = a[NETWORK_ANNOTATIONS.ip];
  const publish = (a[NETWORK_ANNOTATIONS.publish] ?? '').split(',').filter(Boolean).map((p) => {
    const mapping = parsePublish(p);
    if (!mapping) throw new Error(`annotation ${NETWORK_ANNOTATIONS.publish}: ${JSON.stringify(p)}: ${publishProblem(p)}`);
    return mapping;
  });
  return { ...rootfsOptions(spec), net: mode as NetMode, publish, ...(ip !== undefined ? { ip } : {}) };
}
