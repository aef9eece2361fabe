// HULL_TRACE=1: where a start's time goes (bench/, docs/performance.md).
// Each mark is one stderr line
//   hull-trace <phase> <ms since this process started> <epoch ms> <pid>
// The epoch time joins the CLI's marks with the init stage's, which is a
// second Node process with its own start. Off by default: one env lookup.
import { performance } from 'node:perf_hooks';

const enabled = process.env.HULL_TRACE === '1';

export function trace(phase: string): void {
  if (!enabled) return;
  const now = performance.now();
  // timeOrigin is when this process started, so `now` includes Node's own boot.
  process.stderr.write(`hull-trace ${phase} ${now.toFixed(3)} ${(performance.timeOrigin + now).toFixed(3)} ${process.pid}\n`);
}
