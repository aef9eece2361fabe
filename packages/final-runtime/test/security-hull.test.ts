// The hardening layers through the real `hull run`: the flags end to end,
// on an image pulled from the test registry. The escapes themselves are
// covered in security.test.ts; here each flag must reach the container.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot } from '@hull/testkit';
import { statusMask } from '../src/security/capabilities.js';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

const DEFAULT_MASK = 0xa80425fbn;

describe.skipIf(!requireRoot('final-runtime security flags'))('hull run: hardened by default, docker\'s flags to relax it', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] });
  });

  afterAll(() => {
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  const status = 'cat /proc/self/status';

  it('root gets docker\'s 14 capabilities, no_new_privs, seccomp, masked /proc, a devices cgroup', async () => {
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', `${status}; unshare -U true; echo userns=$?; wc -c < /proc/timer_list; grep devices /proc/self/cgroup`]);
    expect(r.code).toBe(0);
    for (const set of ['CapPrm', 'CapEff', 'CapBnd'] as const) expect(statusMask(r.stdout, set)).toBe(DEFAULT_MASK);
    expect(statusMask(r.stdout, 'CapInh')).toBe(0n);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toContain('userns=1\n0\n');
    expect(r.stdout).toMatch(/devices:\/hull\/[0-9a-f]{64}$/m);
  });

  it('-u 1000 ends with no capabilities', async () => {
    const r = await root.hull(['run', '--rm', '-u', '1000', image, 'sh', '-c', status]);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'] as const) expect(statusMask(r.stdout, set)).toBe(0n);
    expect(statusMask(r.stdout, 'CapBnd')).toBe(DEFAULT_MASK);
  });

  it('--cap-drop ALL --cap-add, --security-opt, --ulimit reach the container', async () => {
    const soft = 100 + Math.floor(Math.random() * 400);
    const r = await root.hull([
      'run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'kill', '--security-opt', 'no-new-privileges=false', '--security-opt', 'seccomp=unconfined',
      '--security-opt', 'systempaths=unconfined', '--ulimit', `nofile=${soft}:${soft + 1}`,
      image, 'sh', '-c', `${status}; unshare -U true; echo userns=$?; wc -c < /proc/timer_list; ulimit -Sn; ulimit -Hn`,
    ]);
    expect(r.code).toBe(0);
    expect(statusMask(r.stdout, 'CapEff')).toBe(1n << 5n);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+0$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+0$/m);
    const tail = r.stdout.trim().split('\n').slice(-4);
    expect(tail[0]).toBe('userns=0');
    expect(Number(tail[1])).toBeGreaterThan(0);
    expect(tail.slice(2)).toEqual([`${soft}`, `${soft + 1}`]);
  });

  it('--privileged: every capability hull has, mount works, no devices cgroup', async () => {
    const own = statusMask(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
    const dir = `/tmp/m-${randomToken(6)}`;
    const r = await root.hull(['run', '--rm', '--privileged', image, 'sh', '-c', `${status}; mkdir -p ${dir}; mount -t tmpfs none ${dir}; echo mount=$?; grep -c devices:/hull /proc/self/cgroup`]);
    expect(statusMask(r.stdout, 'CapEff')).toBe(own);
    expect(r.stdout).toContain('mount=0\n0\n');
  });

  it('a bad flag is one line, exit 125, and no container is created', async () => {
    const cases: [string[], string][] = [
      [['--cap-add', 'bogus'], 'hull: --cap-add bogus: unknown capability (see capabilities(7), e.g. NET_ADMIN or CAP_SYS_PTRACE)'],
      [['--security-opt', 'seccomp=/nonexistent.json'], 'hull: seccomp profile /nonexistent.json: no such file'],
      [['--ulimit', 'nofile=9:3'], 'hull: --ulimit nofile=9:3: the soft limit 9 is above the hard limit 3'],
    ];
    for (const [flags, line] of cases) {
      const r = await root.hull(['run', '--rm', ...flags, image, 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([line]);
      expect(root.containers()).toEqual([]);
    }
  });
});
