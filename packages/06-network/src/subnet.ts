// IPv4 subnets as numbers: the bridge takes .1, containers take .2 upwards.
import { ipv4Bytes } from './netlink/message.js';

export interface Subnet {
  /** e.g. "10.77.0.0/24" */
  cidr: string;
  network: number;
  prefix: number;
}

export function ipv4ToNumber(address: string): number {
  return ipv4Bytes(address).readUInt32BE(0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

export function isIpv4(address: string): boolean {
  try {
    ipv4Bytes(address);
    return true;
  } catch {
    return false;
  }
}

/** Parse "A.B.C.D/N". The prefix must leave room for a gateway and containers (8..30). */
export function parseSubnet(cidr: string): Subnet {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m || !isIpv4(m[1]!)) throw new TypeError(`subnet ${JSON.stringify(cidr)} is not of the form A.B.C.D/N`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new TypeError(`subnet ${cidr}: the prefix length must be between 8 and 30`);
  const address = ipv4ToNumber(m[1]!);
  const network = (address & mask(prefix)) >>> 0;
  if (network !== address) throw new TypeError(`subnet ${cidr}: host bits are set (did you mean ${numberToIpv4(network)}/${prefix}?)`);
  return { cidr, network, prefix };
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

export function contains(subnet: Subnet, address: string): boolean {
  return ((ipv4ToNumber(address) & mask(subnet.prefix)) >>> 0) === subnet.network;
}

/** The bridge's own address, the containers' default gateway: the first host address. */
export function gatewayOf(subnet: Subnet): string {
  return numberToIpv4(subnet.network + 1);
}

export function broadcastOf(subnet: Subnet): string {
  return numberToIpv4(subnet.network + 2 ** (32 - subnet.prefix) - 1);
}

/** Every address a container may get, in order: .2 up to the one before broadcast. */
export function* containerAddresses(subnet: Subnet): Generator<string> {
  const last = subnet.network + 2 ** (32 - subnet.prefix) - 2;
  for (let n = subnet.network + 2; n <= last; n++) yield numberToIpv4(n);
}

/** Why `address` cannot be a container's address in `subnet`, or null if it can. */
export function addressProblem(subnet: Subnet, address: string): string | null {
  if (!isIpv4(address)) return `${JSON.stringify(address)} is not an IPv4 address`;
  if (!contains(subnet, address)) return `${address} is outside the subnet ${subnet.cidr}`;
  if (address === numberToIpv4(subnet.network)) return `${address} is the subnet's network address`;
  if (address === gatewayOf(subnet)) return `${address} is the bridge's own address (the gateway)`;
  if (address === broadcastOf(subnet)) return `${address} is the subnet's broadcast address`;
  return null;
}
