import { ContainerError } from '@hull/01-uts';
import { EXIT_ERROR } from '../names.js';

/** Run `fn` for each container or image argument; like docker, report each failure and exit 1 if any failed. */
export async function eachArgument(refs: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (!(err instanceof ContainerError)) throw err;
      process.stderr.write(`hull: ${err.message}\n`);
      failed = true;
    }
  }
  return failed ? EXIT_ERROR : 0;
}
