import { randomBytes, randomInt } from 'node:crypto';

/** A random lowercase token: hostnames, file names, markers. */
export function randomToken(len = 8): string {
  return randomBytes(Math.ceil(len / 2)).toString('hex').slice(0, len);
}

export function randomHostname(): string {
  return `h-${randomToken(10)}`;
}

/** An exit code a program could not produce by accident (not 0, 1, 2, 125-128). */
export function randomExitCode(): number {
  return randomInt(3, 120);
}
