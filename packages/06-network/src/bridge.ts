// A bridge network on the host: the bridge, its subnet, address leases, NAT.
//
//   container netns            host
//   eth0 10.77.0.2 ── veth ── hull0a1b2c ─┐
//   eth0 10.77.0.3 ── veth ── hull0d4e5f ─┤ hull0 10.77.0.1/24 ── masquerade ── eth0 ── world
//
// The first container on a bridge creates it (and its nft table); the last
// one to leave removes both. Who is on the bridge is recorded in a lease file
// under a lock; a lease whose owner process is gone is stale, so a crashed run
// is repaired by the next one.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError, randomId } from '@hull/01-uts';
import { procStat, SyscallError, withLock } from '@hull/sys';
import { writeFileAtomic } from './state-file.js';
import { addNatTable, deleteNatTable, enableForwarding, restoreForwarding } from './nat.js';
import { Rtnetlink } from './netlink/socket.js';
import { addressProblem, containerAddresses, gatewayOf, parseSubnet, type Subnet } from './subnet.js';

export const DEFAULT_BRIDGE = 'hull0';
/** Clear of docker (172.17.0.0/16) and podman (10.88.0.0/16). */
export const DEFAULT_SUBNET = '10.77.0.0/24';

export interface BridgeNetwork {
  bridge: string;
  subnet: Subnet;
  /** Where lease files live: $HULL_ROOT/network (default /var/lib/hull/network). */
  stateDir: string;
}

/** An address on a bridge, held by one process. */
export interface Lease {
  network: BridgeNetwork;
  address: string;
  gateway: string;
}

/** Bridge names: our prefix, and short enough to leave room for a random veth suffix within IFNAMSIZ (15). */
export function bridgeNameProblem(name: string): string | null {
  return /^hull[a-z0-9]{1,7}$/.test(name) ? null : `bridge name ${JSON.stringify(name)} must be "hull" followed by 1 to 7 of [a-z0-9]`;
}

/** The bridge network from the environment: HULL_BRIDGE, HULL_SUBNET, HULL_ROOT. */
export function bridgeNetworkFromEnv(env: NodeJS.ProcessEnv = process.env): BridgeNetwork {
  const bridge = env.HULL_BRIDGE || DEFAULT_BRIDGE;
  const problem = bridgeNameProblem(bridge);
  if (problem) throw new ContainerError(`HULL_BRIDGE: ${problem}`);
  let subnet: Subnet;
  try {
    subnet = parseSubnet(env.HULL_SUBNET || DEFAULT_SUBNET);
  } catch (err) {
    throw new ContainerError(`HULL_SUBNET: ${(err as Error).message}`);
  }
  return { bridge, subnet, stateDir: join(env.HULL_ROOT || '/var/lib/hull', 'network') };
}

/** The nft table of a bridge: same name, so parallel bridges never share one. */
export const natTableOf = (network: BridgeNetwork): string => network.bridge;

// ------------------------------------------------------------------ leases

interface Owner {
  pid: number;
  /** /proc/PID/stat field 22: tells a live owner from a new process that reused its pid. */
  start: string;
}

interface LeaseFile {
  subnet: string;
  leases: Record<string, Owner>;
}

/** The start time as the lease file has always held it: a string of digits, null when the process is gone. */
function processStart(pid: number): string | null {
  const stat = procStat(pid);
  return stat ? String(stat.startTime) : null;
}

export function currentOwner(): Owner {
  return { pid: process.pid, start: processStart(process.pid) ?? '' };
}

const isAlive = (o: Owner): boolean => processStart(o.pid) === o.start;

function paths(network: BridgeNetwork): { lock: string; file: string } {
  return { lock: join(network.stateDir, `${network.bridge}.lock`), file: join(network.stateDir, `${network.bridge}.json`) };
}

function readLeases(file: string, subnet: Subnet): LeaseFile {
  if (!existsSync(file)) return { subnet: subnet.cidr, leases: {} };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as LeaseFile;
  // Leases of dead processes are what a crash leaves behind: forget them.
  for (const [address, owner] of Object.entries(parsed.leases)) if (!isAlive(owner)) delete parsed.leases[address];
  return parsed;
}

function writeLeases(file: string, state: LeaseFile): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
}

/**
 * Reserve an address on the bridge (the requested one, or the first free),
 * creating the bridge, its NAT table and forwarding if this is the first
 * container. Throws ContainerError for an address that cannot be had.
 */
export function acquireLease(network: BridgeNetwork, requested?: string, owner: Owner = currentOwner()): Lease {
  const { lock, file } = paths(network);
  return withLock(lock, () => {
    const state = readLeases(file, network.subnet);
    const fresh = Object.keys(state.leases).length === 0;
    if (!fresh && state.subnet !== network.subnet.cidr) {
      throw new ContainerError(`bridge ${network.bridge} is in use with subnet ${state.subnet}, not ${network.subnet.cidr}`);
    }
    const address = pickAddress(network, state, requested);
    if (fresh) checkSubnetIsFree(network);
    try {
      setUpBridge(network, fresh);
      addNatTable(natTableOf(network), network.bridge, network.subnet);
      enableForwarding();
    } catch (err) {
      if (fresh) tearDownBridge(network);
      throw err;
    }
    state.subnet = network.subnet.cidr;
    state.leases[address] = owner;
    writeLeases(file, state);
    return { network, address, gateway: gatewayOf(network.subnet) };
  });
}

function pickAddress(network: BridgeNetwork, state: LeaseFile, requested?: string): string {
  if (requested !== undefined) {
    const problem = addressProblem(network.subnet, requested);
    if (problem) throw new ContainerError(`--ip ${requested}: ${problem}`);
    if (state.leases[requested]) throw new ContainerError(`--ip ${requested}: address already in use on bridge ${network.bridge}`);
    return requested;
  }
  for (const a of containerAddresses(network.subnet)) if (!state.leases[a]) return a;
  throw new ContainerError(`bridge ${network.bridge}: no free address left in ${network.subnet.cidr}`);
}

/** Give the address back; the last one out removes the bridge, the NAT table and (maybe) forwarding. */
export function releaseLease(lease: Lease): void {
  const { network } = lease;
  const { lock, file } = paths(network);
  withLock(lock, () => {
    const state = readLeases(file, network.subnet);
    delete state.leases[lease.address];
    if (Object.keys(state.leases).length > 0) {
      writeLeases(file, state);
      return;
    }
    tearDownBridge(network);
    rmSync(file, { force: true });
  });
}

function tearDownBridge(network: BridgeNetwork): void {
  deleteNatTable(natTableOf(network));
  const nl = Rtnetlink.open();
  try {
    if (nl.hasLink(network.bridge)) nl.deleteLink(network.bridge);
  } finally {
    nl.close();
  }
  restoreForwarding();
}

/**
 * Create the bridge with the gateway address, up. With no live lease, a
 * bridge that exists is a leftover of a crash (maybe with another subnet):
 * start it over.
 */
function setUpBridge(network: BridgeNetwork, fresh: boolean): void {
  const nl = Rtnetlink.open();
  try {
    if (fresh && nl.hasLink(network.bridge)) nl.deleteLink(network.bridge);
    if (!nl.hasLink(network.bridge)) {
      nl.createBridge(network.bridge);
      const index = nl.linkIndex(network.bridge);
      nl.addAddress(index, gatewayOf(network.subnet), network.subnet.prefix);
      nl.setUp(index);
    }
  } finally {
    nl.close();
  }
}

/**
 * Refuse a subnet the host already routes (its LAN, a VPN, docker's bridge):
 * our bridge route would hijack that traffic. /proc/net/route lists the IPv4
 * main table: destination and mask in hex, in the kernel's (little-endian) order.
 */
function checkSubnetIsFree(network: BridgeNetwork): void {
  const lines = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
  for (const line of lines) {
    const [iface, dstHex, , , , , , maskHex] = line.trim().split(/\s+/);
    if (!iface || !dstHex || !maskHex || iface === network.bridge) continue;
    const mask = Buffer.from(maskHex, 'hex').readUInt32LE(0);
    if (mask === 0) continue; // the default route overlaps everything by definition
    const dst = Buffer.from(dstHex, 'hex').readUInt32LE(0);
    const common = Math.min(bitCount(mask), network.subnet.prefix);
    const m = common === 0 ? 0 : (~0 << (32 - common)) >>> 0;
    if (((dst & m) >>> 0) === ((network.subnet.network & m) >>> 0)) {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(dst >>> 0);
      throw new ContainerError(`subnet ${network.subnet.cidr} overlaps the host's route to ${[...bytes].join('.')}/${bitCount(mask)} on ${iface} (set HULL_SUBNET)`);
    }
  }
}

function bitCount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v >>>= 1) c += v & 1;
  return c;
}

// -------------------------------------------------------- wiring a container

/** A host-side veth name: the bridge's name plus random hex, up to IFNAMSIZ-1 = 15 bytes. */
export function vethName(bridge: string): string {
  return bridge + randomId(8).slice(0, 15 - bridge.length);
}

/**
 * Wire process `pid`'s network namespace to the bridge (runs in beforeStart,
 * while the child waits): a veth pair born split between host and container,
 * its host end on the bridge, and inside: lo up, eth0 with the leased address,
 * a default route via the bridge.
 */
export function attachToBridge(lease: Lease, pid: number): void {
  const { bridge, subnet } = lease.network;
  const host = Rtnetlink.open();
  const veth = vethName(bridge);
  try {
    host.createVeth(veth, 'eth0', { pid });
    try {
      const index = host.linkIndex(veth);
      host.setMaster(index, host.linkIndex(bridge));
      host.setUp(index);
      const inside = Rtnetlink.inNetns(pid);
      try {
        inside.setUp(inside.linkIndex('lo'));
        const eth0 = inside.linkIndex('eth0');
        inside.addAddress(eth0, lease.address, subnet.prefix);
        inside.setUp(eth0);
        inside.addDefaultRoute(lease.gateway, eth0);
      } finally {
        inside.close();
      }
    } catch (err) {
      // Deleting one end deletes the pair.
      deleteIfPresent(host, veth);
      throw err;
    }
  } finally {
    host.close();
  }
}

/** A new network namespace starts with lo down: bring it up (all --net none does). */
export function bringUpLoopback(pid: number): void {
  const inside = Rtnetlink.inNetns(pid);
  try {
    inside.setUp(inside.linkIndex('lo'));
  } finally {
    inside.close();
  }
}

function deleteIfPresent(nl: Rtnetlink, name: string): void {
  try {
    nl.deleteLink(name);
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === 'ENODEV')) throw err;
  }
}
