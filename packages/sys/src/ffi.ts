// The one door between JavaScript strings and C strings. A JS string may hold
// U+0000 anywhere; C reads a `const char *` only up to the first NUL. So a name
// that JS checked as "..\0x" reaches the kernel as "..": every check made in
// JS is void. (A tar PAX `path` record is the way in: see
// packages/07-oci-pull/src/extract/README.md.) Every native binding in
// packages/sys is made here, and each call refuses a string argument that holds
// a NUL, before any C code runs, so no caller can repeat that mistake.
import type { LibraryHandle } from 'koffi';
import { dlopen } from './dlopen.js';
import { SyscallError } from './errors.js';

const EINVAL = 22;

type NativeFunction = ReturnType<LibraryHandle['func']>;

/** A binding's C name, from its prototype ("int openat(int dirfd, ...)" -> "openat"). */
function nameOf(prototype: string): string {
  return /([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(prototype)?.[1] ?? prototype;
}

/**
 * Throw SyscallError(EINVAL) when an argument, or a string of an argument
 * array (argv, envp), holds a NUL. Like the kernel's own answer to a bad
 * argument, and it names the call, as every SyscallError does.
 */
export function refuseNul(fn: string, args: readonly unknown[]): void {
  for (const [i, arg] of args.entries()) {
    const strings = typeof arg === 'string' ? [arg] : Array.isArray(arg) ? arg.filter((a): a is string => typeof a === 'string') : [];
    for (const s of strings) {
      if (s.includes('\0')) throw new SyscallError(fn, EINVAL, [s], `argument ${i + 1} holds a NUL byte, which C would cut the string at`);
    }
  }
}

/** A native library whose functions all refuse NUL-holding strings. */
export interface GuardedLibrary {
  func(prototype: string): NativeFunction;
}

const guardedLibraries = new Map<string, GuardedLibrary>();

/**
 * The one handle for a library (dlopen.ts), with every `func()` guarded by
 * refuseNul (sync and .async calls alike). Asking again for the same path
 * gives the same library.
 */
export function loadLibrary(path: string): GuardedLibrary {
  const known = guardedLibraries.get(path);
  if (known) return known;
  const lib = dlopen(path);
  const guardedLibrary: GuardedLibrary = {
    func(prototype: string): NativeFunction {
      const fn = lib.func(prototype);
      const name = nameOf(prototype);
      // raw syscall(2) is variadic: its name is the number, its first argument.
      const label = (args: readonly unknown[]): string => (name === 'syscall' ? `syscall(${String(args[0])})` : name);
      const guarded = (...args: unknown[]): unknown => {
        refuseNul(label(args), args);
        return fn(...args);
      };
      guarded.async = (...args: unknown[]): unknown => {
        refuseNul(label(args), args.slice(0, -1));
        return fn.async(...args);
      };
      guarded.info = fn.info;
      return guarded as NativeFunction;
    },
  };
  guardedLibraries.set(path, guardedLibrary);
  return guardedLibrary;
}
