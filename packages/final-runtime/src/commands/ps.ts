// `hull ps`: the containers of the store, newest first.
import { UsageError } from '@hull/01-uts';
import { boolOption, type OptionSpecs, parseOptions } from '../args.js';
import { shortId } from '../names.js';
import { type ContainerConfig, containerIds, type ContainerState, observedState, readConfig } from '../store.js';
import { help } from './help.js';

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

export function statusText(state: ContainerState): string {
  if (state.status === 'running') return `Up ${ago(state.startedAt)}`;
  if (state.status === 'exited') return `Exited (${state.exitCode}) ${ago(state.finishedAt || state.startedAt)} ago`;
  return 'Created';
}

function commandText(config: ContainerConfig): string {
  const cmd = config.argv.join(' ');
  return `"${cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd}"`;
}

interface Listed {
  config: ContainerConfig;
  state: ContainerState;
}

function listContainers(all: boolean): Listed[] {
  const out: Listed[] = [];
  for (const id of containerIds()) {
    try {
      const state = observedState(id);
      if (all || state.status === 'running') out.push({ config: readConfig(id), state });
    } catch {
      // removed while we listed
    }
  }
  return out.sort((a, b) => b.config.created.localeCompare(a.config.created));
}

const OPTIONS: OptionSpecs = {
  all: { type: 'boolean', short: 'a', help: 'Show all containers (default: running only)' },
  quiet: { type: 'boolean', short: 'q', help: 'Only ids' },
  json: { type: 'boolean', help: 'One JSON array' },
};

export async function ps(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull ps [OPTIONS]', options: OPTIONS })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length) throw new UsageError(`"hull ps" accepts no arguments`);
  const rows = listContainers(boolOption(values, 'all'));
  if (boolOption(values, 'json')) {
    const json = rows.map(({ config, state }) => ({
      Id: config.id,
      Names: config.name,
      Image: config.image,
      Command: config.argv.join(' '),
      Created: config.created,
      State: state.status,
      Status: statusText(state),
      ExitCode: state.exitCode,
      Pid: state.status === 'running' ? state.pid : 0,
    }));
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  if (boolOption(values, 'quiet')) {
    process.stdout.write(rows.map((r) => `${shortId(r.config.id)}\n`).join(''));
    return 0;
  }
  const table = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES']];
  for (const { config, state } of rows) {
    table.push([shortId(config.id), config.image, commandText(config), `${ago(config.created)} ago`, statusText(state), config.name]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  process.stdout.write(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n').join(''));
  return 0;
}
