// How a bad layer entry is reported: one line naming the entry (escaped, so it
// cannot carry a terminal escape sequence), docker's exit code 125.
import { ContainerError } from '@hull/01-uts';
import { SyscallError } from '@hull/sys';

/** A name as it may be shown: quoted, every control character escaped (JSON leaves DEL raw). */
export function quoted(name: string): string {
  return JSON.stringify(name).replace(/\u007f/g, '\\u007f');
}

/** A layer we refuse: one line naming the entry, docker's exit code 125. */
export function refuse(name: string, reason: string): ContainerError {
  return new ContainerError(`refused layer entry ${quoted(name)}: ${reason}`);
}

/** A syscall that failed on an entry becomes one line naming the entry. */
export function failedEntry(name: string, err: unknown): unknown {
  return err instanceof SyscallError ? new ContainerError(`layer entry ${quoted(name)}: ${err.message}`) : err;
}
