// hull's default seccomp profile: docker's allow list (moby/profiles,
// seccomp/default.json as of commit cd3bed8, June 2026), written out as data
// in docker's own format so that one compiler (seccomp.ts) serves it and any
// `--security-opt seccomp=PROFILE.json`.
//
// Why an allow list: a deny list lets through every syscall it does not name,
// and the kernel adds a few each release (futex_waitv, the *xattrat family,
// mseal, lsm_*, open_tree_attr, ...). Each new syscall is new kernel code that
// nobody has attacked yet. With an allow list a container sees a new syscall
// only once someone has decided it is safe, and everything else fails with
// EPERM, the errno a program already handles for "not allowed".
//
// What is left out, and why, is in docs/hardening.md ("seccomp: an allow list").
import { ENOSYS, EPERM, type SeccompProfile, type SeccompRule } from './seccomp.js';

/**
 * Allowed for every container, grouped by what they are for. A name the
 * target architecture lacks (the 32-bit ABIs' `*64`/`*32`/`*_time64` calls on
 * x86_64 and aarch64, `open` on aarch64) compiles to nothing, as libseccomp
 * skips a name it does not know on an architecture.
 */
export const ALLOWED_SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  'files, directories and pipes': [
    'access', 'cachestat', 'chdir', 'chmod', 'chown', 'close', 'close_range', 'copy_file_range', 'creat', 'dup',
    'dup2', 'dup3', 'faccessat', 'faccessat2', 'fadvise64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat',
    'fchmodat2', 'fchown', 'fchownat', 'fcntl', 'fdatasync', 'flock', 'fstat', 'fstatfs', 'fsync', 'ftruncate',
    'futimesat', 'getcwd', 'getdents', 'getdents64', 'ioctl', 'lchown', 'link', 'linkat', 'lseek', 'lstat', 'mkdir',
    'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat', 'openat2', 'pipe', 'pipe2',
    'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
    'readlinkat', 'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'splice', 'stat', 'statfs',
    'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'umask', 'unlink',
    'unlinkat', 'utime', 'utimensat', 'utimes', 'vmsplice', 'write', 'writev',
  ],
  'extended attributes': [
    'fgetxattr', 'flistxattr', 'fremovexattr', 'fsetxattr', 'getxattr', 'getxattrat', 'lgetxattr', 'listxattr',
    'listxattrat', 'llistxattr', 'lremovexattr', 'lsetxattr', 'removexattr', 'removexattrat', 'setxattr',
    'setxattrat',
  ],
  'waiting on files: poll, epoll, inotify, fanotify marks, timerfd, signalfd, eventfd, aio': [
    'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
    'epoll_wait_old', 'eventfd', 'eventfd2', 'fanotify_mark', 'inotify_add_watch', 'inotify_init', 'inotify_init1',
    'inotify_rm_watch', 'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_setup', 'io_submit', 'poll',
    'ppoll', 'pselect6', 'select', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime', 'timerfd_settime',
  ],
  memory: [
    'brk', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock',
    'mlock2', 'mlockall', 'mmap', 'mprotect', 'mremap', 'mseal', 'msync', 'munlock', 'munlockall', 'munmap',
    'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages',
  ],
  'processes, threads, credentials, limits, scheduling': [
    'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'getcpu', 'getegid', 'geteuid',
    'getgid', 'getgroups', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid',
    'getresuid', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'get_thread_area', 'gettid', 'getuid',
    'ioprio_get', 'ioprio_set', 'kill', 'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self',
    'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'process_mrelease', 'restart_syscall', 'rseq',
    'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min',
    'sched_getscheduler', 'sched_rr_get_interval', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
    'sched_setscheduler', 'sched_yield', 'seccomp', 'setfsgid', 'setfsuid', 'setgid', 'setgroups', 'setpgid',
    'setpriority', 'setregid', 'setresgid', 'setresuid', 'setreuid', 'setrlimit', 'set_robust_list', 'setsid',
    'set_thread_area', 'set_tid_address', 'setuid', 'sysinfo', 'tgkill', 'times', 'tkill', 'uname', 'uretprobe',
    'vfork', 'wait4', 'waitid',
  ],
  futexes: ['futex', 'futex_requeue', 'futex_wait', 'futex_waitv', 'futex_wake'],
  signals: [
    'alarm', 'pause', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
    'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo', 'sigaltstack',
  ],
  // Setting the clock goes through clock_adjtime/adjtimex too, but the kernel checks CAP_SYS_TIME there.
  time: [
    'adjtimex', 'clock_adjtime', 'clock_getres', 'clock_gettime', 'clock_nanosleep', 'getitimer', 'gettimeofday',
    'nanosleep', 'setitimer', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime',
    'timer_settime',
  ],
  // socket(2) itself is below: its address family is checked.
  sockets: [
    'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recvfrom',
    'recvmmsg', 'recvmsg', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown', 'socketpair',
  ],
  'System V and POSIX IPC (namespaced by the IPC namespace)': [
    'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedsend', 'mq_unlink', 'msgctl', 'msgget',
    'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'shmat', 'shmctl', 'shmdt', 'shmget',
  ],
  'reading the mount table (statmount/listmount see only the caller\'s mount namespace)': ['listmount', 'statmount'],
  // Kept so the list stays docker's; x86_64 and aarch64 have none of these, so they compile to nothing.
  '32-bit ABIs (i386, arm, ...) and riscv': [
    'chown32', 'clock_adjtime64', 'clock_getres_time64', 'clock_gettime64', 'clock_nanosleep_time64',
    'fadvise64_64', 'fchown32', 'fcntl64', 'fstat64', 'fstatat64', 'fstatfs64', 'ftruncate64', 'futex_time64',
    'getegid32', 'geteuid32', 'getgid32', 'getgroups32', 'getresgid32', 'getresuid32', 'getuid32',
    'io_pgetevents_time64', 'ipc', 'lchown32', '_llseek', 'lstat64', 'mmap2', 'mq_timedreceive_time64',
    'mq_timedsend_time64', '_newselect', 'ppoll_time64', 'pselect6_time64', 'recv', 'recvmmsg_time64',
    'rt_sigtimedwait_time64', 'sched_rr_get_interval_time64', 'semtimedop_time64', 'send', 'sendfile64',
    'setfsgid32', 'setfsuid32', 'setgid32', 'setgroups32', 'setregid32', 'setresgid32', 'setresuid32', 'setreuid32',
    'setuid32', 'sigprocmask', 'sigreturn', 'socketcall', 'stat64', 'statfs64', 'timer_gettime64',
    'timer_settime64', 'timerfd_gettime64', 'timerfd_settime64', 'truncate64', 'ugetrlimit', 'utimensat_time64',
    'waitpid', 'riscv_hwprobe',
  ],
};

/** personality(2) values docker allows: PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and 0xffffffff (query only). */
export const PERSONALITY_VALUES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

export const AF_ALG = 38;
export const AF_VSOCK = 40;

/** CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: what clone(2) must not create without CAP_SYS_ADMIN. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/**
 * Allowed only when the container holds the capability, as docker does:
 * the syscall is useless without it (the kernel would say EPERM anyway), so
 * its code need not be reachable. The set is the container's final one,
 * after --cap-add/--cap-drop.
 */
export const CAPABILITY_SYSCALLS: readonly { cap: string; names: readonly string[]; why: string }[] = [
  {
    cap: 'CAP_SYS_ADMIN',
    why: 'mounts, namespaces, the kernel log, BPF and perf, quotas, lsm_* (LSM state)',
    names: [
      'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
      'lsm_get_self_attr', 'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'mount_setattr', 'move_mount',
      'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog',
      'umount', 'umount2', 'unshare',
    ],
  },
  { cap: 'CAP_DAC_READ_SEARCH', why: 'a file handle opens any inode of the filesystem, outside the mount (the "shocker" escape)', names: ['open_by_handle_at'] },
  { cap: 'CAP_SYS_BOOT', why: 'reboot', names: ['reboot'] },
  { cap: 'CAP_SYS_CHROOT', why: 'chroot', names: ['chroot'] },
  { cap: 'CAP_SYS_MODULE', why: 'kernel modules', names: ['delete_module', 'init_module', 'finit_module'] },
  { cap: 'CAP_SYS_PACCT', why: 'process accounting', names: ['acct'] },
  { cap: 'CAP_SYS_PTRACE', why: 'other processes\' memory and file descriptors', names: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'] },
  { cap: 'CAP_SYS_RAWIO', why: 'x86 I/O ports', names: ['iopl', 'ioperm'] },
  { cap: 'CAP_SYS_TIME', why: 'the host\'s clock (not namespaced)', names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'] },
  { cap: 'CAP_SYS_TTY_CONFIG', why: 'vhangup', names: ['vhangup'] },
  { cap: 'CAP_SYS_NICE', why: 'NUMA memory policy', names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'] },
  { cap: 'CAP_SYSLOG', why: 'the kernel log', names: ['syslog'] },
  { cap: 'CAP_BPF', why: 'BPF programs', names: ['bpf'] },
  { cap: 'CAP_PERFMON', why: 'perf events', names: ['perf_event_open'] },
];

const allow = (names: readonly string[], extra: Omit<SeccompRule, 'names' | 'action'> = {}): SeccompRule => ({ names: [...names], action: 'SCMP_ACT_ALLOW', ...extra });

/**
 * docker's default profile: refuse with EPERM whatever is not allowed below.
 * The rules for one syscall are tried in order, the first match wins; a
 * syscall none of whose rules match gets the default, EPERM.
 */
export function defaultProfile(): SeccompProfile {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'],
    syscalls: [
      allow(Object.values(ALLOWED_SYSCALLS).flat()),
      // Before 4.8 a tracer could change a syscall after seccomp had approved it, so ptrace
      // would bypass this very filter; since 4.8 the kernel re-checks after the tracer.
      allow(['process_vm_readv', 'process_vm_writev', 'ptrace'], { includes: { minKernel: '4.8' } }),
      // socket(2): every address family but AF_ALG (the kernel crypto API, a rich source of
      // kernel bugs) and AF_VSOCK (talks to the hypervisor host, e.g. a VM's agent). The kernel
      // reads the family as a 32-bit int and drops the register's upper half; the upper bound
      // on the last range stops 0x1_00000028 (seen as AF_VSOCK) from passing as "> 40".
      // docker's rule has no such bound (see docs/hardening.md).
      allow(['socket'], { args: [{ index: 0, value: AF_ALG, op: 'SCMP_CMP_LT' }] }),
      allow(['socket'], { args: [{ index: 0, value: AF_ALG + 1, op: 'SCMP_CMP_EQ' }] }),
      allow(['socket'], { args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_GT' }, { index: 0, value: 0xffffffff, op: 'SCMP_CMP_LE' }] }),
      // personality(2) can turn on READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE (no ASLR): allow only
      // the values real programs use (linux32, uname26, and asking for the current one).
      ...PERSONALITY_VALUES.map((value) => allow(['personality'], { args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
      allow(['arch_prctl'], { includes: { arches: ['amd64', 'x32'] } }),
      allow(['modify_ldt'], { includes: { arches: ['amd64', 'x32', 'x86'] } }),
      allow(['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], { includes: { arches: ['arm', 'arm64'] } }),
      ...CAPABILITY_SYSCALLS.map((group) => allow(group.names, { includes: { caps: [group.cap] }, comment: group.why })),
      // clone(2) makes threads and processes; without CAP_SYS_ADMIN, not namespaces. Its flags
      // are a register, so the filter can test them.
      allow(['clone'], { args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } }),
      // clone3(2) passes its flags in a struct in memory, which a filter cannot read. ENOSYS
      // ("no such syscall") makes glibc 2.34+ and musl fall back to clone(2), checked above.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    ],
  };
}
