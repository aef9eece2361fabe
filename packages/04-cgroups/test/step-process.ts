// The node process running a chapter's main.ts under npx and tsx's wrapper
// (which do not pass SIGTERM on): the one to signal, as a learner's Ctrl-C would.
import { readFileSync } from 'node:fs';
import { descendants } from '@hull/testkit';

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

export function stepProcess(step: string): number | undefined {
  return descendants().find((pid) => {
    const argv = cmdline(pid);
    return argv.some((a) => a.includes('tsx/dist/loader')) && argv.some((a) => a.endsWith(`${step}/src/main.ts`));
  });
}
