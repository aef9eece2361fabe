// The conversions between hull's models and the OCI runtime spec, in
// process: securityFromSpec (config.json -> the hardening plan),
// specFromContainerConfig (what `hull run` computes -> config.json), and
// defaultSpec (what `hull-runtime spec` writes), the last compared field by
// field with `runc spec`. No root needed; security-spec.test.ts applies a
// converted spec for real.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_SET_KEEPCAPS, RLIM_INFINITY, RLIMIT, type RuntimeSpec, S_IFCHR } from '@hull/sys';
import { randomToken, thrownMessage } from '@hull/testkit';
import { defaultSpec } from '../src/default-spec.js';
import {
  ARCHES,
  applySecurity,
  capabilityMask,
  DEFAULT_DEVICE_RULES,
  deviceRulesFromSpec,
  filterOf,
  MASKED_PATHS,
  planSecurity,
  READONLY_PATHS,
  RecordingSecuritySyscalls,
  runFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  securityFromSpec,
} from '../src/security/index.js';
import { SYSCALLS_X86_64 } from '../src/security/syscall-table.js';
import { specFromContainerConfig, specJson } from '../src/spec-from-config.js';
import { ALL_CAPS, fakeHost } from './security-fixtures.js';
import type { ContainerConfig } from '../src/store.js';

const X64 = ARCHES.x64;
const SYS_RESOURCE = 24n;
const host = fakeHost;

const spec = (process: Partial<NonNullable<RuntimeSpec['process']>> = {}, linux: RuntimeSpec['linux'] = {}): RuntimeSpec => ({
  ociVersion: '1.1.0',
  process: { user: { uid: 0, gid: 0 }, cwd: '/', ...process },
  linux,
});

const errorOf = (f: () => unknown): string => thrownMessage(f, ContainerError);
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const run = (program: ReturnType<typeof filterOf>, nr: number, args: bigint[] = []) => runFilter(program!, { nr, arch: X64.audit, args });

describe('securityFromSpec: capabilities', () => {
  it('takes the five sets by CAP_ name; bounding is the one dropped to, the rest go to capset and ambient', () => {
    const plan = securityFromSpec(
      spec({ capabilities: { bounding: ['CAP_KILL', 'CAP_CHOWN', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] } }),
      host(),
    );
    expect(plan.spec.capabilities).toEqual(['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
    expect(plan.spec.processCapabilities).toEqual({ effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] });
    expect(plan.warnings).toEqual([]);
  });

  it('an unknown name, in any set, is one clear error; a lowercase or prefix-less name is unknown too', () => {
    for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
      const bad = `CAP_NOPE_${randomToken(4).toUpperCase()}`;
      expect(errorOf(() => securityFromSpec(spec({ capabilities: { [set]: [bad] } }), host()))).toBe(
        `config.json: process.capabilities.${set}: unknown capability "${bad}" (names are as in capabilities(7), e.g. CAP_NET_BIND_SERVICE)`,
      );
    }
    expect(errorOf(() => securityFromSpec(spec({ capabilities: { bounding: ['net_admin'] } }), host()))).toMatch(/unknown capability "net_admin"/);
  });

  it('one hull does not have is dropped with a warning (runc does the same); no capabilities object keeps all of ours', () => {
    const plan = securityFromSpec(spec({ capabilities: { bounding: ['CAP_SYS_RESOURCE', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } }), host());
    expect(plan.spec.capabilities).toEqual(['CAP_KILL']);
    expect(plan.warnings).toEqual(['process.capabilities: CAP_SYS_RESOURCE ignored: hull itself does not have it (its bounding set)']);
    const all = securityFromSpec(spec(), host());
    expect(capabilityMask(all.spec.capabilities)).toBe(ALL_CAPS & ~(1n << SYS_RESOURCE));
    expect(all.spec.processCapabilities).toBeUndefined();
  });

  it('the kernel\'s rules are checked on the host: effective within permitted, inheritable within bounding; an ambient one neither permitted nor inheritable is dropped with a warning', () => {
    expect(errorOf(() => securityFromSpec(spec({ capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'] } }), host()))).toMatch(
      /^config\.json: process\.capabilities\.effective: CAP_KILL not in permitted/,
    );
    expect(errorOf(() => securityFromSpec(spec({ capabilities: { inheritable: ['CAP_KILL'] } }), host()))).toMatch(/^config\.json: process\.capabilities\.inheritable: CAP_KILL not in bounding/);
    // runc spec's own shape: ambient listed, inheritable not.
    const plan = securityFromSpec(spec({ capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: ['CAP_KILL'] } }), host());
    expect(plan.spec.processCapabilities?.ambient).toEqual([]);
    expect(plan.warnings).toEqual(['process.capabilities.ambient: CAP_KILL ignored: an ambient capability must also be permitted and inheritable (prctl(2) PR_CAP_AMBIENT_RAISE)']);
  });
});

describe('securityFromSpec: process', () => {
  it('user: uid, gid, additionalGids exactly (no primary gid added), umask', () => {
    const uid = between(1, 60000);
    const groups = [between(1, 60000), between(1, 60000)];
    const plan = securityFromSpec(spec({ user: { uid, gid: uid + 1, additionalGids: groups, umask: 0o027 } }), host());
    expect(plan.spec.user).toEqual({ uid, gid: uid + 1, groups });
    expect(plan.spec.umask).toBe(0o027);
    expect(errorOf(() => securityFromSpec(spec({ user: { uid: -1, gid: 0 } }), host()))).toBe('config.json: process.user.uid: -1 is not a uid');
    expect(errorOf(() => securityFromSpec(spec({ user: { uid: 0, gid: 0, umask: 0o1000 } }), host()))).toMatch(/process\.user\.umask: 512 is not a umask/);
  });

  it('noNewPrivileges: only true sets it; oomScoreAdj within -1000..1000', () => {
    expect(securityFromSpec(spec({ noNewPrivileges: true }), host()).spec.noNewPrivileges).toBe(true);
    expect(securityFromSpec(spec(), host()).spec.noNewPrivileges).toBe(false);
    const oom = between(-1000, 1000);
    expect(securityFromSpec(spec({ oomScoreAdj: oom }), host()).spec.oomScoreAdj).toBe(oom);
    expect(errorOf(() => securityFromSpec(spec({ oomScoreAdj: 1001 }), host()))).toBe('config.json: process.oomScoreAdj: 1001 is not within -1000..1000');
  });

  it('rlimits by RLIMIT_ name, as they are (no nofile default, nothing lowered quietly); 2^64 is unlimited', () => {
    const soft = between(1, 500);
    const plan = securityFromSpec(spec({ rlimits: [{ type: 'RLIMIT_NOFILE', soft, hard: 1000 }, { type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 }] }), host({ rlimit: () => ({ soft: 0n, hard: RLIM_INFINITY }) }));
    expect(plan.spec.rlimits).toEqual([
      { name: 'nofile', resource: RLIMIT.nofile, soft: `${soft}`, hard: '1000' },
      { name: 'core', resource: RLIMIT.core, soft: `${RLIM_INFINITY}`, hard: `${RLIM_INFINITY}` },
    ]);
    expect(securityFromSpec(spec(), host()).spec.rlimits).toEqual([]);
    expect(errorOf(() => securityFromSpec(spec({ rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }] }), host()))).toMatch(/^config\.json: process\.rlimits\[0\]: unknown type "RLIMIT_BOGUS"/);
    expect(errorOf(() => securityFromSpec(spec({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 9, hard: 8 }] }), host()))).toMatch(/soft limit 9 is above the hard limit 8/);
    expect(errorOf(() => securityFromSpec(spec({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 30000 }] }), host()))).toMatch(
      /^config\.json: process\.rlimits\[0\]: RLIMIT_NOFILE: hard limit 30000 is above hull's own \(20000\), and raising it needs CAP_SYS_RESOURCE/,
    );
    expect(errorOf(() => securityFromSpec(spec({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }] }), host()))).toMatch(/given twice/);
  });
});

describe('securityFromSpec: seccomp', () => {
  const nr = SYSCALLS_X86_64;

  it('no seccomp object, no filter (runc\'s rule)', () => {
    expect(securityFromSpec(spec(), host()).spec.seccomp).toBeNull();
  });

  it('compiles defaultAction, defaultErrnoRet and rules with errnoRet and args through the existing compiler', () => {
    const errno = between(1000, 4000);
    const defaultErrno = between(100, 900);
    const marker = between(1, 0x7fffffff);
    const plan = securityFromSpec(
      spec({}, {
        seccomp: {
          defaultAction: 'SCMP_ACT_ERRNO',
          defaultErrnoRet: defaultErrno,
          architectures: ['SCMP_ARCH_X86_64'],
          syscalls: [
            { names: ['read', 'write', 'execve'], action: 'SCMP_ACT_ALLOW' },
            { names: ['getpriority'], action: 'SCMP_ACT_ERRNO', errnoRet: errno },
            { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: marker, op: 'SCMP_CMP_EQ' }] },
            // ERRNO without errnoRet is EPERM (runc), not defaultErrnoRet.
            { names: ['getppid'], action: 'SCMP_ACT_ERRNO' },
          ],
        },
      }),
      host(),
    );
    const p = filterOf(plan.spec);
    expect(run(p, nr.read!)).toBe(SECCOMP_RET_ALLOW);
    expect(run(p, nr.getpriority!)).toBe((SECCOMP_RET_ERRNO | errno) >>> 0);
    expect(run(p, nr.kill!, [1n, BigInt(marker)])).toBe(SECCOMP_RET_ALLOW);
    expect(run(p, nr.kill!, [1n, BigInt(marker + 1)])).toBe((SECCOMP_RET_ERRNO | defaultErrno) >>> 0);
    expect(run(p, nr.getppid!)).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
    expect(run(p, nr.mount!)).toBe((SECCOMP_RET_ERRNO | defaultErrno) >>> 0);
  });

  it('two conditions on one argument are two rules (an OR), as runc reads them', () => {
    const plan = securityFromSpec(
      spec({}, { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 77, args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }, { index: 0, value: 9, op: 'SCMP_CMP_EQ' }] }] } }),
      host(),
    );
    const p = filterOf(plan.spec);
    expect([5n, 9n, 7n].map((a) => run(p, nr.personality!, [a]))).toEqual([(SECCOMP_RET_ERRNO | 77) >>> 0, (SECCOMP_RET_ERRNO | 77) >>> 0, SECCOMP_RET_ALLOW]);
  });

  it('flags: TSYNC changes nothing, LOG and SPEC_ALLOW reach seccomp(2); an unknown one, a listener, NOTIFY or a stray errnoRet is refused', () => {
    const s = (seccomp: NonNullable<RuntimeSpec['linux']>['seccomp']) => securityFromSpec(spec({}, { seccomp }), host());
    expect(s({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC'] }).spec.seccompFlags).toBeUndefined();
    expect(s({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }).spec.seccompFlags).toBe(2 | 4);
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }))).toMatch(/^config\.json: linux\.seccomp\.flags: seccomp flag "SECCOMP_FILTER_FLAG_NEW_LISTENER" is not known to hull/);
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' }))).toMatch(/listenerPath: a seccomp agent/);
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_NOTIFY' }))).toBe('config.json: linux.seccomp: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent, which hull does not have');
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] }))).toMatch(/syscalls\[0\]\.errnoRet: SCMP_ACT_KILL takes no errno/);
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }))).toMatch(/unknown architecture "SCMP_ARCH_Z80"/);
    expect(errorOf(() => s({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }))).toBe('config.json: linux.seccomp: it blocks execve, so the container\'s command could never start');
  });
});

describe('securityFromSpec: paths and devices', () => {
  it('masked and read-only paths as listed; none when absent', () => {
    const masked = [`/proc/${randomToken(5)}`];
    const plan = securityFromSpec(spec({}, { maskedPaths: masked, readonlyPaths: ['/proc/sys'] }), host());
    expect([plan.spec.maskedPaths, plan.spec.readonlyPaths]).toEqual([masked, ['/proc/sys']]);
    expect(securityFromSpec(spec(), host()).spec.maskedPaths).toEqual([]);
    expect(errorOf(() => securityFromSpec(spec({}, { maskedPaths: ['proc/kcore'] }), host()))).toBe('config.json: linux.maskedPaths: must be a list of absolute paths');
  });

  it("runc spec's deny-all plus runc's defaults is docker's allow list less /dev/console", () => {
    const rules = deviceRulesFromSpec([{ allow: false, access: 'rwm' }]);
    expect(rules).toEqual(['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:2 rwm']);
    expect(new Set(DEFAULT_DEVICE_RULES)).toEqual(new Set([...rules!, 'c 5:1 rwm']));
    const plan = securityFromSpec(spec({}, { resources: { devices: [{ allow: false, access: 'rwm' }] } }), host());
    expect(plan.deviceCgroup).toEqual({ mountPoint: '/sys/fs/cgroup/devices', rules });
    expect(plan.deviceProgram).toEqual(rules);
  });

  it('in order, the last match wins: an allow adds, a deny takes away its exact rule, "a" starts over', () => {
    const major = between(200, 250);
    expect(deviceRulesFromSpec([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major, minor: 1, access: 'rw' }, { allow: false, type: 'c', major, minor: 1, access: 'w' }])).toContain(`c ${major}:1 r`);
    expect(deviceRulesFromSpec([{ allow: true, type: 'c', major, minor: -1, access: 'r' }])).toContain(`c ${major}:* r`);
    expect(deviceRulesFromSpec([{ allow: true, type: 'b', major, minor: 0, access: 'rwm' }, { allow: false, access: 'rwm' }])!.some((r) => r.startsWith(`b ${major}:`))).toBe(false);
    // A list that ends allowing everything: no restriction (podman --privileged sends it).
    expect(deviceRulesFromSpec([{ allow: true, access: 'rwm' }])).toBeNull();
    expect(securityFromSpec(spec({}, { resources: { devices: [{ allow: true, access: 'rwm' }] } }), host({ devices: { v1: null, program: false } })).deviceProgram).toBeNull();
    expect(errorOf(() => deviceRulesFromSpec([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', major: 8, minor: 0, access: 'rwm' }]))).toMatch(/allowing every device except b 8:0 cannot be enforced/);
    expect(errorOf(() => deviceRulesFromSpec([{ allow: true, type: 'c', major: 1, minor: 3, access: '' }]))).toMatch(/access: "": expected some of "rwm"/);
    expect(errorOf(() => securityFromSpec(spec(), host({ devices: { v1: null, program: false } })))).toMatch(/^config\.json: linux\.resources\.devices: no device allow list on this host/);
  });

  it('linux.devices become nodes to make; a node at a default\'s path replaces that default\'s rule (runc)', () => {
    const uid = between(1, 60000);
    const plan = securityFromSpec(spec({}, { devices: [{ type: 'u', path: '/dev/null', major: 1, minor: 3, uid, gid: uid, fileMode: 0o20640 }, { type: 'p', path: '/dev/fifo' }] }), host());
    expect(plan.spec.devices).toEqual([
      { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o640, uid, gid: uid },
      { path: '/dev/fifo', type: 'p', major: 0, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    expect(plan.deviceProgram).not.toContain('c 1:3 rwm');
    expect(errorOf(() => securityFromSpec(spec({}, { devices: [{ type: 'c', path: '/dev/../etc/x', major: 1, minor: 3 }] }), host()))).toMatch(/^config\.json: linux\.devices\[0\]\.path: "\/dev\/\.\.\/etc\/x": must be an absolute path/);
    expect(errorOf(() => securityFromSpec(spec({}, { devices: [{ type: 'b', path: '/dev/sda' }] }), host()))).toBe('config.json: linux.devices[0]: /dev/sda: a block device needs major and minor numbers');
  });
});

describe('applySecurity with a converted spec', () => {
  it('makes the nodes and sets oom_score_adj first, keeps caps across the user switch, umask after it, raises ambient, seccomp last with its flags', () => {
    const uid = between(1000, 60000);
    const oom = between(1, 999);
    const plan = securityFromSpec(
      spec(
        {
          user: { uid, gid: uid, umask: 0o077 },
          oomScoreAdj: oom,
          noNewPrivileges: true,
          capabilities: { bounding: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] },
        },
        { devices: [{ type: 'c', path: '/dev/sub/x', major: 1, minor: 3 }], seccomp: { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] } },
      ),
      host(),
    );
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, plan.spec);
    const kinds = sys.calls.map((c) => (c.call === 'prctl' ? `prctl:${c.args[0]}:${c.args[1]}` : c.call));
    expect(kinds.slice(0, 5)).toEqual(['mkdir', 'mknod', 'lchown', 'chmod', 'setOomScoreAdj']);
    expect(sys.calls[1]).toEqual({ call: 'mknod', args: ['/dev/sub/x', S_IFCHR | 0o666, 259] });
    const keep = kinds.indexOf(`prctl:${PR_SET_KEEPCAPS}:1`);
    expect(kinds.slice(keep, keep + 6)).toEqual([`prctl:${PR_SET_KEEPCAPS}:1`, 'setgroups', 'setresgid', 'setresuid', `prctl:${PR_SET_KEEPCAPS}:0`, 'umask']);
    const mask = capabilityMask(['CAP_NET_BIND_SERVICE']);
    expect(sys.calls.find((c) => c.call === 'capset')?.args[0]).toEqual({ effective: mask, permitted: mask, inheritable: mask });
    expect(sys.calls.at(-2)).toEqual({ call: 'prctl', args: [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 10] });
    expect(sys.calls.at(-1)?.call).toBe('seccomp');
    expect(sys.calls.at(-1)?.args[1]).toBe(2);
  });

  it("hull run's own spec has none of the spec-only fields, so its calls are what they were", () => {
    const ours = planSecurity({}, host()).spec;
    for (const field of ['processCapabilities', 'umask', 'oomScoreAdj', 'seccompFlags', 'devices'] as const) expect(ours[field]).toBeUndefined();
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, { ...ours, user: { uid: 5, gid: 5, groups: [5] } });
    expect(sys.calls.filter((c) => ['mknod', 'umask', 'setOomScoreAdj', 'lchown'].includes(c.call))).toEqual([]);
    expect(sys.calls.filter((c) => c.call === 'prctl' && c.args[0] === PR_SET_KEEPCAPS).map((c) => c.args[1])).toEqual([0]);
    expect(sys.calls.at(-1)?.args).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- the reverse

function containerConfig(over: Partial<ContainerConfig> = {}): ContainerConfig {
  const id = randomToken(64).replace(/[^0-9a-f]/g, 'a').slice(0, 64).padEnd(64, 'a');
  return {
    id,
    name: `c-${randomToken(4)}`,
    image: 'busybox',
    imageId: `sha256:${'0'.repeat(64)}`,
    created: new Date().toISOString(),
    argv: ['sh', '-c', `echo ${randomToken(6)}`],
    env: ['PATH=/bin', `MARK=${randomToken(6)}`],
    hostname: `h-${randomToken(6)}`,
    workdir: `/w-${randomToken(4)}`,
    user: '',
    autoRemove: true,
    detached: false,
    network: 'none',
    publish: [],
    volumes: [],
    readonly: false,
    userns: 'host',
    tty: false,
    limits: {},
    lowerdirs: [],
    manifest: `sha256:${'1'.repeat(64)}`,
    storageDriver: 'overlay',
    ...over,
  };
}

describe('specFromContainerConfig: what hull run computes, as config.json', () => {
  const root = { uid: 0, gid: 0, groups: [], home: '/root' };

  it('process, root, hostname, namespaces, mounts, resources, masked paths, as hull run has them', () => {
    const pids = between(10, 500);
    const config = containerConfig({ limits: { pidsMax: pids, memoryBytes: 64 << 20, cpus: 0.5 }, tty: true, readonly: true, volumes: [{ source: '/srv/v', named: false, destination: '/data', readonly: true }] });
    const security = planSecurity({}, host());
    const out = specFromContainerConfig({ config, user: root, rootfs: '/var/lib/hull/containers/x/rootfs', security, binds: [{ source: '/run/h/hostname', destination: '/etc/hostname' }, { source: '/srv/v', destination: '/data' }], tmp: true });
    expect(out.ociVersion).toBe('1.1.0');
    expect(out.process).toMatchObject({ terminal: true, user: { uid: 0, gid: 0, additionalGids: [] }, args: config.argv, cwd: config.workdir, noNewPrivileges: true });
    expect(out.process?.env).toEqual(['HOME=/root', ...config.env]);
    expect(out.process?.capabilities).toEqual({ bounding: security.spec.capabilities, effective: security.spec.capabilities, permitted: security.spec.capabilities, inheritable: [], ambient: [] });
    expect(out.process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    expect(out.root).toEqual({ path: '/var/lib/hull/containers/x/rootfs', readonly: true });
    expect(out.hostname).toBe(config.hostname);
    expect(out.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'mount', 'uts', 'ipc', 'network']);
    expect(out.mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/tmp', '/etc/hostname', '/data']);
    expect(out.mounts?.at(-1)).toEqual({ destination: '/data', type: 'bind', source: '/srv/v', options: ['bind', 'rprivate', 'ro'] });
    expect(out.linux?.resources).toMatchObject({ pids: { limit: pids }, memory: { limit: 64 << 20, swap: 64 << 20 }, cpu: { quota: 50000, period: 100000 } });
    expect(out.linux?.cgroupsPath).toBe(`/hull/${config.id}`);
    expect(out.linux?.maskedPaths).toEqual([...MASKED_PATHS]);
    expect(out.linux?.readonlyPaths).toEqual([...READONLY_PATHS]);
  });

  it('round trip: read back by securityFromSpec, the same layers come out (capabilities, rlimits, no_new_privs, paths, devices, the filter\'s decisions)', () => {
    const user = { uid: between(1000, 60000), gid: between(1000, 60000), groups: [between(1, 999)], home: '/home/u' };
    const config = containerConfig({ user: `${user.uid}`, security: { capDrop: ['CHOWN'], ulimit: ['nproc=100:200'] } });
    const h = host();
    const security = planSecurity({ ...config.security, user: { uid: user.uid, gid: user.gid, groups: user.groups } }, h);
    const back = securityFromSpec(specFromContainerConfig({ config, user, rootfs: '/r', security, arch: 'x64', kernel: '6.1.0' }), h);
    expect(back.spec.capabilities).toEqual(security.spec.capabilities);
    expect(back.spec.user).toEqual(security.spec.user);
    expect(back.spec.rlimits).toEqual(security.spec.rlimits);
    expect([back.spec.noNewPrivileges, back.spec.maskedPaths, back.spec.readonlyPaths]).toEqual([security.spec.noNewPrivileges, security.spec.maskedPaths, security.spec.readonlyPaths]);
    expect(back.deviceProgram).toEqual(security.deviceProgram);
    expect(back.warnings).toEqual([]);
    // The non-root user: no capabilities after the switch, either way.
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, back.spec);
    expect(sys.calls.find((c) => c.call === 'capset')?.args[0]).toEqual({ effective: 0n, permitted: 0n, inheritable: 0n });
    // The same decision for every syscall number and a few socket families, 64-bit ones included.
    const a = filterOf(security.spec)!;
    const b = filterOf(back.spec)!;
    for (let nr = 0; nr < 460; nr++) expect([nr, run(b, nr)]).toEqual([nr, run(a, nr)]);
    for (const family of [0n, 1n, 2n, 10n, 16n, 37n, 38n, 39n, 40n, 41n, 45n, 0xffffffffn, 0x1_00000028n, 0x1_00000026n, 0xffff_ffff_ffff_ffffn]) {
      expect([family, run(b, SYSCALLS_X86_64.socket!, [family])]).toEqual([family, run(a, SYSCALLS_X86_64.socket!, [family])]);
    }
    for (const flags of [0n, 0x10000000n, 0x00011200n]) expect(run(b, SYSCALLS_X86_64.clone!, [flags])).toBe(run(a, SYSCALLS_X86_64.clone!, [flags]));
  });

  it('the default profile\'s socket range is written as a guard then an allow: two conditions on one argument would be an OR in a spec', () => {
    const config = containerConfig();
    const out = specFromContainerConfig({ config, user: root, rootfs: '/r', security: planSecurity({}, host()), arch: 'x64', kernel: '6.1.0' });
    const socket = out.linux?.seccomp?.syscalls?.filter((r) => r.names.includes('socket'));
    expect(socket?.slice(-2)).toEqual([
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_GT' }] },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }] },
    ]);
    for (const rule of out.linux?.seccomp?.syscalls ?? []) expect(new Set((rule.args ?? []).map((x) => x.index)).size).toBe((rule.args ?? []).length);
  });

  it('--privileged: every device, no filter; --network host: no network namespace; --userns remap: the maps', () => {
    const config = containerConfig({ network: 'host', userns: 'remap', security: { privileged: true } });
    const out = specFromContainerConfig({ config, user: root, rootfs: '/r', security: planSecurity({ privileged: true }, host()), userns: { uidMap: [{ containerId: 0, hostId: 100000, size: 65536 }], gidMap: [{ containerId: 0, hostId: 100000, size: 65536 }] } });
    expect(out.linux?.seccomp).toBeUndefined();
    expect(out.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(out.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'mount', 'uts', 'ipc', 'user']);
    expect(out.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    const bridged = specFromContainerConfig({ config: containerConfig({ network: 'bridge' }), user: root, rootfs: '/r', security: planSecurity({}, host()), netns: '/proc/1234/ns/net' });
    expect(bridged.linux?.namespaces).toContainEqual({ type: 'network', path: '/proc/1234/ns/net' });
  });

  it('specJson writes RLIM_INFINITY as the exact integer Go reads as a uint64', () => {
    const out = specFromContainerConfig({ config: containerConfig(), user: root, rootfs: '/r', security: planSecurity({ ulimit: ['core=-1'] }, host({ rlimit: () => ({ soft: RLIM_INFINITY, hard: RLIM_INFINITY }) })) });
    const text = specJson(out);
    expect(text).toContain('"soft": 18446744073709551615');
    expect(text).not.toContain('18446744073709552000');
    expect(securityFromSpec(JSON.parse(text) as RuntimeSpec, host({ rlimit: () => ({ soft: RLIM_INFINITY, hard: RLIM_INFINITY }) })).spec.rlimits.find((r) => r.name === 'core')?.hard).toBe(`${RLIM_INFINITY}`);
  });
});

// ---------------------------------------------------------------- defaultSpec

describe('defaultSpec: what hull-runtime spec writes', () => {
  it('is runc spec\'s template, field by field, except where hull says why (src/default-spec.ts)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hull-runcspec-'));
    let runc: RuntimeSpec;
    try {
      execFileSync('runc', ['spec'], { cwd: dir });
      runc = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeSpec;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const ours = defaultSpec();
    expect(ours.ociVersion).toBe('1.1.0');
    expect(runc.ociVersion).toMatch(/^1\.\d+\.\d+/);
    expect(ours.hostname).toBe('hull');
    expect(runc.hostname).toBe('runc');
    expect(ours.root).toEqual(runc.root);
    expect(ours.mounts).toEqual(runc.mounts);
    const { capabilities: ourCaps, ...ourProcess } = ours.process!;
    const { capabilities: runcCaps, ...runcProcess } = runc.process!;
    expect(ourProcess).toEqual(runcProcess);
    expect(ourCaps).toEqual({ bounding: runcCaps?.bounding, effective: runcCaps?.effective, permitted: runcCaps?.permitted });
    // runc's ambient set, with no inheritable one, is one the kernel would refuse to raise.
    expect(runcCaps?.ambient).toEqual(runcCaps?.bounding);
    expect(runcCaps?.inheritable).toBeUndefined();
    const { namespaces: ourNs, maskedPaths: ourMasked, ...ourLinux } = ours.linux!;
    const { namespaces: runcNs, maskedPaths: runcMasked, ...runcLinux } = runc.linux!;
    expect(ourLinux).toEqual(runcLinux);
    expect(ourNs).toEqual([...runcNs!, ...(runcNs!.some((n) => n.type === 'cgroup') ? [] : [{ type: 'cgroup' }])]);
    expect(new Set(ourMasked)).toEqual(new Set([...runcMasked!, '/sys/devices/virtual/powercap']));
    // And it is a spec hull's own conversion takes as it is: the default devices, three capabilities, nofile.
    const plan = securityFromSpec(ours, host());
    expect(plan.spec.capabilities).toEqual(['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE']);
    expect(plan.warnings).toEqual([]);
    expect(plan.spec.rlimits).toEqual([{ name: 'nofile', resource: RLIMIT.nofile, soft: '1024', hard: '1024' }]);
  });

  it('--rootless: a user namespace mapping root to the caller, no network namespace, no device cgroup, sysfs bound', () => {
    const uid = between(1000, 60000);
    const ours = defaultSpec({ rootless: true, uid, gid: uid + 1 });
    expect(ours.linux?.uidMappings).toEqual([{ containerID: 0, hostID: uid, size: 1 }]);
    expect(ours.linux?.gidMappings).toEqual([{ containerID: 0, hostID: uid + 1, size: 1 }]);
    expect(ours.linux?.namespaces?.map((n) => n.type)).not.toContain('network');
    expect(ours.linux?.namespaces?.map((n) => n.type)).toContain('user');
    expect(ours.linux?.resources).toBeUndefined();
    expect(ours.mounts?.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  });
});
