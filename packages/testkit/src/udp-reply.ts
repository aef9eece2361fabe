// udp-reply: a UDP server to put inside a container, for the --publish
// .../udp tests. Debian's busybox nc has no -u and its other applets serve
// no UDP, so this is a small C program (udp-reply.c), compiled static with
// the machine's cc (the native spawn helper needs it anyway), once per process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let binary: Buffer | undefined;

/** The bytes of a static `udp-reply PORT PREFIX [COUNT]`: answers PREFIX + each datagram to its sender. */
export function udpReplyBinary(): Buffer {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'hull-udp-reply-'));
  try {
    execFileSync('cc', ['-static', '-O2', '-o', join(dir, 'udp-reply'), join(import.meta.dirname, 'udp-reply.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    binary = readFileSync(join(dir, 'udp-reply'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return binary;
}
