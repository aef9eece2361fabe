// Raw libc symbols through koffi. Nothing here checks errors or adds logic:
// syscalls.ts wraps each one into a typed function that throws SyscallError
// (through errors.ts's checkErrno).
import { LIBC } from './dlopen.js';
import { loadLibrary } from './ffi.js';

/**
 * The one libc handle: every module that binds a libc function (here and in
 * the chapters) binds it from this, each function guarded against
 * NUL-holding strings (ffi.ts).
 */
export const libc = loadLibrary(LIBC);

type Fn<A extends unknown[], R> = (...args: A) => R;
type Ptr = Buffer | Int32Array | null;
type StrArray = (string | null)[];

export const raw = {
  unshare: libc.func('int unshare(int flags)') as Fn<[number], number>,
  setns: libc.func('int setns(int fd, int nstype)') as Fn<[number, number], number>,
  sethostname: libc.func('int sethostname(const char *name, size_t len)') as Fn<[string, number], number>,
  gethostname: libc.func('int gethostname(char *name, size_t len)') as Fn<[Buffer, number], number>,
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as Fn<
    [string | null, string, string | null, number, string | null],
    number
  >,
  umount2: libc.func('int umount2(const char *target, int flags)') as Fn<[string, number], number>,
  chroot: libc.func('int chroot(const char *path)') as Fn<[string], number>,
  chdir: libc.func('int chdir(const char *path)') as Fn<[string], number>,
  fchdir: libc.func('int fchdir(int fd)') as Fn<[number], number>,
  execve: libc.func('int execve(const char *path, const char **argv, const char **envp)') as Fn<[string, StrArray, StrArray], number>,
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Fn<[string, number, bigint | number], number>,
  pipe2: libc.func('int pipe2(int *fds, int flags)') as Fn<[Int32Array, number], number>,
  dup2: libc.func('int dup2(int oldfd, int newfd)') as Fn<[number, number], number>,
  close: libc.func('int close(int fd)') as Fn<[number], number>,
  read: libc.func('intptr_t read(int fd, void *buf, size_t count)') as Fn<[number, Buffer, number], number>,
  write: libc.func('intptr_t write(int fd, const void *buf, size_t count)') as Fn<[number, Buffer, number], number>,
  open: libc.func('int open(const char *path, int flags, uint32_t mode)') as Fn<[string, number, number], number>,
  fcntl: libc.func('int fcntl(int fd, int cmd, long arg)') as Fn<[number, number, number], number>,
  kill: libc.func('int kill(int pid, int sig)') as Fn<[number, number], number>,
  waitpid: libc.func('int waitpid(int pid, int *status, int options)') as Fn<[number, Int32Array, number], number>,
  prctl: libc.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)') as Fn<
    [number, number, number, number, number],
    number
  >,
  setresuid: libc.func('int setresuid(uint32_t r, uint32_t e, uint32_t s)') as Fn<[number, number, number], number>,
  setresgid: libc.func('int setresgid(uint32_t r, uint32_t e, uint32_t s)') as Fn<[number, number, number], number>,
  setgroups: libc.func('int setgroups(size_t size, const uint32_t *list)') as Fn<[number, Uint32Array | null], number>,
  getuid: libc.func('uint32_t getuid()') as Fn<[], number>,
  geteuid: libc.func('uint32_t geteuid()') as Fn<[], number>,
  getgid: libc.func('uint32_t getgid()') as Fn<[], number>,
  getegid: libc.func('uint32_t getegid()') as Fn<[], number>,
  getpid: libc.func('int getpid()') as Fn<[], number>,
  setsid: libc.func('int setsid()') as Fn<[], number>,
  umask: libc.func('uint32_t umask(uint32_t mask)') as Fn<[number], number>,
  // Variadic: pass (number, 'type', value, 'type', value...). Used for syscalls glibc does not wrap.
  syscall: libc.func('long syscall(long number, ...)') as (...args: unknown[]) => number | bigint,
};

export type { Ptr };
