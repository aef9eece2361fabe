// A static C probe for the attack tests that busybox cannot do by itself:
// ioctl(TIOCSTI), listing /proc/self/fd without counting its own dir fd,
// open(2) for writing with the errno name, its session, and what /proc shows
// of a process held inside execve by a file lease. Compiled with
// `cc -static` (gcc + libc6-dev, which .ci/run installs for the native helper).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* What a process in the container can take from another one through /proc:
 * its environment (the memory of its mm) and where each of its fds leads. */
static void report_process(int pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  int f = open(path, O_RDONLY);
  ssize_t n = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
  if (f >= 0) close(f);
  buf[n > 0 ? n - 1 : 0] = 0;
  printf("pid=%d comm=%s", pid, buf);
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  f = open(path, O_RDONLY);
  if (f < 0) {
    printf(" environ=%s", strerrorname_np(errno));
  } else {
    n = read(f, buf, sizeof buf - 1);
    close(f);
    for (ssize_t i = 0; i < n; i++) if (!buf[i]) buf[i] = ' ';
    buf[n > 0 ? n : 0] = 0;
    printf(" environ=readable:%s", buf);
  }
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR *d = opendir(path);
  if (!d) {
    printf(" fds=%s\n", strerrorname_np(errno));
    return;
  }
  printf(" fds=");
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    n = readlinkat(dirfd(d), e->d_name, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("%s:%s,", e->d_name, n < 0 ? strerrorname_np(errno) : buf);
  }
  closedir(d);
  printf("\n");
}

/* Push every byte of text into fd's input queue, as a person typing. */
static const char *inject(int fd, const char *text) {
  for (const char *c = text; *c; c++)
    if (ioctl(fd, TIOCSTI, c) < 0) return strerrorname_np(errno);
  return "ok";
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *op = argv[1];
  if (!strcmp(op, "tiocsti") && argc > 2) { /* tiocsti FILE: inject FILE's text via /dev/tty and fds 0-2 */
    char text[512] = {0};
    int f = open(argv[2], O_RDONLY);
    if (f < 0 || read(f, text, sizeof text - 1) < 0) return 3;
    close(f);
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    printf("tty: %s\n", tty < 0 ? strerrorname_np(errno) : inject(tty, text));
    for (int fd = 0; fd < 3; fd++) printf("fd%d: %s\n", fd, inject(fd, text));
    printf("session-leader: %s\n", getsid(0) == getpid() ? "yes" : "no");
    return 0;
  }
  if (!strcmp(op, "fds")) { /* the open fds, without the one the listing uses */
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 3;
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) printf("%s ", e->d_name);
    printf("\n");
    return 0;
  }
  if (!strcmp(op, "openw")) { /* openw PATH...: open for writing (never writes), print the outcome */
    for (int i = 2; i < argc; i++) {
      int fd = open(argv[i], O_WRONLY);
      printf("%s: %s\n", argv[i], fd < 0 ? strerrorname_np(errno) : "ok");
      if (fd >= 0) close(fd);
    }
    return 0;
  }
  if (!strcmp(op, "lease") && argc > 2) { /* lease FILE: hold a write lease on FILE; an open(2) of it then waits */
    /* Until we let go (fcntl(2), "Leases"): so a process that execs FILE as its ELF interpreter stops
     * inside execve, before the point of no return, still the program it was. Report every other process then. */
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO); /* the lease-break signal; blocked, so that it does not kill us */
    sigprocmask(SIG_BLOCK, &io, NULL);
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) < 0) { printf("lease: %s\n", strerrorname_np(errno)); return 3; }
    printf("leased\n");
    fflush(stdout);
    struct timespec limit = {60, 0};
    if (sigtimedwait(&io, NULL, &limit) < 0) { printf("no open came: %s\n", strerrorname_np(errno)); return 4; }
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc))) {
      int pid = atoi(e->d_name);
      if (pid > 0 && pid != getpid()) report_process(pid);
    }
    fflush(stdout);
    fcntl(fd, F_SETLEASE, F_UNLCK);
    close(fd);
    return 0;
  }
  return 2;
}
`;

let built: Buffer | undefined;

/** The probe's bytes (compiled once per test file). */
export function probeBinary(): Buffer {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'hull-probe-'));
  try {
    writeFileSync(join(dir, 'probe.c'), PROBE_C);
    execFileSync('cc', ['-static', '-O1', '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    built = readFileSync(join(dir, 'probe'));
    return built;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
