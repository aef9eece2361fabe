// Hostile tars, byte by byte. tar-stream's packer (tarOf) refuses or cleans up
// what an attacker would send on purpose: a NUL inside a PAX `path`, control
// characters, a PAX header of several MiB. So these fixtures write ustar
// headers and PAX records themselves (POSIX.1-2001 pax format, as in
// https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html).

const BLOCK = 512;

/** ustar typeflags: '0' file, '1' hardlink, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo. */
export type RawTypeflag = '0' | '1' | '2' | '3' | '4' | '5' | '6';

export interface RawTarEntry {
  /** Goes into a PAX `path` record, byte for byte (NULs included); the ustar name field gets a harmless stand-in. */
  path: string;
  typeflag?: RawTypeflag;
  content?: Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Goes into a PAX `linkpath` record, byte for byte. */
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  /** More PAX records, e.g. {'SCHILY.xattr.user.x': 'y'}; keys and values byte for byte. */
  pax?: Record<string, string | Buffer>;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One "LEN KEY=VALUE\n" record; LEN counts its own digits. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function header(name: string, typeflag: string, size: number, e: Partial<RawTarEntry> = {}): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 99), 0, 'latin1');
  h.write(octal(e.mode ?? (typeflag === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(1704067200, 12), 136, 'ascii'); // 2024-01-01, like the testkit's other fixtures
  h.write(typeflag, 156, 'ascii');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'ascii');
  h.write(octal(e.devmajor ?? 0, 8), 329, 'ascii');
  h.write(octal(e.devminor ?? 0, 8), 337, 'ascii');
  // The checksum is computed with its own field read as 8 spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function padded(data: Buffer): Buffer {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

/** A PAX extended header ('x') holding `records`, then the entry it describes. */
function entryBlocks(e: RawTarEntry, index: number): Buffer {
  const typeflag = e.typeflag ?? (e.content !== undefined ? '0' : '5');
  const records = [paxRecord('path', e.path)];
  if (e.linkpath !== undefined) records.push(paxRecord('linkpath', e.linkpath));
  for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, v));
  const pax = Buffer.concat(records);
  const content = typeflag === '0' ? (e.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
  return Buffer.concat([
    header(`PaxHeaders/${index}`, 'x', pax.length),
    padded(pax),
    header(`stand-in-${index}`, typeflag, content.length, e),
    padded(content),
  ]);
}

/** An uncompressed tar of `entries`, each with its own PAX header, and the two zero blocks that end an archive. */
export function rawTar(entries: readonly RawTarEntry[]): Buffer {
  return Buffer.concat([...entries.map(entryBlocks), Buffer.alloc(2 * BLOCK)]);
}
