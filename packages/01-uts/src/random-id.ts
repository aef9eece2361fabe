import { randomBytes } from 'node:crypto';

/**
 * The one random id generator: `bytes` random bytes as lowercase hex. The
 * default, 12 hex digits, is the length of docker's short container ids; it
 * names generated hostnames, chapter containers (their cgroups) and temp files.
 * final-runtime's full container id is randomId(32), docker's 64 digits.
 */
export function randomId(bytes = 6): string {
  return randomBytes(bytes).toString('hex');
}
