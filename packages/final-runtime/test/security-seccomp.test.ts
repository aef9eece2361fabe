// The default seccomp profile from inside a real container, through `hull run`
// and `hull exec`: an allow list (docker's), so a syscall it does not name is
// EPERM, whether it is new (file_getattr, lsm_*) or not assigned yet. Each
// check is repeated with seccomp=unconfined to show that the filter, not the
// kernel, is what refuses: under the old deny list these calls ran (or were
// ENOSYS), and the tests fail there.
//
// busybox cannot make an arbitrary syscall, so a tiny static probe goes into
// the image as an extra layer (`cc -static`, as in security.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomToken, requireRoot, waitFor } from '@hull/testkit';
import { SYSCALLS_AARCH64, SYSCALLS_X86_64 } from '../src/security/syscall-table.js';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, long r) {
  if (r < 0) printf("%s %s\n", what, strerrorname_np(errno));
  else printf("%s ok\n", what);
}
static void *nothing(void *arg) { return arg; }

/* Each argument is one call: NR[,ARG0[,ARG1...]] in C notation (0x...), or a named check. */
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *op = argv[i];
    if (!strcmp(op, "kcmp-self")) { /* KCMP_FILE: is our fd 0 our fd 0? */
      report(op, syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0));
    } else if (!strcmp(op, "pidfd_getfd-self")) { /* a copy of our own fd 0 through a pidfd */
      long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
      report(op, pidfd < 0 ? pidfd : syscall(SYS_pidfd_getfd, pidfd, 0, 0));
    } else if (!strcmp(op, "thread")) {
      pthread_t t; int e = pthread_create(&t, 0, nothing, 0);
      if (e) { errno = e; report(op, -1); } else { pthread_join(t, 0); report(op, 0); }
    } else if (!strncmp(op, "getppid-loop=", 13)) { /* the filter's cost: ns per getppid */
      long n = atol(op + 13); struct timespec a, b;
      clock_gettime(CLOCK_MONOTONIC, &a);
      for (long k = 0; k < n; k++) syscall(SYS_getppid);
      clock_gettime(CLOCK_MONOTONIC, &b);
      printf("%s %.1f\n", op, ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    } else {
      unsigned long a[7] = {0}; int n = 0; char *s = (char *)op, *end;
      while (n < 7) { a[n++] = strtoul(s, &end, 0); if (*end != ',') break; s = end + 1; }
      report(op, syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]));
    }
  }
  return 0;
}
`;

const NR = process.arch === 'arm64' ? SYSCALLS_AARCH64 : SYSCALLS_X86_64;

describe.skipIf(!requireRoot('final-runtime seccomp allow list'))('hull run: the default seccomp profile is docker\'s allow list', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const work = mkdtempSync(join(tmpdir(), 'hull-seccomp-'));
  const running = `sc-${randomToken(6)}`;
  let image = '';

  beforeAll(async () => {
    requireBuild();
    writeFileSync(join(work, 'probe.c'), PROBE_C);
    execFileSync('cc', ['-static', '-O1', '-pthread', '-o', join(work, 'probe'), join(work, 'probe.c')]);
    image = await pushBusybox({ Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sleep', '300'] }, [
      { entries: [{ path: 'bin/sprobe', content: readFileSync(join(work, 'probe')), mode: 0o755 }] },
    ]);
    // Pulled once here, so that no test's stderr holds the pull's progress.
    const pull = await root.hull(['pull', image]);
    expect(pull.code, pull.stderr).toBe(0);
  });

  afterAll(async () => {
    await root.hull(['rm', '-f', running]);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    rmSync(work, { recursive: true, force: true });
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  /** Each call's result by its spec, e.g. {'500': 'EPERM'}. */
  async function probe(calls: string[], flags: string[] = []): Promise<Record<string, string>> {
    const r = await root.hull(['run', '--rm', ...flags, image, 'sprobe', ...calls]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  }
  const unconfined = ['--security-opt', 'seccomp=unconfined'];

  it('a syscall the list does not name is EPERM: newer than the list, or not assigned yet', async () => {
    // file_getattr/file_setattr (6.17) and open_tree_attr (6.15) exist on this kernel or not:
    // either way EPERM, never run. 470, 500, 1000: no syscall yet; a future kernel's must not get through.
    const calls = [`${NR.file_getattr},-100`, `${NR.file_setattr},-100`, `${NR.open_tree_attr},-100`, `${NR.lsm_list_modules}`, `${NR.lsm_get_self_attr},0`, '470', '500', '1000'];
    const confined = await probe(calls);
    for (const c of calls) expect(confined[c], c).toBe('EPERM');
    const open = await probe(calls, unconfined);
    for (const c of calls) expect(open[c], c).not.toBe('EPERM'); // ENOSYS, EFAULT, EINVAL...: the kernel's own answers
    for (const c of ['470', '500', '1000']) expect(open[c], c).toBe('ENOSYS');
  });

  it('the old kernel escapes stay refused: keyctl, io_uring, userfaultfd, pivot_root, mount, unshare', async () => {
    const calls = [`${NR.keyctl},1,0`, `${NR.io_uring_setup},1,0`, `${NR.userfaultfd},0`, `${NR.pivot_root},0,0`, `${NR.mount},0,0,0,0,0`, `${NR.unshare},0x10000000`, `${NR.setns},-1,0`];
    const confined = await probe(calls);
    for (const c of calls) expect(confined[c], c).toBe('EPERM');
  });

  it('socket: AF_ALG and AF_VSOCK are refused, with or without junk in the upper half of the register; the others work', async () => {
    // Creating a socket sends nothing; none of these is connected.
    const refused = [`${NR.socket},40,1,0`, `${NR.socket},0x100000028,1,0`, `${NR.socket},38,5,0`, `${NR.socket},0x100000026,5,0`];
    const allowed = [`${NR.socket},1,1,0`, `${NR.socket},2,2,0`, `${NR.socket},16,3,0`, `${NR.socket},17,3,0`];
    const confined = await probe([...refused, ...allowed]);
    for (const c of refused) expect(confined[c], c).toBe('EPERM');
    for (const c of allowed) expect(confined[c], c).toBe('ok');
    // Unconfined the kernel answers itself: a vsock socket where the VM has vsock (this one does), EAFNOSUPPORT where not.
    const open = await probe(refused, unconfined);
    for (const c of refused) expect(open[c], c).not.toBe('EPERM');
  });

  it('personality: linux32 and the other values docker allows work; turning ASLR off does not', async () => {
    const allowed = ['0', '0x8', '0x20000', '0x20008', '0xffffffff'].map((v) => `${NR.personality},${v}`);
    const refused = ['0x40000', '0x400000'].map((v) => `${NR.personality},${v}`); // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC
    const confined = await probe([...allowed, ...refused]);
    for (const c of allowed) expect(confined[c], c).toBe('ok');
    for (const c of refused) expect(confined[c], c).toBe('EPERM');
    const open = await probe(refused, unconfined);
    for (const c of refused) expect(open[c], c).toBe('ok');
    const linux32 = await root.hull(['run', '--rm', image, 'linux32', 'uname', '-m']);
    expect(linux32.stdout).toBe('i686\n');
  });

  it('--cap-add SYS_PTRACE allows kcmp and pidfd_getfd; without it seccomp refuses them', async () => {
    const calls = ['kcmp-self', 'pidfd_getfd-self'];
    const confined = await probe(calls);
    for (const c of calls) expect(confined[c], c).toBe('EPERM');
    const traced = await probe(calls, ['--cap-add', 'SYS_PTRACE']);
    for (const c of calls) expect(traced[c], c).toBe('ok');
  });

  it('--cap-add SYS_ADMIN allows unshare, mount and clone3; without it they are EPERM (clone3 ENOSYS) and threads still work', async () => {
    const dir = `/tmp/m-${randomToken(6)}`;
    const script = `unshare -u hostname x-${randomToken(4)}; echo unshare=$?; mkdir -p ${dir}; mount -t tmpfs none ${dir}; echo mount=$?; sprobe ${NR.clone3},0,0 thread`;
    const plain = await root.hull(['run', '--rm', image, 'sh', '-c', script]);
    expect(plain.stdout).toBe(`unshare=1\nmount=1\n${NR.clone3},0,0 ENOSYS\nthread ok\n`);
    const admin = await root.hull(['run', '--rm', '--cap-add', 'SYS_ADMIN', image, 'sh', '-c', script]);
    // clone3 with a NULL struct of size 0: past the filter, the kernel says EINVAL.
    expect(admin.stdout).toBe(`unshare=0\nmount=0\n${NR.clone3},0,0 EINVAL\nthread ok\n`);
  });

  it('hull exec gets the same filter as PID 1', async () => {
    const r = await root.hull(['run', '-d', '--name', running, image]);
    expect(r.code, r.stderr).toBe(0);
    const exec = await root.hull(['exec', running, 'sprobe', '500', `${NR.lsm_list_modules}`, `${NR.socket},40,1,0`, 'kcmp-self', 'thread']);
    expect(exec.stderr).toBe('');
    expect(exec.stdout).toBe(`500 EPERM\n${NR.lsm_list_modules} EPERM\n${NR.socket},40,1,0 EPERM\nkcmp-self EPERM\nthread ok\n`);
  });

  it('busybox\'s everyday commands all work under the default profile', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const token = randomToken(8);
    const steps = [
      'ls -la / >/dev/null', 'cat /etc/passwd >/dev/null', 'ps >/dev/null', 'top -bn1 >/dev/null', 'df >/dev/null', 'du -s /etc >/dev/null',
      'id', 'uname -a >/dev/null', 'date >/dev/null', 'sleep 0.1', 'timeout 5 true', 'find /etc -name passwd >/dev/null',
      `echo ${token} > /tmp/f`, 'cp /tmp/f /tmp/g', 'mv /tmp/g /tmp/h', 'ln -s /tmp/h /tmp/l', 'chmod 600 /tmp/h', 'chown 1:1 /tmp/h', 'touch -d 2020-01-01 /tmp/h',
      'mkfifo /tmp/p', 'mktemp >/dev/null', 'dd if=/dev/zero of=/tmp/z bs=1k count=64 2>/dev/null', 'truncate -s 1M /tmp/z', 'sync', 'stat /tmp/z >/dev/null',
      'tar -czf /tmp/t.tgz -C /etc passwd group', 'tar -tzf /tmp/t.tgz >/dev/null', 'gzip -c /tmp/f | gunzip >/dev/null', 'sha256sum /tmp/z >/dev/null',
      'seq 1 100 | sort -rn | awk "{s+=\\$1} END {print s}" | grep -q 5050', 'sed -n 1p /etc/passwd >/dev/null', 'xargs -n1 echo </etc/group >/dev/null',
      'renice -n 1 $$ >/dev/null', 'taskset -p $$ >/dev/null', 'ionice -p $$ >/dev/null', 'ulimit -n 512',
      'ping -c1 -W2 127.0.0.1 >/dev/null', 'nproc >/dev/null', 'free >/dev/null', 'hostname >/dev/null', 'kill -0 $$', 'chroot / true', 'su -s /bin/sh nobody -c true',
      `mkdir -p /tmp/www && echo ${token} > /tmp/www/i && httpd -p 127.0.0.1:${port} -h /tmp/www && sleep 0.3 && wget -q -O - http://127.0.0.1:${port}/i | grep -q ${token}`,
      'nc -z 127.0.0.1 1 ; true', 'vi --help >/dev/null 2>&1; true', 'linux64 true',
    ];
    const script = steps.map((s, i) => `( ${s} ) >/dev/null 2>&1 || echo "step ${i} failed: $?"`).join('\n');
    const r = await root.hull(['run', '--rm', image, 'sh', '-c', `${script}\necho done`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').map((l) => (/^step (\d+)/.exec(l) ? `${l}: ${steps[Number(/^step (\d+)/.exec(l)![1])]}` : l))).toEqual(['done']);
  });
});
