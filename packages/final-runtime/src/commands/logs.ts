// `hull logs`: a detached container's output, from the JSON-lines log the supervisor writes.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ContainerError, UsageError } from '@hull/01-uts';
import { boolOption, intOption, type OptionSpecs, parseOptions, stringOption } from '../args.js';
import { type LogLine } from '../logs.js';
import { EXIT_ERROR, findContainer } from '../names.js';
import { isSettled, logPath } from '../store.js';
import { help } from './help.js';
import { sleep } from './signal-container.js';

function printLogLine(line: LogLine, timestamps: boolean): void {
  const out = line.stream === 'stderr' ? process.stderr : process.stdout;
  out.write(timestamps ? `${line.time} ${line.log}` : line.log);
}

function parseLogLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LogLine);
}

const OPTIONS: OptionSpecs = {
  follow: { type: 'boolean', short: 'f', help: 'Follow the output until the container exits' },
  tail: { type: 'string', short: 'n', value: 'N', help: 'Only the last N lines (or all)' },
  timestamps: { type: 'boolean', short: 't', help: 'Show timestamps' },
};

export async function logs(args: string[]): Promise<number> {
  if (help(args, { usage: 'hull logs [OPTIONS] CONTAINER', options: OPTIONS, about: "Fetch a detached container's output." })) return 0;
  const { values, positionals } = parseOptions(args, OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`"hull logs" requires exactly 1 argument: CONTAINER`);
  const tailValue = stringOption(values, 'tail');
  const tail = tailValue === undefined || tailValue === 'all' ? undefined : intOption(values, 'tail');
  const timestamps = boolOption(values, 'timestamps');
  const config = findContainer(positionals[0]!);
  const path = logPath(config.id);
  if (!existsSync(path) && !config.detached) {
    throw new ContainerError(`container ${config.name} ran in the foreground: its output went to the terminal, not to a log`, EXIT_ERROR);
  }
  let offset = 0;
  const readNew = (): LogLine[] => {
    if (!existsSync(path)) return [];
    const size = statSync(path).size;
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    const fd = readFileSync(path);
    fd.copy(buf, 0, offset, size);
    // Only whole lines: the supervisor may be half-way through one.
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n') + 1;
    offset += Buffer.byteLength(text.slice(0, end));
    return parseLogLines(text.slice(0, end));
  };
  let lines = readNew();
  if (tail !== undefined) lines = tail === 0 ? [] : lines.slice(-tail);
  for (const line of lines) printLogLine(line, timestamps);
  if (!boolOption(values, 'follow')) return 0;
  for (;;) {
    const settled = isSettled(config.id);
    for (const line of readNew()) printLogLine(line, timestamps);
    // The log is complete once the container has exited: the supervisor closes it before recording the exit.
    if (settled) return 0;
    await sleep(100);
  }
}
