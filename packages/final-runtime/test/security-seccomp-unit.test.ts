// The default seccomp profile as an allow list (docker's default.json), run
// through the BPF interpreter: no root, no kernel needed. The same decisions
// are checked from inside a real container in security-seccomp.test.ts.
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_SYSCALLS,
  ARCHES,
  BPF_JA,
  BPF_JMP,
  BPF_MAXINSNS,
  CAPABILITY_SYSCALLS,
  type Capability,
  compileProfile,
  DEFAULT_CAPABILITIES,
  defaultProfile,
  PERSONALITY_VALUES,
  runFilter,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  type SeccompProfile,
  validateProfile,
} from '../src/security/index.js';

const X64 = ARCHES.x64;
const EPERM = (SECCOMP_RET_ERRNO | 1) >>> 0;
const ENOSYS = (SECCOMP_RET_ERRNO | 38) >>> 0;
const compile = (caps: readonly Capability[] = DEFAULT_CAPABILITIES, kernel = '6.18.0') => compileProfile(defaultProfile(), { arch: 'x64', capabilities: caps, kernel });
const decideNr = (prog: ReturnType<typeof compile>, nr: number, args: bigint[] = []) => runFilter(prog, { nr, arch: X64.audit, args }) >>> 0;
const decide = (prog: ReturnType<typeof compile>, name: string, args: bigint[] = []) => {
  const nr = X64.table[name];
  if (nr === undefined) throw new Error(`${name} is not an x86_64 syscall`);
  return decideNr(prog, nr, args);
};

describe('the default profile is an allow list: docker\'s, with EPERM for the rest', () => {
  const prog = compile();

  it('allows every syscall of the list that x86_64 has', () => {
    const names = Object.values(ALLOWED_SYSCALLS).flat().filter((n) => n in X64.table);
    expect(names.length).toBeGreaterThan(290);
    for (const n of names) expect(decide(prog, n), n).toBe(SECCOMP_RET_ALLOW);
  });

  it('refuses with EPERM what it does not name: the keyring, io_uring, kexec, swap, userfaultfd, pivot_root, syscalls newer than the list', () => {
    for (const n of ['keyctl', 'add_key', 'request_key', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'kexec_load', 'kexec_file_load', 'swapon', 'swapoff', 'userfaultfd', 'pivot_root', 'uselib', '_sysctl', 'nfsservctl', 'move_pages', 'migrate_pages'])
      expect(decide(prog, n), n).toBe(EPERM);
    // open_tree_attr (6.15), file_getattr/file_setattr (6.17): not in docker's list, so not allowed until someone decides they are safe.
    for (const n of ['open_tree_attr', 'file_getattr', 'file_setattr']) expect(decide(prog, n), n).toBe(EPERM);
  });

  it('refuses numbers no kernel has assigned yet, whatever a future kernel puts there', () => {
    for (const nr of [336, 400, 423, 470, 500, 547, 548, 1000, 0x3fffffff]) expect(decideNr(prog, nr), `${nr}`).toBe(EPERM);
  });

  it('allows the new syscalls docker allows (futex_waitv, the *xattrat family, mseal, statmount/listmount, cachestat, fchmodat2)', () => {
    for (const n of ['futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue', 'setxattrat', 'getxattrat', 'listxattrat', 'removexattrat', 'mseal', 'statmount', 'listmount', 'cachestat', 'fchmodat2', 'map_shadow_stack', 'uretprobe'])
      expect(decide(prog, n), n).toBe(SECCOMP_RET_ALLOW);
  });

  it('personality: only linux, linux32, uname26 (and both), and the query 0xffffffff', () => {
    for (const v of PERSONALITY_VALUES) expect(decide(prog, 'personality', [BigInt(v)]), `0x${v.toString(16)}`).toBe(SECCOMP_RET_ALLOW);
    // ADDR_NO_RANDOMIZE turns ASLR off, READ_IMPLIES_EXEC makes every readable page executable.
    for (const v of [0x0040000n, 0x0400000n, 0x0440000n, 0x9n, 0x1_0000_0008n]) expect(decide(prog, 'personality', [v]), `0x${v.toString(16)}`).toBe(EPERM);
  });

  it('socket: every family but AF_ALG (38) and AF_VSOCK (40), and no upper-half trick to reach them', () => {
    for (const family of [0n, 1n, 2n, 10n, 16n, 17n, 37n, 39n, 41n, 45n, 46n]) expect(decide(prog, 'socket', [family, 1n, 0n]), `${family}`).toBe(SECCOMP_RET_ALLOW);
    for (const family of [38n, 40n]) expect(decide(prog, 'socket', [family, 1n, 0n]), `${family}`).toBe(EPERM);
    // The kernel reads the family as an int: 0x1_00000028 is AF_VSOCK to it. docker's "> 40" would let it through.
    for (const family of [0x1_0000_0028n, 0x1_0000_0026n, 0xffff_ffff_0000_0028n, 0xffff_ffff_ffff_ffffn]) expect(decide(prog, 'socket', [family, 1n, 0n]), `0x${family.toString(16)}`).toBe(EPERM);
  });

  it('clone: threads and processes yes, namespaces no; clone3 is ENOSYS so libc falls back to clone', () => {
    expect(decide(prog, 'clone', [0x3d0f00n])).toBe(SECCOMP_RET_ALLOW); // pthread_create
    expect(decide(prog, 'clone', [0x1200011n])).toBe(SECCOMP_RET_ALLOW); // fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    for (const ns of [0x20000n, 0x4000000n, 0x8000000n, 0x10000000n, 0x20000000n, 0x40000000n, 0x2000000n]) expect(decide(prog, 'clone', [ns | 0x11n]), `0x${ns.toString(16)}`).toBe(EPERM);
    expect(decide(prog, 'clone3')).toBe(ENOSYS);
  });

  it('x86_64 only: arch_prctl and modify_ldt allowed; the arm-only names compile to nothing', () => {
    expect(decide(prog, 'arch_prctl')).toBe(SECCOMP_RET_ALLOW);
    expect(decide(prog, 'modify_ldt')).toBe(SECCOMP_RET_ALLOW);
    expect(X64.table.set_tls).toBeUndefined();
  });
});

describe('capability-conditional groups follow the container\'s final capability set', () => {
  // Allowed without any capability, so no group can be what allows them: ptrace and
  // process_vm_* (kernel >= 4.8); clone with thread flags.
  const unconditional = new Set(['ptrace', 'process_vm_readv', 'process_vm_writev']);
  const none = compile([]);

  for (const group of CAPABILITY_SYSCALLS) {
    it(`${group.cap}: ${group.names.filter((n) => n in X64.table).join(', ')}`, () => {
      const withCap = compile([group.cap as Capability]);
      for (const n of group.names.filter((name) => name in X64.table)) {
        const args = n === 'clone' ? [0x10000011n] : []; // CLONE_NEWUSER|SIGCHLD
        expect(decide(withCap, n, args), `${n} with ${group.cap}`).toBe(SECCOMP_RET_ALLOW);
        if (!unconditional.has(n)) expect(decide(none, n, args), `${n} without`).toBe(n === 'clone3' ? ENOSYS : EPERM);
      }
    });
  }

  it('docker\'s defaults hold CAP_SYS_CHROOT (chroot allowed) and not CAP_SYS_PTRACE (kcmp, pidfd_getfd, process_madvise refused)', () => {
    const prog = compile();
    expect(decide(prog, 'chroot')).toBe(SECCOMP_RET_ALLOW);
    for (const n of ['kcmp', 'pidfd_getfd', 'process_madvise', 'unshare', 'mount', 'setns', 'sethostname', 'bpf', 'perf_event_open', 'mbind', 'reboot', 'open_by_handle_at', 'lsm_list_modules'])
      expect(decide(prog, n), n).toBe(EPERM);
  });

  it('before 4.8 ptrace needs CAP_SYS_PTRACE too', () => {
    expect(decide(compile(DEFAULT_CAPABILITIES, '4.4.0-210-generic'), 'ptrace')).toBe(EPERM);
    expect(decide(compile([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE'], '4.4.0-210-generic'), 'ptrace')).toBe(SECCOMP_RET_ALLOW);
  });
});

describe('the compiled program: a binary search, small and cheap', () => {
  it('stays far below the 4096-instruction limit and decides any syscall in a few dozen steps', () => {
    const prog = compile();
    expect(prog.length).toBeLessThan(400);
    let worst = 0;
    for (let nr = 0; nr < 600; nr++) {
      for (const args of [[0n], [0x10000011n], [0x28n]]) {
        const stats = { steps: 0 };
        runFilter(prog, { nr, arch: X64.audit, args }, stats);
        worst = Math.max(worst, stats.steps);
      }
    }
    // log2(~100 ranges) jumps plus the arch/x32 prelude, plus socket's or personality's argument checks.
    expect(worst).toBeLessThan(48);
    const read = { steps: 0 };
    runFilter(prog, { nr: X64.table.read!, arch: X64.audit }, read);
    expect(read.steps).toBeLessThan(16);
  });

  it('jumps over a left subtree longer than 255 instructions through a ja, and still decides every number', () => {
    // 300 syscalls, each with its own errno: no two neighbours merge, so the tree has 300+ leaves.
    const names = Object.keys(X64.table).filter((n) => X64.table[n]! < 330).slice(0, 300);
    const profile: SeccompProfile = validateProfile({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: names.map((n, i) => ({ names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: 100 + i, args: [{ index: 1, value: 7, op: 'SCMP_CMP_EQ' }] })),
    });
    const prog = compileProfile(profile, { arch: 'x64', capabilities: [] });
    expect(prog.some((i) => i.code === (BPF_JMP | BPF_JA))).toBe(true);
    names.forEach((n, i) => {
      expect(runFilter(prog, { nr: X64.table[n]!, arch: X64.audit, args: [0n, 7n] }) >>> 0, n).toBe((SECCOMP_RET_ERRNO | (100 + i)) >>> 0);
      expect(runFilter(prog, { nr: X64.table[n]!, arch: X64.audit, args: [0n, 8n] }) >>> 0, n).toBe(SECCOMP_RET_ALLOW);
    });
  });

  it('a profile too big for the kernel is one clear error, not a filter the kernel refuses later', () => {
    const names = Object.keys(X64.table);
    const sixArgs = [0, 1, 2, 3, 4, 5].map((index) => ({ index, value: index + 1, op: 'SCMP_CMP_GT' }));
    const profile = validateProfile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: names.map((n) => ({ names: [n], action: 'SCMP_ACT_ERRNO', args: sixArgs })) });
    expect(() => compileProfile(profile, { arch: 'x64' })).toThrow(new RegExp(`^seccomp: the profile compiles to \\d+ BPF instructions, the kernel takes at most ${BPF_MAXINSNS}$`));
  });
});
