// The one error type for a bad command line, shared by every chapter's
// main.ts (one line on stderr, exit 2, like most Unix tools) and the hull CLI
// (exit 125, as docker does). This module imports nothing, so the CLI's entry
// point can recognise it (`@hull/01-uts/usage-error`) without loading koffi
// for `hull version`.
export class UsageError extends Error {
  override name = 'UsageError';
}
