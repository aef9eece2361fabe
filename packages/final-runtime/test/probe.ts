// A static C probe for the attack tests that busybox cannot do by itself:
// ioctl(TIOCSTI), listing /proc/self/fd without counting its own dir fd,
// open(2) for writing with the errno name, its session. Compiled with
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

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
