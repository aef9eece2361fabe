// The hardening layers as pure functions and as an ordered list of calls:
// no root needed. The black-box escapes are in security.test.ts.
import { describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { PR_CAP_AMBIENT, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, RLIM_INFINITY, RLIMIT } from '@hull/sys';
import {
  ARCHES,
  applySecurity,
  CAPABILITIES,
  type Capability,
  capabilityMask,
  capabilityName,
  compileProfile,
  DEFAULT_CAPABILITIES,
  defaultProfile,
  DEFAULT_DEVICE_RULES,
  detectDeviceControl,
  filterOf,
  parseSecurityOpts,
  parseUlimit,
  planRlimits,
  planSecurity,
  RecordingSecuritySyscalls,
  resolveCapabilities,
  runFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  type SecuritySpec,
  validateProfile,
} from '../src/security/index.js';
import { fakeHost } from './security-fixtures.js';

const X64 = ARCHES.x64;
const AUDIT_ARCH_I386 = 0x40000003;

const host = fakeHost;

describe('capabilities: --cap-add / --cap-drop', () => {
  it("defaults to docker's 14, mask 0xa80425fb", () => {
    expect(resolveCapabilities()).toHaveLength(14);
    expect(capabilityMask(resolveCapabilities())).toBe(0xa80425fbn);
  });

  it('accepts names with or without CAP_, in any case', () => {
    for (const n of ['net_admin', 'NET_ADMIN', 'cap_net_admin', 'Cap_Net_Admin']) expect(capabilityName(n)).toBe('CAP_NET_ADMIN');
    expect(capabilityName('all')).toBe('ALL');
  });

  it('refuses an unknown name with one clear error', () => {
    expect(() => resolveCapabilities({ drop: ['sys_bogus'] })).toThrow(new ContainerError('--cap-drop sys_bogus: unknown capability (see capabilities(7), e.g. NET_ADMIN or CAP_SYS_PTRACE)'));
  });

  it('defaults minus drops plus adds; an add wins over a drop of the same name', () => {
    const caps = resolveCapabilities({ add: ['SYS_PTRACE'], drop: ['CHOWN', 'SYS_PTRACE', 'net_raw'] });
    expect(caps).toContain('CAP_SYS_PTRACE');
    expect(caps).not.toContain('CAP_CHOWN');
    expect(caps).not.toContain('CAP_NET_RAW');
    expect(caps).toHaveLength(13);
  });

  it('ALL on either side', () => {
    expect(resolveCapabilities({ drop: ['ALL'], add: ['kill'] })).toEqual(['CAP_KILL']);
    expect(resolveCapabilities({ add: ['ALL'], drop: ['sys_admin'] })).toEqual(CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'));
    expect(resolveCapabilities({ privileged: true, drop: ['ALL'] })).toEqual([...CAPABILITIES]);
  });

  it('cannot grant what hull lacks: named is an error, ALL quietly means all we have', () => {
    expect(() => planSecurity({ capAdd: ['SYS_RESOURCE'] }, host())).toThrow(/--cap-add CAP_SYS_RESOURCE: hull itself does not have this capability/);
    expect(planSecurity({ capAdd: ['ALL'] }, host()).spec.capabilities).not.toContain('CAP_SYS_RESOURCE');
  });
});

describe('the init-side order', () => {
  const spec = (over: Partial<SecuritySpec> = {}): SecuritySpec => ({
    ...planSecurity({}, host()).spec,
    ...over,
  });

  it('paths, rlimits, no_new_privs, bounding set, user, capset, ambient, and seccomp last', () => {
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, spec({ user: { uid: 1000, gid: 1000, groups: [1000] } }));
    const kinds = sys.calls.map((c) => (c.call === 'prctl' ? `prctl:${c.args[0]}` : c.call));
    const first = (k: string) => kinds.indexOf(k);
    const last = (k: string) => kinds.lastIndexOf(k);
    expect(last('mount')).toBeLessThan(first('setrlimit'));
    expect(last('setrlimit')).toBeLessThan(first(`prctl:${PR_SET_NO_NEW_PRIVS}`));
    expect(first(`prctl:${PR_SET_NO_NEW_PRIVS}`)).toBeLessThan(first(`prctl:${PR_CAPBSET_DROP}`));
    // The bounding set needs CAP_SETPCAP: all of it before the uid changes.
    expect(last(`prctl:${PR_CAPBSET_DROP}`)).toBeLessThan(first(`prctl:${PR_SET_KEEPCAPS}`));
    expect(kinds.slice(first(`prctl:${PR_SET_KEEPCAPS}`), first('setresuid') + 1)).toEqual([`prctl:${PR_SET_KEEPCAPS}`, 'setgroups', 'setresgid', 'setresuid']);
    expect(kinds.slice(-3)).toEqual(['capset', `prctl:${PR_CAP_AMBIENT}`, 'seccomp']);
    expect(kinds.filter((k) => k === 'seccomp')).toHaveLength(1);
  });

  it('drops exactly the capabilities outside the set from the bounding set', () => {
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, spec());
    const dropped = sys.calls.flatMap((c) => (c.call === 'prctl' && c.args[0] === PR_CAPBSET_DROP ? [c.args[1]] : []));
    expect(dropped).toHaveLength(41 - 14);
    const kept = DEFAULT_CAPABILITIES.map((c) => CAPABILITIES.indexOf(c));
    expect(dropped.some((n) => kept.includes(n))).toBe(false);
  });

  it('root gets the set in effective and permitted, never inheritable; a user gets nothing', () => {
    const root = new RecordingSecuritySyscalls();
    applySecurity(root, spec());
    expect(root.calls.find((c) => c.call === 'capset')?.args[0]).toEqual({ effective: 0xa80425fbn, permitted: 0xa80425fbn, inheritable: 0n });
    const user = new RecordingSecuritySyscalls();
    applySecurity(user, spec({ user: { uid: 5, gid: 5, groups: [5] } }));
    expect(user.calls.find((c) => c.call === 'capset')?.args[0]).toEqual({ effective: 0n, permitted: 0n, inheritable: 0n });
  });

  it('with no-new-privileges=false the filter goes in while CAP_SYS_ADMIN is still there', () => {
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, planSecurity({ securityOpt: ['no-new-privileges=false'] }, host()).spec);
    const kinds = sys.calls.map((c) => (c.call === 'prctl' ? `prctl:${c.args[0]}` : c.call));
    expect(kinds).not.toContain(`prctl:${PR_SET_NO_NEW_PRIVS}`);
    expect(kinds.indexOf('seccomp')).toBeLessThan(kinds.indexOf(`prctl:${PR_CAPBSET_DROP}`));
  });

  it('masks with /dev/null, read-only by bind + remount', () => {
    const sys = new RecordingSecuritySyscalls();
    applySecurity(sys, spec());
    const mounts = sys.calls.flatMap((c) => (c.call === 'mount' ? [c.args] : []));
    expect(mounts).toContainEqual(['/dev/null', '/proc/kcore', null, 4096, undefined]);
    const sysMounts = mounts.filter((m) => m[1] === '/proc/sys');
    expect(sysMounts.map((m) => m[3])).toEqual([4096 | 16384, 4096 | 32 | 1 | 2 | 4 | 8]);
  });
});

describe('seccomp: compiling profiles to classic BPF', () => {
  const prog = compileProfile(defaultProfile(), { arch: 'x64', capabilities: [...DEFAULT_CAPABILITIES] });
  const decide = (name: string, args: bigint[] = [], arch = X64.audit) => runFilter(prog, { nr: X64.table[name]!, arch, args }) >>> 0;
  const EPERM = (SECCOMP_RET_ERRNO | 1) >>> 0;

  it('denies the dangerous syscalls with EPERM and allows the rest', () => {
    for (const n of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'mount', 'umount2', 'pivot_root', 'setns', 'bpf', 'perf_event_open', 'userfaultfd', 'open_by_handle_at', 'init_module', 'finit_module', 'delete_module', 'swapon', 'reboot', 'settimeofday', 'clock_settime', 'acct', 'iopl', 'ioperm'])
      expect(decide(n), n).toBe(EPERM);
    for (const n of ['read', 'write', 'execve', 'openat', 'ptrace', 'capset', 'setresuid', 'prctl', 'seccomp']) expect(decide(n), n).toBe(SECCOMP_RET_ALLOW);
  });

  it('checks clone and unshare flags; clone3 gets ENOSYS so libc falls back to clone', () => {
    const THREAD = 0x3d0f00n; // what glibc passes for pthread_create
    expect(decide('clone', [THREAD])).toBe(SECCOMP_RET_ALLOW);
    expect(decide('clone', [0x11n])).toBe(SECCOMP_RET_ALLOW); // fork: SIGCHLD
    for (const ns of [0x10000000n, 0x20000n, 0x20000000n, 0x40000000n, 0x4000000n, 0x8000000n, 0x2000000n]) expect(decide('clone', [ns | 0x11n])).toBe(EPERM);
    // docker's allow list has unshare only for CAP_SYS_ADMIN, whatever the flags: even CLONE_FS.
    expect(decide('unshare', [0x200n])).toBe(EPERM);
    expect(decide('unshare', [0x80n])).toBe(EPERM); // CLONE_NEWTIME
    expect(decide('clone3')).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
  });

  it('denies ptrace only on kernels before 4.8, whose tracers could bypass seccomp', () => {
    const old = compileProfile(defaultProfile(), { arch: 'x64', kernel: '4.4.0-210-generic' });
    // kcmp is no longer in this list: docker allows it only with CAP_SYS_PTRACE (security-seccomp-unit.test.ts).
    for (const n of ['ptrace', 'process_vm_readv', 'process_vm_writev']) {
      expect(runFilter(old, { nr: X64.table[n]!, arch: X64.audit }) >>> 0, n).toBe(EPERM);
      expect(decide(n), n).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it('kills another ABI (i386 via int 0x80) and refuses x32 numbers', () => {
    expect(decide('read', [], AUDIT_ARCH_I386)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(runFilter(prog, { nr: 0x40000000 | X64.table.keyctl!, arch: X64.audit }) >>> 0).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
  });

  it('compares 64-bit arguments word by word for every operator', () => {
    const big = 0x1_0000_0005n;
    const cases: [string, number, bigint, boolean][] = [
      ['SCMP_CMP_EQ', 5, 5n, true],
      ['SCMP_CMP_EQ', 5, big, false],
      ['SCMP_CMP_NE', 5, big, true],
      ['SCMP_CMP_NE', 5, 5n, false],
      ['SCMP_CMP_GT', 5, big, true],
      ['SCMP_CMP_GT', 5, 5n, false],
      ['SCMP_CMP_GE', 5, 5n, true],
      ['SCMP_CMP_GE', 6, 5n, false],
      ['SCMP_CMP_LT', 6, 5n, true],
      ['SCMP_CMP_LT', 6, big, false],
      ['SCMP_CMP_LE', 5, 5n, true],
      ['SCMP_CMP_LE', 4, 5n, false],
    ];
    for (const [op, value, arg, matches] of cases) {
      const p = compileProfile(
        validateProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 7, args: [{ index: 2, value, op }] }] }),
        { arch: 'x64' },
      );
      const got = runFilter(p, { nr: X64.table.getpid!, arch: X64.audit, args: [0n, 0n, arg] }) >>> 0;
      expect(got, `${op} ${value} vs ${arg}`).toBe(matches ? (SECCOMP_RET_ERRNO | 7) >>> 0 : SECCOMP_RET_ALLOW);
    }
  });

  it("reads docker's format: allow list, defaultErrnoRet, includes/excludes by capability and arch", () => {
    const profile = validateProfile({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write', 'execve', 'no_such_syscall_anywhere'], action: 'SCMP_ACT_ALLOW' },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
        { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    });
    const run = (caps: string[], name: string, kernel = '6.1.0') =>
      runFilter(compileProfile(profile, { arch: 'x64', capabilities: caps as Capability[], kernel }), { nr: X64.table[name]!, arch: X64.audit }) >>> 0;
    expect(run([], 'read')).toBe(SECCOMP_RET_ALLOW);
    expect(run([], 'getpid')).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    expect(run(['CAP_SYS_CHROOT'], 'chroot')).toBe(SECCOMP_RET_ALLOW);
    expect(run([], 'chroot')).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    expect(run([], 'arch_prctl')).toBe(SECCOMP_RET_ALLOW);
    expect(run([], 'ptrace', '4.4.0')).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    expect(run([], 'ptrace', '4.8.0')).toBe(SECCOMP_RET_ALLOW);
    expect(run([], 'bpf')).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
    expect(run(['CAP_SYS_ADMIN'], 'bpf')).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
  });

  it('compiles for aarch64 too, where there is no x32 check and the numbers differ', () => {
    const p = compileProfile(defaultProfile(), { arch: 'arm64' });
    const a = ARCHES.arm64;
    expect(runFilter(p, { nr: a.table.keyctl!, arch: a.audit }) >>> 0).toBe(EPERM);
    // 40 is mount on arm64 and sendfile on x86_64: the same number, opposite decisions.
    expect(a.table.mount).toBe(40);
    expect(X64.table.sendfile).toBe(40);
    expect(runFilter(p, { nr: 40, arch: a.audit }) >>> 0).toBe(EPERM);
    expect(runFilter(prog, { nr: 40, arch: X64.audit }) >>> 0).toBe(SECCOMP_RET_ALLOW);
    expect(runFilter(p, { nr: a.table.read!, arch: X64.audit }) >>> 0).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  const decideIn = (filter: ReturnType<typeof compileProfile>, name: string, args: bigint[] = []) => runFilter(filter, { nr: X64.table[name]!, arch: X64.audit, args }) >>> 0;
  it('the seccomp capability groups are compiled from the set after --cap-add/--cap-drop', () => {
    const filter = (flags: Parameters<typeof planSecurity>[0]) => filterOf(planSecurity(flags, host({ kernel: '6.18.0' })).spec)!;
    expect(decideIn(filter({}), 'kcmp')).toBe(EPERM);
    expect(decideIn(filter({ capAdd: ['SYS_PTRACE'] }), 'kcmp')).toBe(SECCOMP_RET_ALLOW);
    expect(decideIn(filter({ capAdd: ['SYS_ADMIN'] }), 'unshare', [0x10000000n])).toBe(SECCOMP_RET_ALLOW);
    expect(decideIn(filter({ capAdd: ['SYS_ADMIN'] }), 'clone3')).toBe(SECCOMP_RET_ALLOW);
    expect(decideIn(filter({ capDrop: ['SYS_CHROOT'] }), 'chroot')).toBe(EPERM);
    expect(decideIn(filter({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }), 'mount')).toBe(EPERM);
  });

  it('refuses malformed profiles with one line naming the place', () => {
    expect(() => validateProfile([], 'p.json')).toThrow('p.json: not a JSON object');
    expect(() => validateProfile({ syscalls: [] }, 'p.json')).toThrow('p.json: missing "defaultAction"');
    expect(() => validateProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] }, 'p.json')).toThrow(
      'p.json: syscalls[0]: "names" must be a non-empty list of syscall names',
    );
    expect(() =>
      validateProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }] }, 'p.json'),
    ).toThrow('p.json: syscalls[0].args[0]: "index" must be 0..5');
    expect(() => validateProfile({ defaultAction: 'SCMP_ACT_NOTIFY' }, 'p.json')).toThrow('p.json: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent, which hull does not have');
  });
});

describe('--security-opt', () => {
  it('parses the forms docker takes', () => {
    expect(parseSecurityOpts([])).toEqual({ noNewPrivileges: true, seccomp: 'default', systemPaths: true });
    expect(parseSecurityOpts(['no-new-privileges=false']).noNewPrivileges).toBe(false);
    expect(parseSecurityOpts(['no-new-privileges:false', 'no-new-privileges']).noNewPrivileges).toBe(true);
    expect(parseSecurityOpts(['seccomp=unconfined']).seccomp).toBe('unconfined');
    expect(parseSecurityOpts(['seccomp=/x/p.json']).seccomp).toBe('/x/p.json');
    expect(parseSecurityOpts(['systempaths=unconfined']).systemPaths).toBe(false);
  });

  it('refuses what it does not know, by name', () => {
    expect(() => parseSecurityOpts(['no-new-privileges=maybe'])).toThrow('--security-opt no-new-privileges=maybe: expected no-new-privileges=true or =false');
    expect(() => parseSecurityOpts(['apparmor=unconfined'])).toThrow('AppArmor are not supported by hull');
    expect(() => parseSecurityOpts(['bogus'])).toThrow('--security-opt bogus: unknown option');
  });

  it('--privileged: every capability we have, no seccomp, no masked paths, no device cgroup', () => {
    const plan = planSecurity({ privileged: true }, host());
    expect(plan.spec.capabilities).toHaveLength(40);
    expect(plan.spec.seccomp).toBeNull();
    expect(plan.spec.maskedPaths).toEqual([]);
    expect(plan.deviceCgroup).toBeNull();
  });

  it('on a pure v2 host the allow list goes into the eBPF program; a hybrid host gets both; CAP_MKNOD stays', () => {
    const v2 = planSecurity({}, host({ devices: { v1: null, program: true } }));
    expect(v2.spec.capabilities).toContain('CAP_MKNOD');
    expect(v2.deviceCgroup).toBeNull();
    expect(v2.deviceProgram).toEqual([...DEFAULT_DEVICE_RULES]);
    expect(v2.warnings).toEqual([]);
    const hybrid = planSecurity({}, host());
    expect(hybrid.deviceCgroup).toEqual({ mountPoint: '/sys/fs/cgroup/devices', rules: [...DEFAULT_DEVICE_RULES] });
    expect(hybrid.deviceProgram).toEqual([...DEFAULT_DEVICE_RULES]);
    expect(planSecurity({ privileged: true }, host()).deviceProgram).toBeNull();
  });

  it('refuses to plan a container with nothing to enforce the allow list (unless --privileged, which has none)', () => {
    const bare = host({ devices: { v1: null, program: false } });
    expect(() => planSecurity({}, bare)).toThrow(/^no device allow list on this host: neither a cgroup v1 devices controller nor a cgroup2 tree/);
    expect(planSecurity({ privileged: true }, bare).deviceProgram).toBeNull();
  });

  it('finds the v1 devices hierarchy and the cgroup2 tree in mountinfo; HULL_DEVICE_CONTROL=program ignores v1', () => {
    const v1 = '35 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,devices\n';
    const unified = '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
    const v2 = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
    expect(detectDeviceControl(v1, {})).toEqual({ v1: '/sys/fs/cgroup/devices', program: false });
    expect(detectDeviceControl(v1 + unified, {})).toEqual({ v1: '/sys/fs/cgroup/devices', program: true });
    expect(detectDeviceControl(v2, {})).toEqual({ v1: null, program: true });
    expect(detectDeviceControl(v1 + unified, { HULL_DEVICE_CONTROL: 'program' })).toEqual({ v1: null, program: true });
    expect(() => detectDeviceControl(v1, { HULL_DEVICE_CONTROL: 'v1' })).toThrow(/HULL_DEVICE_CONTROL=v1/);
  });
});

describe('--ulimit', () => {
  it('parses name=soft[:hard], unlimited and -1', () => {
    expect(parseUlimit('nofile=1024:4096')).toEqual({ name: 'nofile', soft: 1024n, hard: 4096n });
    expect(parseUlimit('NPROC=50')).toEqual({ name: 'nproc', soft: 50n, hard: 50n });
    expect(parseUlimit('core=0:unlimited')).toEqual({ name: 'core', soft: 0n, hard: RLIM_INFINITY });
    expect(parseUlimit('stack=-1')).toEqual({ name: 'stack', soft: RLIM_INFINITY, hard: RLIM_INFINITY });
  });

  it('refuses bad ones with one line', () => {
    expect(() => parseUlimit('nofile')).toThrow('--ulimit nofile: expected name=soft[:hard]');
    expect(() => parseUlimit('files=3')).toThrow('--ulimit files=3: unknown limit "files"');
    expect(() => parseUlimit('nofile=a')).toThrow('--ulimit nofile=a: "a" is not a number (or "unlimited")');
    expect(() => parseUlimit('nofile=1:2:3')).toThrow('--ulimit nofile=1:2:3: expected name=soft[:hard]');
    expect(() => parseUlimit('nofile=9:3')).toThrow('--ulimit nofile=9:3: the soft limit 9 is above the hard limit 3');
  });

  it("defaults RLIMIT_NOFILE to docker's 1048576, never above hull's hard limit", () => {
    expect(planRlimits([], () => ({ soft: 1024n, hard: 20000n }), false).settings).toEqual([{ name: 'nofile', resource: RLIMIT.nofile, soft: '20000', hard: '20000' }]);
    expect(planRlimits([], () => ({ soft: 1024n, hard: RLIM_INFINITY }), false).settings[0]).toMatchObject({ soft: '1048576', hard: '1048576' });
  });

  it('lowers a hard limit above ours and says so, unless hull may raise it', () => {
    const { settings, warnings } = planRlimits(['nofile=30000:40000'], () => ({ soft: 1024n, hard: 20000n }), false);
    expect(settings).toEqual([{ name: 'nofile', resource: RLIMIT.nofile, soft: '20000', hard: '20000' }]);
    expect(warnings).toEqual([
      "--ulimit nofile: hard limit 40000 lowered to 20000, hull's own: raising a hard limit needs CAP_SYS_RESOURCE, which hull does not have",
    ]);
    expect(planRlimits(['nofile=30000:40000'], () => ({ soft: 1024n, hard: 20000n }), true).settings[0]).toMatchObject({ hard: '40000' });
  });
});
