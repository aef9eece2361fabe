// Black-box tests of the hardening layers: run the hardening step
// (packages/final-runtime/src/security/main.ts) on a busybox rootfs, try
// each escape from inside, and check it is refused; then turn the layer off
// and check the same operation succeeds, which proves the test can fail.
//
// busybox has no keyctl, capset or ptrace applet, so a tiny static probe is
// compiled here with `cc -static` (gcc + libc6-dev, which .ci/run installs
// for the native spawn helper anyway).
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, descendants, hostSnapshot, type HostSnapshot, leftovers, randomHostname, randomToken, requireRoot, run, type RunOptions } from '@hull/testkit';
import { capabilityMask, DEFAULT_CAPABILITIES, statusMask } from '../src/security/index.js';
import { SYSCALLS_AARCH64, SYSCALLS_X86_64 } from '../src/security/syscall-table.js';
import { hostDevice } from './security-fixtures.js';

const STEP = 'packages/final-runtime/src/security/main.ts';
const hull = (args: readonly string[], opts?: RunOptions) => run('npx', ['tsx', STEP, ...args], opts);

const DEFAULT_MASK = capabilityMask(DEFAULT_CAPABILITIES); // 0xa80425fb
const TABLE = process.arch === 'arm64' ? SYSCALLS_AARCH64 : SYSCALLS_X86_64;

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char *what, long r) {
  if (r < 0) { printf("%s: %s\n", what, strerrorname_np(errno)); return 1; }
  printf("%s: ok\n", what);
  return 0;
}
static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *op = argv[1];
  if (!strcmp(op, "keyctl")) /* KEYCTL_JOIN_SESSION_KEYRING, anonymous */
    return report(op, syscall(SYS_keyctl, 1, 0));
  if (!strcmp(op, "capraise")) { /* add CAP_SYS_ADMIN (21) to permitted and effective */
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) return report("capget", -1);
    d[0].effective |= 1u << 21; d[0].permitted |= 1u << 21;
    return report(op, syscall(SYS_capset, &h, d));
  }
  if (!strcmp(op, "ptrace")) { /* ptrace PID [UID]: as UID if given */
    if (argc > 3) { uid_t u = atoi(argv[3]); if (setresgid(u, u, u) || setresuid(u, u, u)) return report("setresuid", -1); }
    return report(op, ptrace(PTRACE_SEIZE, atoi(argv[2]), 0, 0));
  }
  if (!strcmp(op, "id")) {
    uid_t r, e, s; getresuid(&r, &e, &s);
    printf("uid=%u euid=%u\n", r, e);
    FILE *f = fopen("/proc/self/status", "r"); char line[256];
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "CapEff:", 7)) fputs(line, stdout);
    return 0;
  }
  if (!strcmp(op, "clone-userns")) { /* raw clone(2) with CLONE_NEWUSER */
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, 0, 0);
    return report(op, pid);
  }
  if (!strcmp(op, "clone3-userns")) {
    struct clone_args a; memset(&a, 0, sizeof a);
    a.flags = CLONE_NEWUSER; a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, 0, 0);
    return report(op, pid);
  }
  if (!strcmp(op, "thread")) { /* glibc tries clone3 first, then clone */
    pthread_t t; int e = pthread_create(&t, 0, nothing, 0);
    if (e) { errno = e; return report(op, -1); }
    pthread_join(t, 0);
    return report(op, 0);
  }
  if (!strcmp(op, "syscall")) { /* syscall NR [ARG0] */
    return report(op, syscall(atol(argv[2]), argc > 3 ? atol(argv[3]) : 0, 0, 0, 0, 0));
  }
  return 2;
}
`;

describe.skipIf(!requireRoot('final-runtime security'))('hardening: every escape blocked by default, allowed with the opt-out', () => {
  let before: HostSnapshot;
  let work: string;
  let rootfs: string;
  let uid: number;

  beforeAll(() => {
    before = hostSnapshot();
    work = mkdtempSync(join(tmpdir(), 'hull-sec-'));
    rootfs = busyboxRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'probe.c'), PROBE_C);
    execFileSync('cc', ['-static', '-O1', '-pthread', '-o', join(rootfs, 'bin/probe'), join(work, 'probe.c')]);
    // The same probe, setuid root: the classic way to gain privileges.
    copyFileSync(join(rootfs, 'bin/probe'), join(rootfs, 'bin/suid-probe'));
    chownSync(join(rootfs, 'bin/suid-probe'), 0, 0);
    chmodSync(join(rootfs, 'bin/suid-probe'), 0o4755);
    uid = 1000 + Math.floor(Math.random() * 50000);
  });

  afterAll(() => {
    // Only what this file owns: other test files run containers at the same time.
    const left = leftovers(before);
    expect((left.mounts ?? []).filter((m) => m.startsWith(work))).toEqual([]);
    expect((left.cgroups ?? []).filter((c) => /\/hull\/sec-[0-9a-f]{12}$/.test(c))).toEqual([]);
    expect(left.hostname).toBeUndefined();
    rmSync(work, { recursive: true, force: true });
    expect(descendants()).toEqual([]);
  });

  const sh = (script: string, flags: string[] = [], opts?: RunOptions) => hull(['--rootfs', rootfs, ...flags, '--', 'sh', '-c', script], opts);

  it('root keeps exactly docker\'s 14 capabilities in every set, with no_new_privs and a seccomp filter', async () => {
    const r = await sh('cat /proc/self/status');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statusMask(r.stdout, 'CapInh')).toBe(0n);
    expect(statusMask(r.stdout, 'CapPrm')).toBe(DEFAULT_MASK);
    expect(statusMask(r.stdout, 'CapEff')).toBe(DEFAULT_MASK);
    expect(statusMask(r.stdout, 'CapBnd')).toBe(DEFAULT_MASK);
    expect(statusMask(r.stdout, 'CapAmb')).toBe(0n);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(DEFAULT_MASK).toBe(0xa80425fbn);
  });

  it('the goal transcript of docs/hardening.md', async () => {
    const r = await sh(
      'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs none /tmp/m && echo mounted; unshare -U true && echo userns; wc -c < /proc/timer_list',
    );
    expect(r.stdout).toBe('CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n0\n');
    expect(r.stderr).toBe('mount: permission denied (are you root?)\nunshare: unshare(0x10000000): Operation not permitted\n');
  });

  it('a non-root --user ends with no capabilities at all (only the bounding set remains)', async () => {
    const r = await sh('id -u; cat /proc/self/status', ['--user', `${uid}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`${uid}`);
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb'] as const) expect(statusMask(r.stdout, set)).toBe(0n);
    expect(statusMask(r.stdout, 'CapBnd')).toBe(DEFAULT_MASK);
  });

  it('--cap-drop ALL --cap-add takes exactly the named ones, prefix and case as you like', async () => {
    const r = await sh('cat /proc/self/status', ['--cap-drop', 'ALL', '--cap-add', 'net_admin', '--cap-add', 'CAP_KILL']);
    expect(r.code).toBe(0);
    const want = (1n << 12n) | (1n << 5n);
    for (const set of ['CapPrm', 'CapEff', 'CapBnd'] as const) expect(statusMask(r.stdout, set)).toBe(want);
  });

  it('--cap-add ALL --cap-drop chown gives everything hull itself has but CHOWN', async () => {
    const own = statusMask(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
    const r = await sh('cat /proc/self/status; chown 1:1 /tmp; echo chown=$?', ['--cap-add', 'ALL', '--cap-drop', 'chown']);
    expect(statusMask(r.stdout, 'CapEff')).toBe(own & ~1n);
    expect(r.stdout).toContain('chown=1');
  });

  it('an unknown capability is one clear line, exit 125, nothing started', async () => {
    const bad = `no_such_${randomToken(4)}`;
    const r = await sh('echo started', ['--cap-add', bad]);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`hull: --cap-add ${bad}: unknown capability (see capabilities(7), e.g. NET_ADMIN or CAP_SYS_PTRACE)`]);
  });

  it('mount -t tmpfs is refused; --privileged mounts it (in the container only)', async () => {
    const dir = `/tmp/m-${randomToken(6)}`;
    const script = `mkdir -p ${dir}; mount -t tmpfs none ${dir}; echo rc=$?; grep -c " ${dir} " /proc/mounts`;
    const denied = await sh(script);
    expect(denied.stdout).toMatch(/rc=[1-9]/);
    expect(denied.stderr).toMatch(/permission denied|Operation not permitted/);
    const allowed = await sh(script, ['--privileged']);
    expect(allowed.stdout).toContain('rc=0');
    expect(allowed.stdout.trim().split('\n').pop()).toBe('1');
  });

  it('unshare -U and -m are refused; seccomp=unconfined allows -U (no capability needed), --privileged allows -m', async () => {
    const script = 'unshare -U true; echo user=$?; unshare -m true; echo mnt=$?';
    const denied = await sh(script);
    expect(denied.stdout).toBe('user=1\nmnt=1\n');
    expect(denied.stderr).toContain('unshare(0x10000000): Operation not permitted');
    const unconfined = await sh(script, ['--security-opt', 'seccomp=unconfined']);
    expect(unconfined.stdout).toBe('user=0\nmnt=1\n');
    const privileged = await sh(script, ['--privileged']);
    expect(privileged.stdout).toBe('user=0\nmnt=0\n');
  });

  it('clone(CLONE_NEWUSER) is EPERM, clone3 is ENOSYS, and threads still work through the clone fallback', async () => {
    const script = 'probe clone-userns; probe clone3-userns; probe thread; probe keyctl';
    const denied = await sh(script);
    expect(denied.stdout).toBe('clone-userns: EPERM\nclone3-userns: ENOSYS\nthread: ok\nkeyctl: EPERM\n');
    const unconfined = await sh(script, ['--security-opt', 'seccomp=unconfined']);
    expect(unconfined.stdout).toBe('clone-userns: ok\nclone3-userns: ok\nthread: ok\nkeyctl: ok\n');
  });

  it('masks /proc files with /dev/null and makes /proc/sys read-only; systempaths=unconfined shows them', async () => {
    const hostname = randomHostname();
    const script = `wc -c < /proc/timer_list; echo ${hostname} > /proc/sys/kernel/hostname; echo write=$?; hostname; grep -E " /(proc|sys)/[^ ]+ " /proc/self/mountinfo`;
    const hostBefore = hostSnapshot().hostname;
    const masked = await sh(script);
    const lines = masked.stdout.trim().split('\n');
    expect(lines[0]).toBe('0');
    expect(lines[1]).toBe('write=1');
    expect(masked.stderr).toContain('Read-only file system');
    expect(lines[2]).not.toBe(hostname);
    const mounts = lines.slice(3).map((l) => ({ point: l.split(' ')[4], opts: l.split(' ')[5] }));
    for (const p of ['/proc/keys', '/proc/timer_list', '/proc/acpi', '/sys/firmware']) expect(mounts.map((m) => m.point)).toContain(p);
    for (const p of ['/proc/sys', '/proc/bus', '/proc/fs', '/proc/irq']) expect(mounts.find((m) => m.point === p)?.opts).toMatch(/^ro,/);

    const open = await sh(script, ['--security-opt', 'systempaths=unconfined']);
    const olines = open.stdout.trim().split('\n');
    expect(Number(olines[0])).toBeGreaterThan(0);
    expect(olines[1]).toBe('write=0');
    expect(olines[2]).toBe(hostname); // the container's own UTS namespace
    expect(hostSnapshot().hostname).toBe(hostBefore);
  });

  it('mknod works for root but the device cannot be opened (devices cgroup); without CAP_MKNOD or as a user mknod itself fails; --privileged opens it', async () => {
    const dev = hostDevice();
    const node = `/dev/probe-${randomToken(6)}`;
    const script = `mknod ${node} c ${dev.major} ${dev.minor}; echo mknod=$?; (: < ${node}); echo open=$?; grep devices /proc/self/cgroup`;
    const root = await sh(script);
    expect(root.stdout).toContain('mknod=0\nopen=1\n');
    expect(root.stderr).toContain('Operation not permitted');
    expect(root.stdout).toMatch(/devices:\/hull\/sec-[0-9a-f]{12}$/m);
    const noCap = await sh(script, ['--cap-drop', 'MKNOD']);
    expect(noCap.stdout).toContain('mknod=1\n');
    const user = await sh(script, ['--user', `${uid}`]);
    expect(user.stdout).toContain('mknod=1\n');
    const privileged = await sh(script, ['--privileged']);
    expect(privileged.stdout).toContain('mknod=0\nopen=0\n');
  });

  it("mounts /proc, /sys, /dev/pts and /dev/shm with docker's nosuid/nodev/noexec, and noexec bites", async () => {
    const r = await sh('cat /proc/self/mountinfo; cp /bin/probe /dev/shm/p; /dev/shm/p thread; echo shm=$?; cp /bin/probe /tmp/p; /tmp/p thread; echo tmp=$?');
    const options = (point: string) => r.stdout.split('\n').find((l) => l.split(' ')[4] === point)?.split(' ')[5]?.split(',') ?? [];
    expect(options('/proc')).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(options('/sys')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    expect(options('/dev')).toContain('nosuid');
    expect(options('/dev/pts')).toEqual(expect.arrayContaining(['nosuid', 'noexec']));
    expect(options('/dev/shm')).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(r.stdout).toContain('shm=126\n');
    expect(r.stdout).toContain('thread: ok\ntmp=0\n'); // the same binary runs where exec is allowed
  });

  it('a capability outside the set cannot be raised; with it granted the same capset succeeds', async () => {
    expect((await sh('probe capraise')).stdout).toBe('capraise: EPERM\n');
    expect((await sh('probe capraise', ['--cap-add', 'SYS_ADMIN'])).stdout).toBe('capraise: ok\n');
  });

  it('a non-root user cannot ptrace PID 1; root with CAP_SYS_PTRACE can', async () => {
    // sh stays PID 1 (a second command after the probe keeps it from exec'ing the probe).
    expect((await sh(`probe ptrace 1 ${uid}; true`)).stdout).toBe('ptrace: EPERM\n');
    expect((await sh('probe ptrace 1; true', ['--cap-add', 'SYS_PTRACE'])).stdout).toBe('ptrace: ok\n');
  });

  it('a setuid-root binary gains nothing under no_new_privs; with no-new-privileges=false it becomes root', async () => {
    const nnp = await sh('suid-probe id', ['--user', `${uid}`]);
    expect(nnp.stdout).toBe(`uid=${uid} euid=${uid}\nCapEff:\t0000000000000000\n`);
    const off = await sh('suid-probe id', ['--user', `${uid}`, '--security-opt', 'no-new-privileges=false']);
    expect(off.stdout).toBe(`uid=${uid} euid=0\nCapEff:\t${DEFAULT_MASK.toString(16).padStart(16, '0')}\n`);
    // Even then the bounding set caps what setuid root gets: docker's 14, not the host's 40.
  });

  it('seccomp=PROFILE.json in docker\'s format replaces the default profile', async () => {
    const profile = join(work, `profile-${randomToken(4)}.json`);
    writeFileSync(
      profile,
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }),
    );
    const r = await sh(`mkdir /tmp/d-${randomToken(4)}; echo mkdir=$?; probe keyctl`, ['--security-opt', `seccomp=${profile}`]);
    expect(r.stdout).toBe('mkdir=1\nkeyctl: ok\n');
    expect(r.stderr).toContain('Operation not permitted');
  });

  // /usr/share/containers/seccomp.json comes with skopeo (golang-github-containers-common), which .ci/run installs.
  it("runs under containers-common's default profile (docker's allow-list format, with includes/excludes)", async () => {
    // That profile denies personality() with unknown values (ENOSYS, its defaultErrnoRet) and allows 0x8.
    const nr = TABLE.personality!;
    const r = await sh(`probe syscall ${nr} 9; probe syscall ${nr} 8; probe thread`, ['--security-opt', 'seccomp=/usr/share/containers/seccomp.json']);
    expect(r.stdout).toBe('syscall: ENOSYS\nsyscall: ok\nthread: ok\n');
    // Ours refuses the same value too (docker's personality rule), but with docker's EPERM: so the
    // ENOSYS above can only come from the containers-common profile, not from the default.
    const ours = await sh(`probe syscall ${nr} 9`);
    expect(ours.stdout).toBe('syscall: EPERM\n');
  });

  it('a profile that blocks execve, a broken one, a missing one: one line each, exit 125', async () => {
    const blocksExec = join(work, `exec-${randomToken(4)}.json`);
    writeFileSync(blocksExec, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['execve'], action: 'SCMP_ACT_ERRNO' }] }));
    const broken = join(work, `broken-${randomToken(4)}.json`);
    writeFileSync(broken, '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}');
    const missing = join(work, `missing-${randomToken(4)}.json`);
    const cases: [string, string][] = [
      [blocksExec, `hull: seccomp profile ${blocksExec}: it blocks execve, so the container's command could never start`],
      [broken, `hull: seccomp profile ${broken}: syscalls[0].action: unknown action "SCMP_ACT_BOGUS"`],
      [missing, `hull: seccomp profile ${missing}: no such file`],
    ];
    for (const [path, line] of cases) {
      const r = await sh('echo started', ['--security-opt', `seccomp=${path}`]);
      expect(r.code).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toEqual([line]);
    }
  });

  it('RLIMIT_NOFILE: docker\'s default clamped to hull\'s hard limit; --ulimit sets both; a hard limit above ours is lowered with a warning', async () => {
    const own = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    const expected = own === 'unlimited' ? '1048576' : `${Math.min(Number(own), 1048576)}`;
    const def = await sh('ulimit -Sn; ulimit -Hn');
    expect(def.stdout).toBe(`${expected}\n${expected}\n`);

    const soft = 100 + Math.floor(Math.random() * 400);
    const set = await sh('ulimit -Sn; ulimit -Hn', ['--ulimit', `nofile=${soft}:${soft * 2}`]);
    expect(set.stdout).toBe(`${soft}\n${soft * 2}\n`);

    if (own !== 'unlimited') {
      const above = Number(own) + 1000;
      const r = await sh('ulimit -Hn', ['--ulimit', `nofile=${above}`]);
      expect(r.code).toBe(0);
      const canRaise = ((statusMask(readFileSync('/proc/self/status', 'utf8'), 'CapEff') >> 24n) & 1n) === 1n; // CAP_SYS_RESOURCE
      if (canRaise) {
        expect(r.stdout).toBe(`${above}\n`);
      } else {
        expect(r.stdout).toBe(`${own}\n`);
        expect(r.stderr.trim().split('\n')).toEqual([
          `hull: warning: --ulimit nofile: hard limit ${above} lowered to ${own}, hull's own: raising a hard limit needs CAP_SYS_RESOURCE, which hull does not have`,
        ]);
      }
    }

    const bad = await sh('echo started', ['--ulimit', 'nofile=20:10']);
    expect(bad.code).toBe(125);
    expect(bad.stderr.trim().split('\n')).toEqual(['hull: --ulimit nofile=20:10: the soft limit 20 is above the hard limit 10']);
  });
});
