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
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HULL_OPT_BECOME_ROOT 1 /* in a new user namespace: setresuid/gid(0) after the maps are written */
#define HULL_OPT_SETSID 2      /* start a new session (a pty's controlling terminal needs one) */
#define HULL_OPT_SETCTTY 4     /* make fd 0 the controlling terminal */

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

/* The last steps of every child: session and terminal, fds, execve. */
static void child_exec(int err_fd, const char *path, char *const argv[], char *const envp[], const int *fds, int nfds,
                       int floor, int options) {
  if (options & HULL_OPT_SETSID) {
    if (setsid() < 0) child_fail(err_fd, STEP_SETSID);
  }
  if (remap_fds(fds, nfds, floor + 128) < 0) child_fail(err_fd, STEP_DUP);
  if (options & HULL_OPT_SETCTTY) {
    if (ioctl(0, TIOCSCTTY, 0) < 0) child_fail(err_fd, STEP_SETCTTY);
  }
  execve(path, argv, envp);
  child_fail(err_fd, STEP_EXECVE);
}

/*
 * Clone a child into new namespaces (flags: CLONE_NEW*), then:
 *   reset signals -> PDEATHSIG -> wait for one byte on sync_fd -> become root
 *   of a new user namespace -> setsid/ctty -> fds -> execve.
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

  child_exec(err_fd, path, argv, envp, fds, nfds, floor, options);
  return -1; /* not reached */
}

/*
 * `hull exec`: start a process inside the namespaces of a running container.
 *
 *   clone() -> child: wait for the sync byte (the parent has put it in the
 *   container's cgroup) -> setns(pidfd, ns_flags), all namespaces at once ->
 *   clone(CLONE_PARENT) -> grandchild: chdir, user, fds, execve.
 *
 * Why two steps: setns() into a PID namespace changes only the namespace of
 * the caller's future children (pid_namespaces(7)), so the process that execs
 * must be forked after it. CLONE_PARENT makes that grandchild a child of the
 * caller (Node), which can then wait for it; the middle child reports the
 * grandchild's pid on err_fd as {STEP_PID, pid} and exits at once.
 * The child is single-threaded, which setns() into a mount or user namespace
 * requires (the multithreaded Node process could not do this itself).
 *
 * Returns the middle child's pid (the caller reaps it), or -errno.
 */
int hull_spawn_join(int target_pidfd, unsigned long ns_flags, const char *cwd, int set_user, unsigned int uid,
                    unsigned int gid, const unsigned int *groups, int ngroups, const char *path, char *const argv[],
                    char *const envp[], const int *fds, int nfds, int sync_fd, int err_fd, int pdeathsig, int options) {
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) return -errno;
  if (pid > 0) return pid;

  /* ---- middle child ---- */
  int floor = nfds > 3 ? nfds : 3;
  err_fd = child_start(err_fd, sync_fd, pdeathsig, floor);

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
  if (set_user) {
    if (setgroups((size_t)ngroups, (const gid_t *)groups) < 0) child_fail(err_fd, STEP_SETGROUPS);
    if (setresgid(gid, gid, gid) < 0) child_fail(err_fd, STEP_SETGID);
    if (setresuid(uid, uid, uid) < 0) child_fail(err_fd, STEP_SETUID);
  }
  child_exec(err_fd, path, argv, envp, fds, nfds, floor, options);
  return -1; /* not reached */
}
