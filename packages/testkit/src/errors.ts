// For in-process tests of bad input: what a call throws, checked to be the
// error type that reaches the user as one line (ContainerError), not a
// TypeError from deep inside.

/** The message of what `f` throws; anything else thrown, or nothing at all, fails the test. */
export function thrownMessage(f: () => unknown, type: abstract new (...args: never[]) => Error): string {
  try {
    f();
  } catch (err) {
    if (!(err instanceof type)) throw new Error(`expected a ${type.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    return err.message;
  }
  throw new Error(`expected a ${type.name}, nothing was thrown`);
}
