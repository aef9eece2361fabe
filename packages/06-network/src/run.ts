// Host side of chapter 06: chapter 03's rootfs container, plus a network.
//   bridge  new netns, veth on our bridge, NAT, published ports
//   none    new netns with only lo
//   host    no new netns: the host's own interfaces
import { ContainerError, randomId } from '@hull/01-uts';
import { checkRootfs, runInRootfs, type RootfsRunOptions } from '@hull/03-chroot-proc';
import { acquireLease, attachToBridge, bridgeNetworkFromEnv, bringUpLoopback, type BridgeNetwork, releaseLease } from './bridge.js';
import { hostResolvConf, hostsFile } from './dns.js';
import { listenPublished, type PortMapping, type Proxy } from './publish.js';

export const NET_MODES = ['bridge', 'none', 'host'] as const;
export type NetMode = (typeof NET_MODES)[number];

export interface NetworkRunOptions extends RootfsRunOptions {
  net: NetMode;
  /** bridge only: this address instead of the first free one */
  ip?: string;
  /** bridge only: host ports forwarded to the container */
  publish?: PortMapping[];
  /** bridge only: which bridge and subnet; defaults to HULL_BRIDGE / HULL_SUBNET / HULL_ROOT */
  network?: BridgeNetwork;
}

/** Run a rootfs container with the network asked for; resolves to its exit code. */
export async function runWithNetwork(opts: NetworkRunOptions): Promise<number> {
  const { net, ip, publish = [], network, ...rootfsOpts } = opts;
  if (net !== 'bridge' && (ip !== undefined || publish.length > 0)) {
    throw new ContainerError(`--ip and --publish need --net bridge, not --net ${net}`);
  }
  if (net === 'host') return runInRootfs(rootfsOpts);
  const namespaces = [...(opts.namespaces ?? []), 'net' as const];
  if (net === 'none') {
    return runInRootfs({
      ...rootfsOpts,
      namespaces,
      beforeStart: async (pid) => {
        bringUpLoopback(pid);
        await opts.beforeStart?.(pid);
      },
    });
  }

  // bridge: fail on a bad rootfs before touching the host's network.
  checkRootfs(opts.rootfs);
  const hostname = opts.hostname ?? randomId();
  const lease = acquireLease(network ?? bridgeNetworkFromEnv(), ip);
  const proxies: Proxy[] = [];
  try {
    for (const mapping of publish) proxies.push(await listenPublished(mapping, lease.address));
    return await runInRootfs({
      ...rootfsOpts,
      hostname,
      namespaces,
      etc: { hosts: hostsFile(hostname, lease.address), 'resolv.conf': hostResolvConf(), ...opts.etc },
      beforeStart: async (pid) => {
        attachToBridge(lease, pid);
        await opts.beforeStart?.(pid);
      },
    });
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    releaseLease(lease);
  }
}
