// ip_forward is one switch for the whole host: the first bridge of ours turns
// it on and records what it was (/run/hull/ip_forward.before), the last one
// gives that back (src/nat.ts). On the shared host another suite's bridge can
// exist at any moment, and then "given back" cannot be observed. So the step
// runs here in a network and mount namespace of its own: its own switch, its
// own /run/hull, and a sysfs that lists its own links (06 counts bridges in
// /sys/class/net). Nobody else's bridge can be there, and every assertion
// holds unconditionally.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { busyboxRootfs, randomToken, repoRoot, requireRoot, stepCommand } from '@hull/testkit';

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * In fresh namespaces: set the switch to `initial`, run one container on a
 * bridge (sleeping until we saw the switch on), and report the switch while it
 * ran, after it, and whether the record was left.
 */
function runIsolated(initial: '0' | '1'): { during: string; after: string; record: string } {
  const rootfs = busyboxRootfs();
  const bridge = `hull${randomToken(6)}`;
  const root = `/run/hull/root-${randomToken(6)}`;
  const [cmd, args] = stepCommand('06-network', ['--rootfs', rootfs, '--', 'sleep', '2']);
  const script = [
    'set -e',
    // A sysfs mounted here shows this netns's links; bind its two net directories over the host's.
    'sys=$(mktemp -d) && mount -t sysfs sysfs "$sys"',
    'mount --bind "$sys/class/net" /sys/class/net && mount --bind "$sys/devices/virtual/net" /sys/devices/virtual/net',
    'mkdir -p /run/hull && mount -t tmpfs tmpfs /run/hull',
    'ip link set lo up',
    `echo ${initial} > /proc/sys/net/ipv4/ip_forward`,
    `HULL_BRIDGE=${bridge} HULL_SUBNET=10.77.${Math.floor(Math.random() * 256)}.0/24 HULL_ROOT=${root} ${[cmd, ...args].map(quote).join(' ')} >/dev/null &`,
    'step=$!',
    'i=0; until [ -e /run/hull/ip_forward.before ] && [ -e /sys/class/net/' + bridge + ' ]; do i=$((i+1)); [ $i -ge 600 ] && exit 9; sleep 0.1; done',
    'echo "during $(cat /proc/sys/net/ipv4/ip_forward)"',
    'wait $step',
    'echo "after $(cat /proc/sys/net/ipv4/ip_forward)"',
    'if [ -e /run/hull/ip_forward.before ]; then echo "record left"; else echo "record gone"; fi',
    'umount "$sys"; rmdir "$sys"',
  ].join('\n');
  const out = execFileSync('unshare', ['--net', '--mount', '--propagation', 'private', '/bin/sh', '-c', script], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  const line = (key: string): string => new RegExp(`^${key} (.*)$`, 'm').exec(out)?.[1] ?? `no "${key}" line in ${JSON.stringify(out)}`;
  return { during: line('during'), after: line('after'), record: line('record') };
}

describe.skipIf(!requireRoot('06-network ip_forward'))('06-network: ip_forward is given back when the last bridge goes', () => {
  it('off before: on while the container runs, off again after, and no record left', () => {
    expect(runIsolated('0')).toEqual({ during: '1', after: '0', record: 'gone' });
  });

  it('on before: stays on after (it was not ours to turn off), and no record left', () => {
    expect(runIsolated('1')).toEqual({ during: '1', after: '1', record: 'gone' });
  });
});
