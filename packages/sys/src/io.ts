import koffi from 'koffi';
import { close, read } from './syscalls.js';

/**
 * Read a pipe to EOF without blocking the event loop, then close it.
 * (Node's own streams would take over the fd; this keeps ownership simple.)
 */
export function readToEnd(fd: number, limit = 1 << 20): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const poll = koffi.node.poll(fd, { readable: true, disconnect: true }, () => {
      try {
        const buf = Buffer.alloc(65536);
        const n = read(fd, buf);
        if (n > 0 && total < limit) {
          chunks.push(buf.subarray(0, n));
          total += n;
          return;
        }
        if (n > 0) return;
        poll.close();
        close(fd);
        resolve(Buffer.concat(chunks));
      } catch (err) {
        poll.close();
        close(fd);
        reject(err);
      }
    });
  });
}
