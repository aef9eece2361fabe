// dlopen(3), once per library. koffi.load opens a new handle at every call;
// hull binds libc from a dozen modules and its native helper from three
// places, and each of them wants the one handle. This module imports nothing
// of hull's, so errors.ts (which ffi.ts needs, for the NUL guard's error) can
// bind strerror(3) from the same handle without an import cycle.
import koffi, { type LibraryHandle } from 'koffi';

/** The C library's soname on glibc systems (Debian, the only target hull has). */
export const LIBC = 'libc.so.6';

const handles = new Map<string, LibraryHandle>();

/** The process's one koffi handle for a shared library, opened on first use. */
export function dlopen(path: string): LibraryHandle {
  let lib = handles.get(path);
  if (!lib) {
    lib = koffi.load(path);
    handles.set(path, lib);
  }
  return lib;
}
