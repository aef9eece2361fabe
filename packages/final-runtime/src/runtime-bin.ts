#!/usr/bin/env node
// hull-runtime: the OCI runtime bin (src/runtime/main.ts). Kept apart from
// `hull`'s bin so neither loads the other's modules.
import { main } from './runtime/main.js';

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`hull-runtime: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  code = 1;
}
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
