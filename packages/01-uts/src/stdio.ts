// The container's stdio is never the host's terminal.
//
// A process that holds an fd of a terminal can push keystrokes into it with
// ioctl(TIOCSTI) (dev.tty.legacy_tiocsti=1 is the kernel default), read what
// the admin types next, or change its settings. docker and podman never hand
// the host's tty to a container: its stdio are pipes (containerd's shim,
// conmon) and -t gets a pty of its own. So for each of our fds that is a
// terminal, the container gets a pipe and we copy the bytes, in order, as they
// come. Any other fd (a pipe, a file, /dev/null) is no terminal and is passed
// as it is: `echo hi | hull run -i IMG cat` keeps its EOF.
import { writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { isatty, ReadStream } from 'node:tty';
import { close, O_CLOEXEC, pipe2 } from '@hull/sys';

/** How long to wait, once the container has exited, for output a leftover process may still hold open. */
const DRAIN_MS = 2000;

export class StdioRelay {
  /** What the container gets as 0, 1, 2. */
  readonly stdio: [number, number, number];
  /** Our ends of the pipes, and the container's ends we close once it has its copies. */
  private readonly ours: { index: number; fd: number; host: number }[] = [];
  private readonly theirs: number[] = [];
  private readonly done: Promise<void>[] = [];
  private readonly cleanups: (() => void)[] = [];

  private constructor(host: readonly [number, number, number]) {
    this.stdio = [...host];
    host.forEach((fd, index) => {
      if (!isatty(fd)) return;
      const [r, w] = pipe2(O_CLOEXEC);
      // stdin: the container reads r, we write w; output: the other way round.
      const [container, mine] = index === 0 ? [r, w] : [w, r];
      this.stdio[index] = container;
      this.theirs.push(container);
      this.ours.push({ index, fd: mine, host: fd });
    });
  }

  /** Pipes in place of every one of `host` that is a terminal. */
  static open(host: readonly [number, number, number]): StdioRelay {
    return new StdioRelay(host);
  }

  /** Once the container holds its ends: close ours of them (or no EOF ever comes) and start copying. */
  start(): void {
    for (const fd of this.theirs.splice(0)) close(fd);
    for (const { index, fd, host } of this.ours) {
      if (index === 0) this.copyIn(host, fd);
      else this.copyOut(fd, host);
    }
  }

  private copyIn(host: number, fd: number): void {
    const source = host === 0 ? process.stdin : new ReadStream(host);
    const sink = new Socket({ fd, readable: false, writable: true });
    sink.on('error', () => source.unpipe(sink)); // the container closed its stdin: EPIPE
    source.pipe(sink); // our EOF (Ctrl-D) ends the pipe: the container sees EOF
    this.cleanups.push(() => {
      source.unpipe(sink);
      source.pause();
      sink.destroy();
    });
  }

  private copyOut(fd: number, host: number): void {
    const source = new Socket({ fd, readable: true, writable: false });
    const write = (chunk: Buffer) => {
      // process.stdout/stderr write synchronously to a terminal, so each chunk is out before the next.
      if (host === 1) process.stdout.write(chunk);
      else if (host === 2) process.stderr.write(chunk);
      else for (let off = 0; off < chunk.length; ) off += writeSync(host, chunk, off);
    };
    source.on('data', write);
    this.done.push(
      new Promise<void>((resolve) => {
        source.on('close', () => resolve());
        source.on('error', () => resolve());
      }),
    );
    this.cleanups.push(() => source.destroy());
  }

  /** After the container exited: the rest of its output (EOF, or DRAIN_MS at most), then stop copying. */
  async finish(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
    await Promise.race([Promise.all(this.done), bound]);
    clearTimeout(timer);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  /** The container never started: close every pipe end. */
  abandon(): void {
    for (const fd of this.theirs.splice(0)) close(fd);
    for (const { fd } of this.ours.splice(0)) close(fd);
  }
}
