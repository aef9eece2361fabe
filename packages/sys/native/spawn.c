/*
 * hull's only C: the code that must run between clone() and execve().
 *
 * Why it exists (docs/architecture.md has the long version):
 *   - Node is multithreaded, and the kernel refuses unshare(CLONE_NEWUSER) and
 *     setns() into a user namespace from a multithreaded process (EINVAL).
 *   - JS cannot run in a forked child: V8's heap is MADV_DONTFORK, so the
 *     child segfaults as soon as it returns into JS.
 * So the child created here never returns to JS. It only makes syscalls that
 * are async-signal-safe, waits for the parent to prepare it (uid/gid maps,
 * cgroup, network), and then execs. runc's nsexec.c exists for the same reason.
 *
 * The decisions (which namespaces, which fds, which program) are all taken in
 * TypeScript; this file has no policy of its own.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HULL_OPT_BECOME_ROOT 1 /* in a new user namespace: setresuid/gid(0) after the maps are written */
#define HULL_OPT_SETSID 2      /* start a new session (a pty's controlling terminal needs one) */
#define HULL_OPT_SETCTTY 4     /* make fd 0 the controlling terminal */
#define HULL_OPT_HARDEN 8      /* join only: apply the bounding set, capset and ambient clear given */
#define HULL_OPT_NO_NEW_PRIVS 16 /* join only: PR_SET_NO_NEW_PRIVS */
#define HULL_OPT_SECCOMP_EARLY 32 /* join only: load the filter before the capabilities go (no no_new_privs) */
#define HULL_OPT_READONLY_EXE 64 /* spawn only, in a new mount namespace: exec `path` through a read-only bind of itself */

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What the child reports when it cannot go on. The parent reads 8 bytes:
 * which step failed and the errno. EOF instead means execve() succeeded,
 * because the pipe is close-on-exec. */
enum hull_step {
  STEP_SYNC = 1,
  STEP_SETGID = 2,
  STEP_SETGROUPS = 3,
  STEP_SETUID = 4,
  STEP_SETSID = 5,
  STEP_SETCTTY = 6,
  STEP_DUP = 7,
  STEP_EXECVE = 8,
  STEP_PDEATHSIG = 9,
  STEP_SETNS = 10,
  STEP_FORK = 11,
  STEP_CHDIR = 12,
  STEP_CAPBSET_DROP = 13,
  STEP_KEEPCAPS = 14,
  STEP_CAPSET = 15,
  STEP_AMBIENT = 16,
  STEP_NO_NEW_PRIVS = 17,
  STEP_SECCOMP = 18,
  STEP_DUMPABLE = 19,
  STEP_CLOSE_RANGE = 20,
  STEP_CWD = 21,
  STEP_READONLY_EXE = 22,
  STEP_OWN_EXE = 23,
};

/* hull_spawn_join reports the pid of the process that will exec with this
 * "step" (it is not a failure), see below. */
#define STEP_PID 0

static void report(int err_fd, int32_t step, int32_t err) {
  int32_t msg[2] = {step, err};
  ssize_t ignored = write(err_fd, msg, sizeof msg);
  (void)ignored;
}

static void child_fail(int err_fd, int32_t step) {
  report(err_fd, step, errno);
  _exit(127);
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &sa, NULL); /* fails harmlessly for the signals glibc reserves */
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Move fds[i] to fd i for every i, without clobbering a source that is also a
 * target: first copy every source above all targets, then dup2 down (dup2
 * clears FD_CLOEXEC on the new fd, which is exactly what we want). */
static int remap_fds(const int *fds, int nfds, int floor) {
  int tmp[64];
  if (nfds > 64) { errno = EINVAL; return -1; }
  for (int i = 0; i < nfds; i++) {
    tmp[i] = -1;
    if (fds[i] < 0) continue;
    tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, floor);
    if (tmp[i] < 0) return -1;
  }
  for (int i = 0; i < nfds; i++) {
    if (tmp[i] < 0) { close(i); continue; }
    if (dup2(tmp[i], i) < 0) return -1;
    close(tmp[i]);
  }
  return 0;
}

/*
 * The first steps of every child, in order: reset signals -> PDEATHSIG ->
 * move the report pipe out of the way -> wait for the sync byte.
 * Returns the (possibly moved) report fd.
 */
static int child_start(int err_fd, int sync_fd, int pdeathsig, int floor) {
  /* ---- child: no malloc, no stdio, no JS from here on ---- */
  reset_signals();

  /* Die with the parent. If it died before this line, the sync read below
   * sees EOF (its write end closed with it), so no getppid() check is needed;
   * one would not work anyway: in a new PID namespace getppid() is 0. */
  if (pdeathsig > 0) {
    if (prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0) < 0) child_fail(err_fd, STEP_PDEATHSIG);
  }

  /* Keep the report pipe clear of the fd numbers we are about to fill. */
  if (err_fd < floor) {
    int moved = fcntl(err_fd, F_DUPFD_CLOEXEC, floor + 64);
    if (moved < 0) _exit(127);
    err_fd = moved;
  }

  /* The parent writes uid/gid maps, joins us to a cgroup and wires the
   * network while we block here. EOF means it gave up on us. */
  char go = 0;
  ssize_t n;
  do {
    n = read(sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    if (n == 0) errno = ECANCELED;
    child_fail(err_fd, STEP_SYNC);
  }
  close(sync_fd);
  return err_fd;
}

/* seccomp(SECCOMP_SET_MODE_FILTER): the kernel copies the program. */
static void load_filter(int err_fd, const struct sock_fprog *filter) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) < 0) child_fail(err_fd, STEP_SECCOMP);
}

/*
 * Every fd above the listed ones gets FD_CLOEXEC, so that execve closes it:
 * whatever Node (or whoever started hull) left open without O_CLOEXEC, a
 * host file, a directory, a pipe, must not reach the container. runc's
 * CVE-2024-21626 was such a leaked directory fd (used as the working
 * directory through /proc/self/fd/N). CLOEXEC rather than close, because the
 * report pipe above them must stay usable until execve itself.
 */
static int cloexec_unlisted(int nfds) {
  if (syscall(SYS_close_range, (unsigned int)nfds, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return -1;
  /* Before Linux 5.11: one fcntl per possible fd (EBADF for the closed ones). */
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = nfds; fd < max; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

/*
 * CVE-2019-5736's class: while the process that execs the container's
 * command is still `path` (node), the kernel resolves a `#!/proc/self/exe`
 * interpreter, or /proc/PID/exe opened by the container, to this very file.
 * Exec it through a read-only bind mount of itself, made in our own mount
 * namespace (private first, so nothing propagates to the host's): the exe
 * link then points through an MS_RDONLY mount, and an open for writing gets
 * EROFS. A bind takes MS_RDONLY only on remount, which must repeat the flags
 * the kernel may have locked (nosuid, nodev...) in a user namespace.
 */
static int readonly_exe(const char *path) {
  struct statfs st;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -1;
  if (mount(path, path, NULL, MS_BIND, NULL) < 0) return -1;
  if (statfs(path, &st) < 0) return -1;
  unsigned long keep = (unsigned long)st.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL);
}

/* PT_INTERP of an ELF whose first n bytes are in buf, into interp; 1 if it has one. */
static int elf_interp(int fd, const unsigned char *buf, ssize_t n, char *interp, size_t size) {
  int is64 = buf[EI_CLASS] == ELFCLASS64;
  if (n < (ssize_t)(is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) return 0;
  const Elf64_Ehdr *e64 = (const Elf64_Ehdr *)buf;
  const Elf32_Ehdr *e32 = (const Elf32_Ehdr *)buf;
  off_t phoff = is64 ? (off_t)e64->e_phoff : (off_t)e32->e_phoff;
  int phnum = is64 ? e64->e_phnum : e32->e_phnum;
  int phentsize = is64 ? e64->e_phentsize : e32->e_phentsize;
  for (int i = 0; i < phnum && i < 64; i++) {
    unsigned char ph[sizeof(Elf64_Phdr)];
    if (phentsize > (int)sizeof ph || pread(fd, ph, (size_t)phentsize, phoff + (off_t)i * phentsize) != phentsize) return 0;
    uint32_t type = is64 ? ((Elf64_Phdr *)ph)->p_type : ((Elf32_Phdr *)ph)->p_type;
    if (type != PT_INTERP) continue;
    off_t off = is64 ? (off_t)((Elf64_Phdr *)ph)->p_offset : (off_t)((Elf32_Phdr *)ph)->p_offset;
    size_t len = is64 ? (size_t)((Elf64_Phdr *)ph)->p_filesz : (size_t)((Elf32_Phdr *)ph)->p_filesz;
    if (len == 0 || len >= size || pread(fd, interp, len, off) != (ssize_t)len) return 0;
    interp[len] = 0;
    return 1;
  }
  return 0;
}

/* exec_binprm (fs/exec.c, Linux 5.8+) hands the file at depth 0..5 to a binfmt
 * handler and refuses a 6th (ELOOP): five "#!" (or binfmt_misc) rewrites, and the
 * ELF at the end of them may still name a PT_INTERP. Older kernels stopped earlier
 * (BINPRM_MAX_RECURSION, 4), so following five is never too few. */
#define EXEC_MAX_DEPTH 5

static int same_file(const char *path, dev_t dev, ino_t ino) {
  struct stat st;
  return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/*
 * Would execve(path) make the kernel run the file (dev, ino)? It follows what
 * the kernel follows: the path itself, a "#!" interpreter (up to the first
 * blank, as binfmt_script reads it; scripts may nest, EXEC_MAX_DEPTH deep),
 * and the PT_INTERP of an ELF at any of those depths (the ELF loader maps it
 * without a depth check; its own PT_INTERP is not followed).
 * CVE-2019-5736: those names are resolved by the exec'ing process, whose
 * /proc/self/exe is still hull's node, so `#!/proc/self/exe` runs the host's
 * node inside the container. Anything unreadable counts as "no": execve then
 * fails on it by itself. binfmt_misc handlers are not followed (docs/hardening.md).
 */
static int exec_reaches(const char *path, dev_t dev, ino_t ino, int depth) {
  struct stat st;
  if (depth > EXEC_MAX_DEPTH) return 0; /* the kernel opens it, then refuses to run it */
  if (stat(path, &st) < 0) return 0;
  if (st.st_dev == dev && st.st_ino == ino) return 1;
  if (!S_ISREG(st.st_mode)) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  unsigned char buf[256];
  char interp[256];
  int script = 0, elf = 0;
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
    buf[n] = 0;
    const char *p = (const char *)buf + 2;
    while (*p == ' ' || *p == '\t') p++;
    size_t len = 0;
    while (p[len] && p[len] != ' ' && p[len] != '\t' && p[len] != '\n') len++;
    if (len > 0 && len < sizeof interp) {
      memcpy(interp, p, len);
      interp[len] = 0;
      script = 1;
    }
  } else if (n >= 5 && memcmp(buf, ELFMAG, SELFMAG) == 0) {
    elf = elf_interp(fd, buf, n, interp, sizeof interp);
  }
  close(fd);
  if (elf) return same_file(interp, dev, ino);
  return script && exec_reaches(interp, dev, ino, depth + 1);
}

/* For the Node init stage, just before its execve: 1 if `path` would run our own executable. */
int hull_exec_reaches_self(const char *path) {
  struct stat self;
  if (stat("/proc/self/exe", &self) < 0) return 0; /* no /proc: no /proc/self/exe to reach either */
  return exec_reaches(path, self.st_dev, self.st_ino, 0);
}

/* The last steps of every child: session and terminal, fds, then the seccomp
 * filter if any (last, so that only execve has to pass it), execve. */
static void child_exec(int err_fd, const char *path, char *const argv[], char *const envp[], const int *fds, int nfds,
                       int floor, int options, const struct sock_fprog *filter) {
  if (options & HULL_OPT_SETSID) {
    if (setsid() < 0) child_fail(err_fd, STEP_SETSID);
  }
  if (remap_fds(fds, nfds, floor + 128) < 0) child_fail(err_fd, STEP_DUP);
  if (cloexec_unlisted(nfds) < 0) child_fail(err_fd, STEP_CLOSE_RANGE);
  if (options & HULL_OPT_SETCTTY) {
    if (ioctl(0, TIOCSCTTY, 0) < 0) child_fail(err_fd, STEP_SETCTTY);
  }
  if ((options & HULL_OPT_READONLY_EXE) && readonly_exe(path) < 0) child_fail(err_fd, STEP_READONLY_EXE);
  if (filter) load_filter(err_fd, filter);
  execve(path, argv, envp);
  child_fail(err_fd, STEP_EXECVE);
}

/*
 * Clone a child into new namespaces (flags: CLONE_NEW*), then:
 *   reset signals -> PDEATHSIG -> wait for one byte on sync_fd -> become root
 *   of a new user namespace -> setsid -> fds (the listed ones moved into
 *   place, every other one close-on-exec) -> ctty -> [read-only exe] -> execve.
 * Returns the child's pid, or -errno. With no CLONE_VM and a NULL stack,
 * clone() behaves like fork(): the child runs on a copy of our stack.
 */
int hull_spawn(unsigned long flags, const char *path, char *const argv[], char *const envp[],
               const int *fds, int nfds, int sync_fd, int err_fd, int pdeathsig, int options) {
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
  if (pid < 0) return -errno;
  if (pid > 0) return pid;

  int floor = nfds > 3 ? nfds : 3;
  err_fd = child_start(err_fd, sync_fd, pdeathsig, floor);

  if (options & HULL_OPT_BECOME_ROOT) {
    /* Order matters: setgroups needs CAP_SETGID, which a uid change would drop. */
    if (setresgid(0, 0, 0) < 0) child_fail(err_fd, STEP_SETGID);
    /* EPERM here means the parent wrote setgroups=deny (unprivileged maps):
     * the group list is then frozen, which is the point of deny. */
    if (setgroups(0, NULL) < 0 && errno != EPERM) child_fail(err_fd, STEP_SETGROUPS);
    if (setresuid(0, 0, 0) < 0) child_fail(err_fd, STEP_SETUID);
  }

  child_exec(err_fd, path, argv, envp, fds, nfds, floor, options, NULL);
  return -1; /* not reached */
}

/*
 * `hull exec`: start a process inside the namespaces of a running container.
 *
 *   clone() -> child: wait for the sync byte (the parent has put it in the
 *   container's cgroup) -> non-dumpable -> setns(pidfd, ns_flags), all
 *   namespaces at once -> clone(CLONE_PARENT) -> grandchild: chdir and check
 *   that "/" reaches the new cwd, [seccomp if early], [bounding set,
 *   KEEPCAPS off], user, [capset, ambient cleared, no_new_privs], fds,
 *   [seccomp], execve. The bracketed steps are the container's hardening
 *   (HULL_OPT_HARDEN; the values come from TypeScript, docs/hardening.md):
 *   without them the process would keep hull's own capabilities.
 *
 * Why two steps: setns() into a PID namespace changes only the namespace of
 * the caller's future children (pid_namespaces(7)), so the process that execs
 * must be forked after it. CLONE_PARENT makes that grandchild a child of the
 * caller (Node), which can then wait for it; the middle child reports the
 * grandchild's pid on err_fd as {STEP_PID, pid} and exits at once.
 * The child is single-threaded, which setns() into a mount or user namespace
 * requires (the multithreaded Node process could not do this itself).
 *
 * Hardening parameters (read only with HULL_OPT_HARDEN):
 *   last_cap     /proc/sys/kernel/cap_last_cap: the bounding set is walked up to it;
 *   caps         8 words, low then high 32 bits of: the bounding set to keep,
 *                then effective, permitted, inheritable for capset(2);
 *   filter       struct sock_filter[filter_len], or NULL for no seccomp filter.
 *
 * Returns the middle child's pid (the caller reaps it), or -errno.
 */
int hull_spawn_join(int target_pidfd, unsigned long ns_flags, const char *cwd, int set_user, unsigned int uid,
                    unsigned int gid, const unsigned int *groups, int ngroups, const char *path, char *const argv[],
                    char *const envp[], const int *fds, int nfds, int sync_fd, int err_fd, int pdeathsig, int options,
                    int last_cap, const uint32_t *caps, const struct sock_filter *filter, int filter_len) {
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) return -errno;
  if (pid > 0) return pid;

  /* ---- middle child ---- */
  int floor = nfds > 3 ? nfds : 3;
  err_fd = child_start(err_fd, sync_fd, pdeathsig, floor);

  /* CVE-2016-9962's class: from setns() on, the container's processes can see
   * us (and the grandchild, which inherits this), while we still hold hull's
   * fds and memory. Non-dumpable, ptrace and /proc/PID/fd|mem|environ are
   * refused to anyone without CAP_SYS_PTRACE over us; execve makes the
   * container's program dumpable again. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) child_fail(err_fd, STEP_DUMPABLE);
  /* Our executable (hull's node) as the host sees it, for the check before execve. */
  struct stat self;
  if (stat("/proc/self/exe", &self) < 0) child_fail(err_fd, STEP_OWN_EXE);

  if (setns(target_pidfd, (int)ns_flags) < 0) child_fail(err_fd, STEP_SETNS);
  close(target_pidfd);

  pid_t grandchild = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, NULL);
  if (grandchild < 0) child_fail(err_fd, STEP_FORK);
  if (grandchild > 0) {
    report(err_fd, STEP_PID, grandchild);
    _exit(0);
  }

  /* ---- grandchild: in every namespace of the container now ---- */
  /* PDEATHSIG does not survive clone(); our parent is now the caller itself. */
  if (pdeathsig > 0 && prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0) < 0) child_fail(err_fd, STEP_PDEATHSIG);
  /* setns(CLONE_NEWNS) left us at the container's "/"; go where asked. */
  if (cwd && chdir(cwd) < 0) child_fail(err_fd, STEP_CHDIR);
  /* CVE-2024-21626's class: a cwd such as /proc/self/fd/N follows a magic
   * link to wherever fd N points, on the host too. The kernel's getcwd()
   * marks a directory that "/" cannot reach ("(unreachable)/..."): refuse it. */
  char where[4096];
  long got = syscall(SYS_getcwd, where, sizeof where);
  if (got < 0) child_fail(err_fd, STEP_CWD);
  if (where[0] != '/') {
    errno = ENOENT;
    child_fail(err_fd, STEP_CWD);
  }
  /* CVE-2019-5736's class: until execve we are a copy of hull's node, so a
   * `#!/proc/self/exe` program would run the host's node in the container,
   * which could then keep it open and rewrite it once no node runs. */
  if (exec_reaches(path, self.st_dev, self.st_ino, 0)) {
    errno = EPERM;
    child_fail(err_fd, STEP_OWN_EXE);
  }

  int harden = (options & HULL_OPT_HARDEN) != 0;
  struct sock_fprog prog = {(unsigned short)filter_len, (struct sock_filter *)filter};
  const struct sock_fprog *late_filter = harden && filter ? &prog : NULL;
  if (harden) {
    /* Without no_new_privs the kernel wants CAP_SYS_ADMIN to load a filter,
     * which the steps below take away: load it now, as `hull run` does. */
    if (late_filter && (options & HULL_OPT_SECCOMP_EARLY)) {
      load_filter(err_fd, late_filter);
      late_filter = NULL;
    }
    /* PR_CAPBSET_DROP needs CAP_SETPCAP, which the uid switch below may take. */
    for (int cap = 0; cap <= last_cap; cap++) {
      if ((caps[cap / 32] >> (cap % 32)) & 1u) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) child_fail(err_fd, STEP_CAPBSET_DROP);
    }
    /* With KEEPCAPS off, leaving uid 0 empties the permitted and effective sets. */
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail(err_fd, STEP_KEEPCAPS);
  }
  if (set_user) {
    if (setgroups((size_t)ngroups, (const gid_t *)groups) < 0) child_fail(err_fd, STEP_SETGROUPS);
    if (setresgid(gid, gid, gid) < 0) child_fail(err_fd, STEP_SETGID);
    if (setresuid(uid, uid, uid) < 0) child_fail(err_fd, STEP_SETUID);
  }
  if (harden) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
      data[i].effective = caps[2 + i];
      data[i].permitted = caps[4 + i];
      data[i].inheritable = caps[6 + i];
    }
    if (syscall(SYS_capset, &header, data) < 0) child_fail(err_fd, STEP_CAPSET);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) child_fail(err_fd, STEP_AMBIENT);
    if ((options & HULL_OPT_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(err_fd, STEP_NO_NEW_PRIVS);
  }
  child_exec(err_fd, path, argv, envp, fds, nfds, floor, options, late_filter);
  return -1; /* not reached */
}
