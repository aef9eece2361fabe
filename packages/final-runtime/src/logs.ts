// Container output in docker's json-file format: one JSON object per line,
//   {"log":"hello\n","stream":"stdout","time":"2026-11-22T07:40:00.123456789Z"}
// so `hull logs` can interleave stdout and stderr in order and print times.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface LogLine {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

/** RFC 3339 with nanoseconds, like docker (JS has milliseconds; the rest comes from hrtime). */
export function logTime(): string {
  const iso = new Date().toISOString(); // ...THH:MM:SS.mmmZ
  const sub = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, -1)}${sub}Z`;
}

/** Appends log lines to one file; shared by a container's two streams. */
export class JsonLog {
  private fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o640);
  }
  write(stream: LogLine['stream'], log: string): void {
    if (this.fd < 0) return;
    const line: LogLine = { log, stream, time: logTime() };
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Drain a pipe into the log, one entry per line (a last line without a
 * newline is written at EOF, as docker does). A net.Socket on the fd reads
 * through epoll, so no thread-pool thread blocks per container. Resolves at EOF.
 */
export function pumpToLog(fd: number, stream: LogLine['stream'], log: JsonLog, tap?: (chunk: Buffer) => void): Promise<void> {
  return pumpStreamToLog(new Socket({ fd, readable: true, writable: false }), stream, log, tap);
}

/**
 * The same for any readable (a pty master is a tty.ReadStream, not a socket).
 * `tap` sees every chunk as it arrives, before the log splits it into lines:
 * the daemon's attached clients get the bytes unchanged.
 */
export function pumpStreamToLog(pipe: Readable, stream: LogLine['stream'], log: JsonLog, tap?: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const decoder = new StringDecoder('utf8');
    let pending = '';
    pipe.on('data', (chunk: Buffer) => {
      tap?.(chunk);
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        log.write(stream, pending.slice(0, nl + 1));
        pending = pending.slice(nl + 1);
      }
    });
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      pending += decoder.end();
      if (pending) log.write(stream, pending);
      pending = '';
      resolve();
    };
    pipe.on('end', done);
    // EIO is how a pty master says its last slave closed: the end, too.
    pipe.on('error', done);
    pipe.on('close', done);
  });
}
