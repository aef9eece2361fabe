import koffi from 'koffi';
import { dlopen, LIBC } from './dlopen.js';

// errno number -> name (EPERM, EBUSY, ...), from the table koffi ships for this OS.
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno)) {
  // Several names share a number (EAGAIN/EWOULDBLOCK, EDEADLK/EDEADLOCK): keep the first, the common one.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of an errno value, e.g. 1 -> "EPERM". */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The errno value of a symbolic name, e.g. "ENOENT" -> 2. */
export function errnoValue(name: string): number {
  const value = koffi.os.errno[name];
  if (value === undefined) throw new TypeError(`unknown errno name ${name}`);
  return value;
}

function formatArg(arg: unknown): string {
  if (typeof arg === 'string') return JSON.stringify(arg);
  if (typeof arg === 'bigint') return `${arg}`;
  return String(arg);
}

/**
 * The one error type for a failed syscall. Its message reads like strace:
 *   mount("proc", "/x/proc", "proc"): EPERM (Operation not permitted)
 */
export class SyscallError extends Error {
  readonly syscall: string;
  readonly errno: number;
  /** The errno name, like Node's own system errors (err.code === 'ENOENT'). */
  readonly code: string;
  readonly args: readonly unknown[];

  constructor(syscall: string, errno: number, args: readonly unknown[] = [], detail?: string) {
    const code = errnoName(errno);
    const reason = detail ?? describeErrno(errno);
    super(`${syscall}(${args.map(formatArg).join(', ')}): ${code}${reason ? ` (${reason})` : ''}`);
    this.name = 'SyscallError';
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
    this.args = args;
  }
}

let strerror: ((errno: number) => string) | undefined;

/** libc's description of an errno ("No such file or directory"). */
export function describeErrno(errno: number): string {
  if (!strerror) {
    // An int in, a static string out: nothing for ffi.ts's NUL guard to check.
    strerror = dlopen(LIBC).func('const char *strerror(int errnum)') as (errno: number) => string;
  }
  return strerror(errno);
}

/** errno as it was right after the last koffi call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * The C convention, turned into the one error type: a libc call or raw
 * syscall(2) returns -1 and leaves the reason in errno. Every binding in hull
 * checks its return value here; the value is returned otherwise (an fd, a
 * byte count), as a number.
 */
export function checkErrno(ret: number | bigint, syscall: string, args: readonly unknown[] = []): number {
  const n = Number(ret);
  if (n < 0) throw new SyscallError(syscall, lastErrno(), args);
  return n;
}
