// hull stats --no-stream [CONTAINER...]: one snapshot of each running
// container's cgroup (chapter 04's usage()), in docker's columns. CPU % is
// measured over half a second: the cgroup's CPU time is a counter, so one
// read alone says nothing about the rate.
import { type Cgroup, CgroupV1, CgroupV2, detectLayout } from '@hull/04-cgroups';
import { boolOption, parseOptions } from '../args.js';
import { findContainer, shortId } from '../names.js';
import { type ContainerConfig, containerIds, isRunning, observedState, readConfig } from '../store.js';

function openCgroup(id: string): Cgroup | null {
  const layout = detectLayout();
  return layout.version === 1 ? CgroupV1.open(layout.hierarchies, id) : CgroupV2.open(layout.root, id);
}

function bytes(n: number | null): string {
  if (n === null) return '--';
  if (n < 1024) return `${n}B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(2)}KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(2)}MiB`;
  return `${(n / 1024 ** 3).toFixed(2)}GiB`;
}

export interface StatsRow {
  Id: string;
  Name: string;
  CpuPercent: number | null;
  MemoryBytes: number | null;
  MemoryLimitBytes: number | null;
  Pids: number | null;
}

/** Usage of each container's cgroup, CPU % measured over `intervalMs`. */
async function sample(configs: ContainerConfig[], intervalMs: number): Promise<StatsRow[]> {
  const running = configs.filter((c) => isRunning(observedState(c.id)));
  const cgroups = running.map((c) => [c, openCgroup(c.id)] as const);
  const first = cgroups.map(([, cg]) => cg?.usage().cpuUsageUsec ?? null);
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, intervalMs));
  const elapsedUs = Number(process.hrtime.bigint() - start) / 1000;
  return cgroups.map(([config, cg], i) => {
    const usage = cg?.usage();
    const before = first[i];
    const cpu = usage?.cpuUsageUsec ?? null;
    return {
      Id: config.id,
      Name: config.name,
      // docker's CPU %: 100 per fully used CPU.
      CpuPercent: cpu === null || before === null || before === undefined ? null : Math.round(((cpu - before) / elapsedUs) * 10000) / 100,
      MemoryBytes: usage?.memoryBytes ?? null,
      MemoryLimitBytes: cg?.limits.memoryBytes ?? null,
      Pids: usage?.pidsCurrent ?? null,
    };
  });
}

function render(rows: StatsRow[], json: boolean): string {
  if (json) return `${JSON.stringify(rows, null, 2)}\n`;
  const table = [['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'PIDS']];
  for (const r of rows) {
    table.push([
      shortId(r.Id),
      r.Name,
      r.CpuPercent === null ? '--' : `${r.CpuPercent.toFixed(2)}%`,
      `${bytes(r.MemoryBytes)} / ${r.MemoryLimitBytes === null ? 'no limit' : bytes(r.MemoryLimitBytes)}`,
      r.Pids === null ? '--' : String(r.Pids),
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n';
}

export async function stats(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull stats [--no-stream] [--json] [CONTAINER...]\n\nCPU, memory and pids of running containers: redrawn every second until Ctrl-C, or one snapshot with --no-stream.\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, { 'no-stream': { type: 'boolean' }, json: { type: 'boolean' } });
  const json = boolOption(values, 'json');
  const named = positionals.map((ref) => findContainer(ref));
  const configs = (): ContainerConfig[] => (named.length ? named : containerIds().map((id) => readConfig(id)));
  if (boolOption(values, 'no-stream')) {
    process.stdout.write(render(await sample(configs(), 500), json));
    return 0;
  }
  // Streaming: a frame a second until a signal; on a terminal each frame replaces the last.
  let stopped = false;
  const stop = () => (stopped = true);
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, stop);
  const clear = process.stdout.isTTY && !json ? '\x1b[2J\x1b[H' : '';
  while (!stopped) {
    const frame = render(await sample(configs(), 1000), json);
    if (!stopped) process.stdout.write(clear + frame);
  }
  return 0;
}
