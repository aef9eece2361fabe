// `hull run -t`: the container's stdio is the slave end of a pty we open on
// the host; we sit on the master end, copying it to our stdout and (with -i)
// our stdin to it, with our own terminal in raw mode so that Ctrl-C, Ctrl-D
// and arrow keys reach the container's line discipline untouched. A resize of
// our terminal becomes TIOCSWINSZ on the master; the kernel then sends
// SIGWINCH to the container's foreground job.
import { writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { close, openPty, type PtyPair, setWindowSize } from '@hull/sys';

export class Terminal {
  private output?: ReadStream;
  private outputDone?: Promise<void>;
  private readonly cleanups: (() => void)[] = [];

  private constructor(private readonly pty: PtyPair) {}

  static open(): Terminal {
    const pty = openPty();
    const terminal = new Terminal(pty);
    terminal.resize();
    return terminal;
  }

  /** The fd the container gets as 0, 1 and 2. */
  get slave(): number {
    return this.pty.slave;
  }

  private resize(): void {
    const out = process.stdout;
    if (out.isTTY) setWindowSize(this.pty.master, out.rows, out.columns);
    else setWindowSize(this.pty.master, 24, 80);
  }

  /** After the container has its copy of the slave: ours must go, or the master never sees the end. */
  attach(interactive: boolean): void {
    close(this.pty.slave);
    const output = new ReadStream(this.pty.master);
    this.output = output;
    this.outputDone = new Promise<void>((resolve) => {
      output.on('data', (chunk: Buffer) => process.stdout.write(chunk));
      // EIO is how a master says every slave is closed: the container is done.
      output.on('error', () => resolve());
      output.on('end', () => resolve());
      output.on('close', () => resolve());
    });
    const onResize = () => this.resize();
    process.stdout.on('resize', onResize);
    this.cleanups.push(() => process.stdout.off('resize', onResize));
    if (!interactive) return;
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      this.cleanups.push(() => stdin.setRawMode(false));
    }
    const onData = (chunk: Buffer) => writeToMaster(this.pty.master, chunk);
    stdin.on('data', onData);
    this.cleanups.push(() => {
      stdin.off('data', onData);
      stdin.pause();
    });
  }

  /** Once the container exited: print what is left in the pty, then give the host terminal back. */
  async detach(): Promise<void> {
    if (this.outputDone) await Promise.race([this.outputDone, new Promise((r) => setTimeout(r, 1000))]);
    for (const cleanup of this.cleanups.reverse()) cleanup();
    this.output?.destroy();
  }

  /** When the container never started: close both ends. */
  abandon(): void {
    if (!this.output) {
      close(this.pty.slave);
      close(this.pty.master);
    }
    for (const cleanup of this.cleanups.reverse()) cleanup();
    this.output?.destroy();
  }
}

/**
 * Write keystrokes to a pty master. It is non-blocking (a ReadStream on it
 * made it so); keystrokes are few, so a short retry loop is enough. A gone
 * container (EIO) drops them, as a closed terminal would.
 */
export function writeToMaster(fd: number, chunk: Buffer): void {
  let off = 0;
  for (let tries = 0; off < chunk.length && tries < 1000; tries++) {
    try {
      off += writeSync(fd, chunk, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EIO' || code === 'EBADF') return;
      if (code !== 'EAGAIN') throw err;
    }
  }
}
