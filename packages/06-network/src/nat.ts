// NAT for a bridge: one nftables table of our own, named after the bridge, so
// it is created and removed atomically and never touches anyone else's rules.
// And IPv4 forwarding, a host-wide switch we turn on and give back.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';
import { withLock } from '@hull/sys';
import type { Subnet } from './subnet.js';

/**
 * The whole table as one nft script. Loading it is one transaction: the
 * "add, delete, add" idiom replaces a stale table from a crashed run, or
 * creates it, and no packet ever sees half of it.
 *
 * masquerade: a packet from the subnet leaving by any other interface gets
 * the source address of that interface, so the upstream answers the host,
 * and conntrack translates the answer back to the container.
 */
export function natScript(table: string, bridge: string, subnet: Subnet): string {
  return [
    `table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${subnet.cidr} oifname != "${bridge}" masquerade`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

function nft(args: string[], input?: string): void {
  try {
    execFileSync('nft', args, { input: input ?? '', stdio: ['pipe', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new ContainerError('nft: command not found (install the nftables package)');
    const why = (e.stderr ?? '').split('\n').find((l) => l.startsWith('Error:')) ?? e.message.split('\n')[0];
    throw new ContainerError(`nft ${args.join(' ')}: ${why}`);
  }
}

export function addNatTable(table: string, bridge: string, subnet: Subnet): void {
  nft(['-f', '-'], natScript(table, bridge, subnet));
}

/** Remove our table if it exists; never any other. */
export function deleteNatTable(table: string): void {
  // The add-then-delete pair in one transaction succeeds whether or not the table is there.
  nft(['-f', '-'], `table ip ${table}\ndelete table ip ${table}\n`);
}

// ------------------------------------------------------------- ip_forward

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
/**
 * ip_forward is one switch for the whole host, shared by every HULL_ROOT, so
 * its record lives in /run (gone at reboot, as is the sysctl value itself).
 */
const FORWARD_STATE = '/run/hull/ip_forward.before';
const FORWARD_LOCK = '/run/hull/ip_forward.lock';

/** Turn IPv4 forwarding on, remembering what it was the first time we did. */
export function enableForwarding(): void {
  withLock(FORWARD_LOCK, () => {
    const now = readFileSync(IP_FORWARD, 'utf8').trim();
    if (!existsSync(FORWARD_STATE)) writeFileSync(FORWARD_STATE, `${now}\n`);
    if (now !== '1') writeFileSync(IP_FORWARD, '1\n');
  });
}

/**
 * Give forwarding back once no bridge of ours is left on the host (any
 * HULL_ROOT's: they share the switch). If it was on before us, it stays on.
 */
export function restoreForwarding(): void {
  withLock(FORWARD_LOCK, () => {
    if (!existsSync(FORWARD_STATE) || hullBridges().length > 0) return;
    const before = readFileSync(FORWARD_STATE, 'utf8').trim();
    if (before !== '1') writeFileSync(IP_FORWARD, `${before}\n`);
    rmSync(FORWARD_STATE);
  });
}

/** Bridges named with our prefix, from sysfs (a bridge has a `bridge/` directory). */
export function hullBridges(): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith('hull') && existsSync(`/sys/class/net/${n}/bridge`));
}
