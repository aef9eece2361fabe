import type { Syscalls } from '@hull/sys';
import { UsageError } from './usage-error.js';
import { randomId } from './random-id.js';

// RFC 1123 labels, and the kernel's limit: __NEW_UTS_LEN is 64.
const LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Why a hostname is invalid, or null when it is fine. */
export function hostnameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name) > 64) return 'is longer than 64 bytes, the kernel limit';
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) return 'may hold only letters, digits, "-" and "." (RFC 1123)';
  }
  return null;
}

/**
 * The chapter's primitive. Only meaningful in a new UTS namespace: there it
 * changes the container's name and nothing else; outside one it would rename
 * the host, which is exactly the bug this chapter is about.
 */
export function setHostname(sys: Syscalls, name: string): void {
  sys.sethostname(name);
}

/** A step's --hostname flag: the name given, checked (UsageError otherwise), or a generated one (12 hex digits, like docker's short ids). */
export function hostnameFlag(value: string | undefined): string {
  const hostname = value ?? randomId();
  const problem = hostnameProblem(hostname);
  if (problem) throw new UsageError(`--hostname ${JSON.stringify(hostname)} ${problem}`);
  return hostname;
}
