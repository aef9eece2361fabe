// An OCI spec's hardening fields, converted by securityFromSpec and applied
// for real: the hardening step (src/security/main.ts) with --spec
// config.json on a busybox rootfs, checked from inside the container. Each
// value is random, and each check has its other side (the field left out,
// the call goes through), so none of them can pass by accident.
//
// busybox cannot make an arbitrary syscall or print a raw errno, so a tiny
// static probe goes into the rootfs (`cc -static`, as in security.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxRootfs, descendants, hostSnapshot, type HostSnapshot, leftovers, randomToken, requireRoot, run } from '@hull/testkit';
import type { RuntimeSpec } from '@hull/sys';
import { capabilityMask, DEFAULT_CAPABILITIES, statusMask, type Capability } from '../src/security/index.js';
import { SYSCALLS_AARCH64, SYSCALLS_X86_64 } from '../src/security/syscall-table.js';
import { hostDevice } from './security-fixtures.js';

const STEP = 'packages/final-runtime/src/security/main.ts';
const TABLE = process.arch === 'arm64' ? SYSCALLS_AARCH64 : SYSCALLS_X86_64;

const PROBE_C = String.raw`
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* syscall NR ARG0: "ok" or "errno=N" (a number: a random errno has no name). open PATH: the same for open(2) O_RDWR. */
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long r;
  if (!strcmp(argv[1], "syscall")) r = syscall(atol(argv[2]), argc > 3 ? strtoul(argv[3], 0, 0) : 0, 0, 0, 0, 0);
  else if (!strcmp(argv[1], "open")) r = open(argv[2], O_RDWR);
  else return 2;
  if (r < 0) printf("errno=%d\n", errno); else printf("ok\n");
  return 0;
}
`;

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

describe.skipIf(!requireRoot('final-runtime spec hardening'))('an OCI spec\'s hardening fields, applied', () => {
  let before: HostSnapshot;
  let work: string;
  let rootfs: string;

  beforeAll(() => {
    before = hostSnapshot();
    work = mkdtempSync(join(tmpdir(), 'hull-secspec-'));
    rootfs = busyboxRootfs(join(work, 'rootfs'));
    writeFileSync(join(work, 'probe.c'), PROBE_C);
    execFileSync('cc', ['-static', '-O1', '-o', join(rootfs, 'bin/probe'), join(work, 'probe.c')]);
  });

  afterAll(() => {
    // Only what this file owns: other test files run containers at the same time.
    const left = leftovers(before);
    expect((left.mounts ?? []).filter((m) => m.startsWith(work))).toEqual([]);
    expect((left.cgroups ?? []).filter((c) => /\/hull\/sec-[0-9a-f]{12}$/.test(c))).toEqual([]);
    rmSync(work, { recursive: true, force: true });
    expect(descendants()).toEqual([]);
  });

  /** Write the spec, run `sh -c script` under it. */
  const runSpec = (spec: RuntimeSpec, script: string) => {
    const path = join(work, `config-${randomToken(6)}.json`);
    writeFileSync(path, JSON.stringify(spec));
    return run('npx', ['tsx', STEP, '--rootfs', rootfs, '--spec', path, '--', 'sh', '-c', script]);
  };

  const base = (over: Partial<RuntimeSpec['process']> = {}, linux: RuntimeSpec['linux'] = {}): RuntimeSpec => ({
    ociVersion: '1.1.0',
    process: { user: { uid: 0, gid: 0 }, cwd: '/', ...over },
    linux: { resources: { devices: [{ allow: false, access: 'rwm' }] }, ...linux },
  });

  it('a seccomp rule returns its random errno, a rule on an argument only for that value; without the spec\'s seccomp both calls go through', async () => {
    // None of these is one busybox's sh makes itself (getpgrp is getpgid(0) in glibc: not that one).
    const name = pick(['getpriority', 'sched_getscheduler', 'ioprio_get', 'getcpu']);
    const errno = between(1000, 4000);
    const argErrno = between(1000, 4000);
    const marker = between(0x10000, 0x7fffffff);
    const viaArg = pick(['sched_getparam', 'sched_getaffinity', 'sched_get_priority_max', 'sched_get_priority_min']);
    const seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
      syscalls: [
        { names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: errno },
        { names: [viaArg], action: 'SCMP_ACT_ERRNO', errnoRet: argErrno, args: [{ index: 0, value: marker, op: 'SCMP_CMP_EQ' as const }] },
      ],
    };
    const script = `probe syscall ${TABLE[name]} 0; probe syscall ${TABLE[viaArg]} ${marker}; probe syscall ${TABLE[viaArg]} ${marker + 1}; grep ^Seccomp: /proc/self/status`;
    const filtered = await runSpec(base({}, { seccomp }), script);
    expect(filtered.stderr).toBe('');
    expect(filtered.stdout.split('\n').slice(0, 2)).toEqual([`errno=${errno}`, `errno=${argErrno}`]);
    // The third call's own result (ok, or the kernel's EINVAL/ESRCH for a bogus pid) is not the filter's errno.
    expect(filtered.stdout.split('\n')[2]).not.toBe(`errno=${argErrno}`);
    expect(filtered.stdout).toMatch(/^Seccomp:\s+2$/m);

    const open = await runSpec(base(), script);
    expect(open.stdout).not.toContain(`errno=${errno}`);
    expect(open.stdout).not.toContain(`errno=${argErrno}`);
    expect(open.stdout).toMatch(/^Seccomp:\s+0$/m);
  });

  it('the capability sets are the spec\'s: one dropped is gone from every set and chown fails; kept, chown works', async () => {
    const dropped: Capability = 'CAP_CHOWN';
    const kept = DEFAULT_CAPABILITIES.filter((c) => c !== dropped && Math.random() < 0.7);
    const caps = { bounding: kept, effective: kept, permitted: kept };
    const script = 'cat /proc/self/status; chown 1:1 /tmp; echo chown=$?';
    const r = await runSpec(base({ capabilities: caps }), script);
    expect(r.code).toBe(0);
    for (const set of ['CapPrm', 'CapEff', 'CapBnd'] as const) expect(statusMask(r.stdout, set)).toBe(capabilityMask(kept));
    expect(statusMask(r.stdout, 'CapInh')).toBe(0n);
    expect(r.stdout).toContain('chown=1');

    const withChown = [...kept, dropped];
    const ok = await runSpec(base({ capabilities: { bounding: withChown, effective: withChown, permitted: withChown } }), script);
    expect(statusMask(ok.stdout, 'CapEff')).toBe(capabilityMask(withChown));
    expect(ok.stdout).toContain('chown=0');
  });

  it('a non-root user keeps the ambient capability the spec gives it across execve (KEEPCAPS, then PR_CAP_AMBIENT_RAISE); without ambient it has none', async () => {
    const uid = between(1000, 60000);
    const cap: Capability = 'CAP_NET_BIND_SERVICE';
    const sets = { bounding: [cap, 'CAP_KILL'], effective: [cap], permitted: [cap], inheritable: [cap], ambient: [cap] };
    const script = 'id -u; grep -E "^Cap(Eff|Prm|Amb|Inh|Bnd):" /proc/self/status';
    const r = await runSpec(base({ user: { uid, gid: uid }, capabilities: sets }), script);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(`${uid}`);
    const mask = capabilityMask([cap]);
    for (const set of ['CapEff', 'CapPrm', 'CapAmb', 'CapInh'] as const) expect(statusMask(r.stdout, set)).toBe(mask);
    expect(statusMask(r.stdout, 'CapBnd')).toBe(capabilityMask([cap, 'CAP_KILL']));

    const none = await runSpec(base({ user: { uid, gid: uid }, capabilities: { ...sets, ambient: [] } }), script);
    for (const set of ['CapEff', 'CapPrm', 'CapAmb'] as const) expect(statusMask(none.stdout, set)).toBe(0n);
  });

  it('rlimits, no_new_privs, umask, oom_score_adj, additionalGids and a masked path are as the spec says', async () => {
    const hard = between(200, 1000);
    const soft = between(64, hard);
    const umask = pick([0o027, 0o077, 0o007, 0o002]);
    const oom = between(1, 999);
    const uid = between(1000, 60000);
    const groups = [between(1000, 60000), between(1000, 60000)];
    const spec = base(
      { user: { uid, gid: uid, umask, additionalGids: groups }, rlimits: [{ type: 'RLIMIT_NOFILE', soft, hard }], noNewPrivileges: true, oomScoreAdj: oom },
      { resources: { devices: [{ allow: false, access: 'rwm' }] }, maskedPaths: ['/proc/timer_list'] },
    );
    const script = 'ulimit -n; ulimit -Hn; umask; cat /proc/self/oom_score_adj; grep -E "^(NoNewPrivs|Groups):" /proc/self/status; wc -c < /proc/timer_list';
    const r = await runSpec(spec, script);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([`${soft}`, `${hard}`, `0${umask.toString(8).padStart(3, '0')}`, `${oom}`]);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    // The kernel keeps supplementary groups sorted.
    expect(r.stdout).toMatch(new RegExp(`^Groups:\\s+${[...groups].sort((a, b) => a - b).join(' ')}\\s*$`, 'm'));
    expect(lines.at(-1)).toBe('0');

    // The other side: the defaults of a spec that says nothing.
    const plain = await runSpec(base(), script);
    const p = plain.stdout.trim().split('\n');
    expect(p[0]).not.toBe(`${soft}`);
    expect(p[3]).not.toBe(`${oom}`);
    expect(plain.stdout).toMatch(/^NoNewPrivs:\s+0$/m);
    expect(Number(p.at(-1))).toBeGreaterThan(0);
  });

  it('a linux.devices node is made with its mode and owner; the allow list keeps it shut until resources.devices opens it', async () => {
    const dev = hostDevice();
    const path = `/dev/hull-${randomToken(6)}`;
    const uid = between(1000, 60000);
    const node = { type: 'c' as const, path, major: dev.major, minor: dev.minor, fileMode: 0o640, uid, gid: uid };
    const script = `stat -c '%t:%T %a %u' ${path}; probe open ${path}; probe open /dev/null`;
    const shut = await runSpec(base({}, { devices: [node], resources: { devices: [{ allow: false, access: 'rwm' }] } }), script);
    expect(shut.stderr).toBe('');
    expect(shut.stdout.trim().split('\n')).toEqual([`${dev.major.toString(16)}:${dev.minor.toString(16)} 640 ${uid}`, 'errno=1', 'ok']);

    const allow = { allow: true, type: 'c' as const, major: dev.major, minor: dev.minor, access: 'rw' };
    const open = await runSpec(base({}, { devices: [node], resources: { devices: [{ allow: false, access: 'rwm' }, allow] } }), script);
    expect(open.stdout.trim().split('\n').slice(1)).toEqual(['ok', 'ok']);
  });

  it('a bad field is one line naming it, exit 125, nothing started', async () => {
    const bad = `CAP_NO_SUCH_${randomToken(4).toUpperCase()}`;
    const r = await runSpec(base({ capabilities: { bounding: [bad] } }), 'echo started');
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`hull: config.json: process.capabilities.bounding: unknown capability "${bad}" (names are as in capabilities(7), e.g. CAP_NET_BIND_SERVICE)`]);

    const notify = await runSpec(base({}, { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }] } }), 'echo started');
    expect(notify.code).toBe(125);
    expect(notify.stdout).toBe('');
    expect(notify.stderr.trim().split('\n')).toEqual(['hull: config.json: linux.seccomp: syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent, which hull does not have']);
  });

  it('the spec file itself: missing or not JSON is one line', async () => {
    const missing = join(work, `none-${randomToken(4)}.json`);
    const r = await run('npx', ['tsx', STEP, '--rootfs', rootfs, '--spec', missing, '--', 'true']);
    expect([r.code, r.stderr.trim()]).toEqual([125, `hull: --spec ${missing}: no such file`]);
    const broken = join(work, 'broken.json');
    writeFileSync(broken, '{"ociVersion": ');
    const b = await run('npx', ['tsx', STEP, '--rootfs', rootfs, '--spec', broken, '--', 'true']);
    expect(b.code).toBe(125);
    expect(b.stderr.trim()).toMatch(new RegExp(`^hull: --spec ${broken}: invalid JSON: `));
    expect(readFileSync(broken, 'utf8')).toBe('{"ociVersion": ');
  });
});
