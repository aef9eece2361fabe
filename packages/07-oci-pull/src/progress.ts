// What a pull shows: docker-style bars, one per layer, on a terminal
// (bytes, then "Extracting", then "Pull complete"); plain lines otherwise, so
// logs and tests read the same story without escape codes.
import cliProgress from 'cli-progress';

export interface Progress {
  /** A layer's state; `current`/`total` in bytes while downloading. */
  layer(id: string, status: string, current?: number, total?: number): void;
  /** A line of its own, e.g. "Digest: sha256:..." */
  line(text: string): void;
  /** "warning: ..." once per process, however many layers hit it. */
  warn(text: string): void;
  stop(): void;
}

function size(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)}kB`;
  return `${(n / (1 << 20)).toFixed(1)}MB`;
}

/** Short ids, as docker shows them: the first 12 hex digits. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

const warned = new Set<string>();

function warnOnce(p: Progress, text: string): void {
  if (warned.has(text)) return;
  warned.add(text);
  p.line(`warning: ${text}`);
}

class PlainProgress implements Progress {
  private readonly last = new Map<string, string>();
  constructor(private readonly out: NodeJS.WritableStream) {}
  layer(id: string, status: string): void {
    if (this.last.get(id) === status) return;
    this.last.set(id, status);
    this.out.write(`${id}: ${status}\n`);
  }
  line(text: string): void {
    this.out.write(`${text}\n`);
  }
  warn(text: string): void {
    warnOnce(this, text);
  }
  stop(): void {}
}

class BarProgress implements Progress {
  private readonly multi: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private stopped = false;
  private readonly started = new Map<string, number>();
  constructor(private readonly out: NodeJS.WritableStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream: out,
        format: '{id}: {status} {bar} {amount}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  layer(id: string, status: string, current = 0, total = 0): void {
    let bar = this.bars.get(id);
    let amount = '';
    if (status === 'Downloading' && total > 0) {
      if (!this.started.has(id)) this.started.set(id, Date.now());
      const seconds = (Date.now() - this.started.get(id)!) / 1000;
      amount = `${size(current)}/${size(total)}${seconds > 0.2 ? ` ${size(Math.round(current / seconds))}/s` : ''}`;
    }
    if (!bar) {
      bar = this.multi.create(Math.max(total, 1), current, { id, status, amount });
      this.bars.set(id, bar);
    }
    if (total > 0) bar.setTotal(total);
    const done = status !== 'Downloading' && status !== 'Pulling fs layer';
    bar.update(done ? bar.getTotal() : current, { status: status.padEnd(17), amount });
  }
  line(text: string): void {
    if (this.stopped) this.out.write(`${text}\n`);
    else this.multi.log(`${text}\n`);
  }
  warn(text: string): void {
    warnOnce(this, text);
  }
  stop(): void {
    if (!this.stopped) this.multi.stop();
    this.stopped = true;
  }
}

/** Bars on a TTY unless NO_COLOR or TERM=dumb; plain lines otherwise. */
export function createProgress(out: NodeJS.WriteStream = process.stdout): Progress {
  const tty = out.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return tty ? new BarProgress(out) : new PlainProgress(out);
}
