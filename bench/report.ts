// Turns one bench/run.sh run (hyperfine JSON, scale.txt, trace.log) into the
// markdown tables of bench/README.md. Every figure is put next to the anchors
// measured in the same run, as a ratio.
//
//   npx tsx bench/report.ts bench/results
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface HyperfineResult {
  command: string;
  median: number;
  min: number;
  max: number;
  times: number[];
}

const dir = process.argv[2] ?? 'bench/results';
const ms = (s: number): string => (s * 1000).toFixed(s < 1 ? 1 : 0);
const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}×` : '—');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function results(name: string): Map<string, HyperfineResult> | undefined {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { results: HyperfineResult[] };
  return new Map(parsed.results.map((r) => [r.command, r]));
}

function load(name: string): string {
  const lines = existsSync(join(dir, 'load.txt')) ? readFileSync(join(dir, 'load.txt'), 'utf8').split('\n') : [];
  const of = (when: string) => lines.find((l) => l.startsWith(`${name}: load ${when} `))?.split(' ').slice(3).join(' ') ?? '?';
  return `load average ${of('before')} before, ${of('after')} after`;
}

/** A table of one hyperfine run, each row also as a ratio to the named anchors. */
function table(name: string, title: string, anchors: string[]): string {
  const rs = results(name);
  if (!rs) return '';
  const head = `| command | runs | median ms | min ms | max ms | ${anchors.map((a) => `× ${a}`).join(' | ')} |`;
  const rule = `|---|---:|---:|---:|---:|${anchors.map(() => '---:').join('|')}|`;
  const rows = [...rs.values()].map(
    (r) => `| ${r.command} | ${r.times.length} | ${ms(r.median)} | ${ms(r.min)} | ${ms(r.max)} | ${anchors.map((a) => ratio(r.median, rs.get(a)?.median)).join(' | ')} |`,
  );
  return `### ${title}\n\n(${load(name)})\n\n${head}\n${rule}\n${rows.join('\n')}\n`;
}

const out: string[] = [];
if (existsSync(join(dir, 'machine.txt'))) out.push('```\n' + readFileSync(join(dir, 'machine.txt'), 'utf8').trim() + '\n```\n');
out.push(table('start', "1. Start latency, `run --rm busybox true`", ["node -e ''", 'crun run', 'runc run', 'podman --network none']));
out.push(table('image-size', '2. Start latency vs image size (busybox 2 layers vs Debian minbase 3 layers)', ['hull busybox', 'crun busybox', 'podman busybox']));
for (const fs of ['tmpfs', 'disk']) {
  for (const temp of ['cold', 'warm']) {
    out.push(table(`pull-${temp}-${fs}`, `3. Pull + unpack of the Debian image, ${temp}, on ${fs}`, ['podman pull', 'skopeo copy + umoci unpack', 'tar -xzf of the 3 layers (floor)']));
  }
}

// 4. scale.txt: one line per tool per repetition.
if (existsSync(join(dir, 'scale.txt'))) {
  const lines = readFileSync(join(dir, 'scale.txt'), 'utf8').trim().split('\n');
  const of = (tool: string) => lines.filter((l) => l.startsWith(tool));
  const num = (l: string, re: RegExp) => Number(re.exec(l)?.[1] ?? NaN);
  const row = (tool: string, label: string) => {
    const ls = of(tool);
    const t = ls.map((l) => num(l, /: (\d+) ms/));
    const rss = ls.map((l) => num(l, /rss (\d+) kB/));
    const pss = ls.map((l) => num(l, /pss (\d+) kB/));
    const n = num(ls[0] ?? '', /x(\d+):/);
    return { label, t, rss: median(rss), pss: median(pss), n, running: ls.map((l) => num(l, /running (\d+)/)).join('/') };
  };
  const h = row('hull', 'hull run -d (one supervisor)');
  const p = row('podman', 'podman run -d (conmon each)');
  out.push(
    `### 4. Scale: ${h.n} detached \`sleep 300\` containers started in parallel (${of('hull').length} repetitions)\n\n(${load('scale')})\n\n` +
      `| | all started, median ms (min–max) | running | host-side RSS, total | PSS total | PSS per container |\n|---|---:|---:|---:|---:|---:|\n` +
      [h, p]
        .map(
          (r) =>
            `| ${r.label} | ${median(r.t)} (${Math.min(...r.t)}–${Math.max(...r.t)}) | ${r.running} | ${(r.rss / 1024).toFixed(1)} MB | ${(r.pss / 1024).toFixed(1)} MB | ${(r.pss / 1024 / r.n).toFixed(2)} MB |`,
        )
        .join('\n') +
      `\n\nhull/podman: start ${ratio(median(h.t), median(p.t))}, PSS ${ratio(h.pss, p.pss)}.\n`,
  );
}

// 5. trace*.log: marks of every traced run; a run ends with its `hull-wall` line.
function traceTable(file: string, image: string, bin = 'hull'): void {
  if (!existsSync(join(dir, file))) return;
  const runs: Array<Map<string, { rel: number; abs: number }>> = [];
  const walls: number[] = [];
  let cur = new Map<string, { rel: number; abs: number }>();
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    const m = /^hull-trace (\S+) ([\d.]+) ([\d.]+) (\d+)$/.exec(line);
    if (m) cur.set(m[1]!, { rel: Number(m[2]), abs: Number(m[3]) });
    const w = /^hull-wall (\d+)$/.exec(line);
    if (w) {
      walls.push(Number(w[1]) / 1000);
      runs.push(cur);
      cur = new Map();
    }
  }
  // [label, from mark, to mark]; 'origin' is the CLI process's start, from the marks' own clock.
  const phases: Array<[string, string, string]> = [
    ['Node start (the CLI process, up to its first line)', 'origin', 'node-ready'],
    ['load the run command (lazy import of its module graph)', 'node-ready', 'run-loaded'],
    ['parse flags, plan security, image resolve (images.json, config blob)', 'run-loaded', 'image-resolved'],
    ['create: config.json + state.json under the store lock', 'image-resolved', 'created'],
    ['cgroup (create, limits)', 'created', 'cgroup'],
    ['overlay mount', 'cgroup', 'overlay'],
    ['mount points, user, /etc files, security plan', 'overlay', 'spec'],
    ['clone (native helper; until beforeStart)', 'spec', 'clone'],
    ['init stage: its Node start + imports', 'clone', 'init-start'],
    ['init stage: rootfs (pivot_root, /proc, /dev...), cgroup join', 'init-start', 'init-security'],
    ['init stage: hardening (caps, seccomp...)', 'init-security', 'init-exec'],
    ['execve, seen by the CLI (fd 4 EOF)', 'init-exec', 'exec'],
    ['the command runs (`true`) and exits', 'exec', 'exited'],
    ['cleanup: cgroup destroy, unmount, --rm', 'exited', 'cleaned'],
    ['back to the CLI top level', 'cleaned', 'exit'],
  ];
  const at = (run: Map<string, { rel: number; abs: number }>, mark: string): number | undefined => {
    if (mark === 'origin') {
      const first = run.get('node-ready');
      return first ? first.abs - first.rel : undefined;
    }
    return run.get(mark)?.abs;
  };
  const rows = phases.map(([label, from, to]) => {
    const ds = runs.map((r) => (at(r, to) ?? NaN) - (at(r, from) ?? NaN)).filter((d) => !Number.isNaN(d));
    return { label, from, to, med: ds.length ? median(ds) : NaN, min: Math.min(...ds), max: Math.max(...ds) };
  });
  const exitMarks = runs.map((r) => (at(r, 'exit') ?? NaN) - (at(r, 'origin') ?? NaN)).filter((d) => !Number.isNaN(d));
  const sum = rows.reduce((a, r) => a + (Number.isNaN(r.med) ? 0 : r.med), 0);
  out.push(
    `### 5. Where hull's start goes: \`HULL_TRACE=1 ${bin} run --rm --network none ${image} true\`, ${runs.length} runs\n\n(${load('trace')}, both images)\n\n` +
      `| phase | marks | median ms | min | max |\n|---|---|---:|---:|---:|\n` +
      rows.map((r) => `| ${r.label} | ${r.from} → ${r.to} | ${r.med.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} |`).join('\n') +
      `\n| **sum of medians** | | **${sum.toFixed(1)}** | | |\n` +
      `| process start → \`exit\` mark, median | | ${median(exitMarks).toFixed(1)} | | |\n` +
      `| wall time seen by the shell (incl. process exit), median | | ${median(walls).toFixed(1)} | | |\n`,
  );
}
traceTable('trace.log', 'busybox');
traceTable('trace-debian.log', 'debian');
traceTable('trace-dist.log', 'busybox', 'node dist/bin.js (no bundle)');

process.stdout.write(out.filter(Boolean).join('\n'));
