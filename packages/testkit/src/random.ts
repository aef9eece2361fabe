import { randomBytes, randomInt } from 'node:crypto';
import { claimLeftovers } from './leftover-scope.js';

/**
 * A random lowercase token: hostnames, file names, markers. Whatever a test
 * names with one is its own for the leftover check (leftover-scope.ts).
 */
export function randomToken(len = 8): string {
  const token = randomBytes(Math.ceil(len / 2)).toString('hex').slice(0, len);
  claimLeftovers({ names: [token] });
  return token;
}

export function randomHostname(): string {
  return `h-${randomToken(10)}`;
}

/** An exit code a program could not produce by accident (not 0, 1, 2, 125-128). */
export function randomExitCode(): number {
  return randomInt(3, 120);
}
