// A container the daemon started and watches: it owns the container's stdio
// (pipes, or a pty with Tty), copies output to the json log and to every
// attached client, feeds attached stdin in, and tells waiters how it ended.
// The daemon is the container's monitor, as the supervisor is for `hull run -d`:
// startContainer's `exited` resolves here, after the cleanup.
import { Socket } from 'node:net';
import { ReadStream } from 'node:tty';
import { ContainerError } from '@hull/01-uts';
import { close, O_CLOEXEC, O_RDONLY, open, openPty, pipe2, setWindowSize } from '@hull/sys';
import { startContainer } from '../lifecycle.js';
import { JsonLog, pumpStreamToLog, pumpToLog } from '../logs.js';
import { type ContainerConfig, logPath } from '../store.js';
import { writeToMaster } from '../terminal.js';
import type { StreamId } from './hijack.js';

export type OutputListener = (stream: StreamId, chunk: Buffer) => void;

export interface Ending {
  code: number;
  error?: string;
}

export interface StdinOptions {
  /** docker's OpenStdin: the container gets a stdin pipe (else /dev/null). */
  open: boolean;
  /** docker's StdinOnce: the first attached client's EOF closes the container's stdin. */
  once: boolean;
}

export class Session {
  private readonly listeners = new Set<OutputListener>();
  private readonly endListeners = new Set<() => void>();
  private readonly exitWaiters: ((e: Ending) => void)[] = [];
  /** stdin that arrived before the container started (attach comes first in `docker run`). */
  private stdinQueue: Buffer[] = [];
  private stdinEnded = false;
  private stdinWrite?: (chunk: Buffer) => void;
  private stdinEnd?: () => void;
  private master = -1;
  private size = { rows: 24, cols: 80 };
  ending?: Ending;
  /** Resolves once the container ended, its output drained and its cleanup (and --rm) done. */
  readonly settled: Promise<Ending>;
  private settle!: (e: Ending) => void;

  constructor(
    readonly config: ContainerConfig,
    readonly root: string,
    readonly stdin: StdinOptions,
  ) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  get tty(): boolean {
    return this.config.tty;
  }

  /** Attach: output from now on reaches `listener`; `onEnd` runs once the output is over. */
  subscribe(listener: OutputListener, onEnd: () => void): () => void {
    if (this.ending) {
      onEnd();
      return () => undefined;
    }
    this.listeners.add(listener);
    this.endListeners.add(onEnd);
    return () => {
      this.listeners.delete(listener);
      this.endListeners.delete(onEnd);
    };
  }

  writeStdin(chunk: Buffer): void {
    if (!this.stdin.open || this.stdinEnded) return;
    if (this.stdinWrite) this.stdinWrite(chunk);
    else this.stdinQueue.push(chunk);
  }

  /** A client half-closed its stream: with StdinOnce, that is the container's EOF on stdin. */
  endStdin(): void {
    if (!this.stdin.once || this.stdinEnded) return;
    this.stdinEnded = true;
    this.stdinEnd?.();
  }

  resize(rows: number, cols: number): void {
    this.size = { rows, cols };
    // TIOCSWINSZ on the master; the kernel sends SIGWINCH to the foreground job.
    if (this.master >= 0) setWindowSize(this.master, rows, cols);
  }

  nextExit(): Promise<Ending> {
    if (this.ending) return Promise.resolve(this.ending);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private emit(stream: StreamId, chunk: Buffer): void {
    for (const l of this.listeners) l(stream, chunk);
  }

  /** Start it: resolves with PID 1's host pid once it runs; rejects (ContainerError) when it never did. */
  async start(): Promise<number> {
    const log = new JsonLog(logPath(this.config.id, this.root));
    const theirs: number[] = [];
    let drained: Promise<unknown>;
    let stdio: [number, number, number];
    try {
      if (this.tty) {
        const pty = openPty();
        this.master = pty.master;
        setWindowSize(pty.master, this.size.rows, this.size.cols);
        theirs.push(pty.slave);
        stdio = [pty.slave, pty.slave, pty.slave];
        const output = new ReadStream(pty.master);
        drained = pumpStreamToLog(output, 'stdout', log, (c) => this.emit(1, c)).then(() => output.destroy());
        if (this.stdin.open) this.wireStdin((c) => writeToMaster(pty.master, c), () => writeToMaster(pty.master, Buffer.from([4]))); // ^D: EOF for the line discipline
      } else {
        const [outR, outW] = pipe2(O_CLOEXEC);
        const [errR, errW] = pipe2(O_CLOEXEC);
        theirs.push(outW, errW);
        let inFd: number;
        if (this.stdin.open) {
          const [inR, inW] = pipe2(O_CLOEXEC);
          theirs.push(inR);
          inFd = inR;
          const sink = new Socket({ fd: inW, readable: false, writable: true });
          // EPIPE: the container stopped reading (it exited); what is left is dropped.
          sink.on('error', () => undefined);
          this.wireStdin((c) => sink.write(c), () => sink.end());
        } else {
          inFd = open('/dev/null', O_RDONLY | O_CLOEXEC);
          theirs.push(inFd);
        }
        stdio = [inFd, outW, errW];
        drained = Promise.all([pumpToLog(outR, 'stdout', log, (c) => this.emit(1, c)), pumpToLog(errR, 'stderr', log, (c) => this.emit(2, c))]);
      }
    } catch (err) {
      for (const fd of theirs) close(fd);
      log.close();
      throw err;
    }
    let started;
    try {
      started = await startContainer(this.config, stdio, this.root);
    } catch (err) {
      this.stdinEnd?.();
      void drained.then(() => this.finish(log, { code: err instanceof ContainerError ? err.exitCode : 125, error: err instanceof Error ? err.message : String(err) }));
      throw err;
    } finally {
      // The container holds its own copies; ours must go, or the output never sees EOF.
      for (const fd of theirs) close(fd);
    }
    void started.exited
      .then(
        (code) => ({ code }),
        (err: unknown) => ({ code: 125, error: err instanceof Error ? err.message : String(err) }),
      )
      .then(async (ending: Ending) => {
        this.stdinEnd?.();
        await drained;
        this.finish(log, ending);
      });
    return started.pid;
  }

  private wireStdin(write: (c: Buffer) => void, end: () => void): void {
    let ended = false;
    this.stdinWrite = write;
    this.stdinEnd = () => {
      if (ended) return;
      ended = true;
      end();
    };
    for (const c of this.stdinQueue) write(c);
    this.stdinQueue = [];
    if (this.stdinEnded) this.stdinEnd();
  }

  private finish(log: JsonLog, ending: Ending): void {
    log.close();
    if (this.master >= 0) this.master = -1; // closed by its ReadStream
    this.ending = ending;
    for (const w of this.exitWaiters.splice(0)) w(ending);
    for (const e of this.endListeners) e();
    this.listeners.clear();
    this.endListeners.clear();
    this.settle(ending);
  }
}
