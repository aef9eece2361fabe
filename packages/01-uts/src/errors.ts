import { SyscallError } from '@hull/sys';
import { UsageError } from './usage-error.js';
import { ContainerError, EXIT_RUNTIME } from './stage.js';

/**
 * Run a step's main and turn every failure into one line and an exit code:
 * 2 for usage, docker's 125/126/127 for the container. A stack trace only
 * with HULL_DEBUG=1.
 */
export async function runMain(usage: string, main: () => Promise<number>): Promise<never> {
  try {
    process.exit(await main());
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hull: ${err.message} (usage: ${usage})\n`);
      process.exit(2);
    }
    const debug = process.env.HULL_DEBUG === '1';
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    if (err instanceof ContainerError) {
      process.stderr.write(`hull: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    if (err instanceof SyscallError) {
      const hint = err.code === 'EPERM' ? ' (are you root? try sudo)' : '';
      process.stderr.write(`hull: ${err.message}${hint}\n`);
      process.exit(EXIT_RUNTIME);
    }
    process.stderr.write(`hull: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT_RUNTIME);
  }
}
