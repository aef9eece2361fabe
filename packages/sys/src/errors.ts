import koffi from 'koffi';

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
    const libc = koffi.load('libc.so.6');
    strerror = libc.func('const char *strerror(int errnum)') as (errno: number) => string;
  }
  return strerror(errno);
}
