// Test users on the host (rootless and peer-credential tests): useradd and
// userdel take a lock on /etc/passwd, and other suites may hold it for a
// moment, so a "cannot lock" failure is retried (bounded), anything else is not.
import { execFileSync } from 'node:child_process';

/** Run useradd/userdel/usermod with `args`, retrying while /etc/passwd is locked by another suite. */
export function withPasswdLockRetry(cmd: string, args: string[]): void {
  for (let i = 0; ; i++) {
    try {
      execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      return;
    } catch (err) {
      if (i >= 20 || !/lock/i.test(String((err as { stderr?: Buffer }).stderr ?? ''))) throw err;
      execFileSync('sleep', ['0.3']);
    }
  }
}
