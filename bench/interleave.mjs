// Start latency on a busy machine: the commands run in turn, one run of each
// per round (in a rotating order), so a burst of load from someone else hits
// all of them alike, which hyperfine's one-command-after-another cannot
// promise. Reports the median wall time and the median CPU time (user + sys,
// the process and its children: far less sensitive to other load than wall
// time), each also as a ratio to the first command.
//
//   node bench/interleave.mjs ROUNDS NAME=COMMAND [NAME=COMMAND...]
//   node bench/interleave.mjs 30 "node -e ''=node -e ''" "hull=node packages/final-runtime/bin/hull.js run --rm IMG true"
import { spawnSync } from 'node:child_process';

const [roundsArg, ...specs] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!Number.isInteger(rounds) || rounds < 1 || specs.length === 0) {
  process.stderr.write('usage: node bench/interleave.mjs ROUNDS NAME=COMMAND [NAME=COMMAND...]\n');
  process.exit(2);
}
const commands = specs.map((s) => {
  const i = s.indexOf('=');
  return { name: s.slice(0, i), command: s.slice(i + 1), wall: [], cpu: [] };
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

for (let round = 0; round < rounds + 1; round++) {
  for (let k = 0; k < commands.length; k++) {
    const c = commands[(round + k) % commands.length];
    // bash's `time` reports the command's wall, user and sys seconds, children included.
    const r = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; { time { ${c.command} ; } > /dev/null 2>&1 ; } 2>&1; echo "status $?"`], { encoding: 'utf8' });
    const [times, status] = r.stdout.trim().split('\n').slice(-2);
    if (status !== 'status 0') {
      process.stderr.write(`${c.name}: failed (${status}): ${c.command}\n`);
      process.exit(1);
    }
    if (round === 0) continue; // a warm-up round: page cache, the store's first read
    const [real, user, sys] = times.split(' ').map(Number);
    c.wall.push(real * 1000);
    c.cpu.push((user + sys) * 1000);
  }
}

const base = commands[0];
process.stdout.write(`| command | runs | wall median ms | min | max | × ${base.name} | CPU median ms | × ${base.name} |\n|---|---:|---:|---:|---:|---:|---:|---:|\n`);
for (const c of commands) {
  const w = median(c.wall);
  const cpu = median(c.cpu);
  process.stdout.write(
    `| ${c.name} | ${c.wall.length} | ${w.toFixed(0)} | ${Math.min(...c.wall).toFixed(0)} | ${Math.max(...c.wall).toFixed(0)} | ${(w / median(base.wall)).toFixed(2)}× | ${cpu.toFixed(0)} | ${(cpu / median(base.cpu)).toFixed(2)}× |\n`,
  );
}
