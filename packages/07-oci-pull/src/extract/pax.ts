// xattrs travel in PAX extended headers as raw bytes (SCHILY.xattr.NAME=VALUE),
// and security.capability's value is binary. tar-stream hands PAX records out
// as UTF-8 strings, which mangles such values beyond repair. So this Transform
// sits in front of tar-stream, passes every byte through untouched, and walks
// the same 512-byte blocks tar-stream walks, keeping each entry's xattrs as
// Buffers. Entry k here is entry k tar-stream emits; the name is kept too, so
// the extractor can check that both sides agree before trusting it.
import { Transform, type TransformCallback } from 'node:stream';
import { ContainerError } from '@hull/01-uts';
import { type LayerLimits, MAX_ENTRIES, MAX_PAX_HEADER } from './limits.js';

const BLOCK = 512;

export interface EntryXattrs {
  /** The entry's name as tar-stream will report it (ustar prefix/name, GNU long name, PAX path). */
  name: string;
  xattrs: Map<string, Buffer>;
}

/** Parse "LEN KEY=VALUE\n" records, values as raw bytes. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(off, space).toString('ascii'), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || off + len > data.length) break;
    const record = data.subarray(space + 1, off + len - 1); // without the trailing "\n"
    const eq = record.indexOf(0x3d);
    if (eq > 0) records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    off += len;
  }
  return records;
}

/** The xattrs among PAX records: SCHILY.xattr.NAME (raw) and LIBARCHIVE.xattr.NAME (URL-encoded name, base64 value). */
export function xattrsOf(records: Map<string, Buffer>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [key, value] of records) {
    if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), value);
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      try {
        out.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value.toString('ascii'), 'base64'));
      } catch {
        // A malformed %-escape: not a name we can set.
      }
    }
  }
  return out;
}

/** A tar numeric field: octal text, or base-256 when the high bit of the first byte is set. */
function numeric(field: Buffer): number {
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('ascii').replace(/\0.*$/s, '').trim();
  return text ? Number.parseInt(text, 8) : 0;
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
}

type State = { kind: 'header' } | { kind: 'meta'; type: string; left: number; pad: number; chunks: Buffer[] } | { kind: 'skip'; left: number };

export class PaxXattrScanner extends Transform {
  /** One element per entry tar-stream will emit, in order. */
  readonly entries: EntryXattrs[] = [];
  private state: State = { kind: 'header' };
  private header: Buffer[] = [];
  private headerLength = 0;
  private global = new Map<string, Buffer>();
  private local: Map<string, Buffer> | null = null;
  private longName: string | null = null;

  /**
   * The scanner sees every header before tar-stream does, so it enforces the
   * bounds: tar-stream would buffer a PAX header of any size in the heap.
   */
  constructor(private readonly limits: Pick<LayerLimits, 'maxPaxHeader' | 'maxEntries'> = { maxPaxHeader: MAX_PAX_HEADER, maxEntries: MAX_ENTRIES }) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let off = 0;
      while (off < chunk.length) off += this.consume(chunk.subarray(off));
    } catch (err) {
      // Not passed on: tar-stream must never see the header we refused.
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  /** Eat bytes of `buf` for the current state; returns how many. */
  private consume(buf: Buffer): number {
    const state = this.state;
    if (state.kind === 'skip') {
      const n = Math.min(state.left, buf.length);
      state.left -= n;
      if (state.left === 0) this.state = { kind: 'header' };
      return n;
    }
    if (state.kind === 'meta') {
      const n = Math.min(state.left, buf.length);
      state.chunks.push(Buffer.from(buf.subarray(0, n)));
      state.left -= n;
      if (state.left === 0) {
        this.metaDone(state.type, Buffer.concat(state.chunks));
        this.state = state.pad ? { kind: 'skip', left: state.pad } : { kind: 'header' };
      }
      return n;
    }
    const n = Math.min(BLOCK - this.headerLength, buf.length);
    this.header.push(Buffer.from(buf.subarray(0, n)));
    this.headerLength += n;
    if (this.headerLength === BLOCK) {
      const block = Buffer.concat(this.header);
      this.header = [];
      this.headerLength = 0;
      this.headerDone(block);
    }
    return n;
  }

  private headerDone(block: Buffer): void {
    // tar-stream skips an all-zero block (end-of-archive marker) and carries on: so do we.
    if (block.every((b) => b === 0)) return;
    let type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    let size = numeric(block.subarray(124, 136));
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > this.limits.maxPaxHeader) {
        const kind = type === 'x' || type === 'g' ? 'PAX' : 'GNU long-name';
        throw new ContainerError(`layer has a ${kind} header of ${size} bytes, more than the ${this.limits.maxPaxHeader} allowed`);
      }
      this.state = { kind: 'meta', type, left: size, pad: padding(size), chunks: [] };
      if (size === 0) {
        this.metaDone(type, Buffer.alloc(0));
        this.state = { kind: 'header' };
      }
      return;
    }
    let name = cString(block.subarray(0, 100));
    if (block.subarray(257, 263).toString('latin1') === 'ustar\0' && block[345]) name = `${cString(block.subarray(345, 500))}/${name}`;
    if (type === '0' && name.endsWith('/')) type = '5';
    if (this.longName !== null) name = this.longName;
    const records = new Map([...this.global, ...(this.local ?? [])]);
    // Like tar-stream: path and size records count only when the entry has its own PAX header.
    if (this.local) {
      const path = records.get('path');
      if (path) name = path.toString('utf8');
      const paxSize = records.get('size');
      if (paxSize) size = Number.parseInt(paxSize.toString('ascii'), 10);
    }
    this.entries.push({ name, xattrs: xattrsOf(records) });
    if (this.entries.length > this.limits.maxEntries) {
      throw new ContainerError(`layer has more than ${this.limits.maxEntries} entries; HULL_MAX_LAYER_ENTRIES=N raises the limit`);
    }
    this.local = null;
    this.longName = null;
    // Like tar-stream: a directory's size is not data that follows.
    const data = type === '5' ? 0 : size;
    if (data > 0) this.state = { kind: 'skip', left: data + padding(data) };
  }

  private metaDone(type: string, data: Buffer): void {
    if (type === 'x') this.local = parsePaxRecords(data);
    else if (type === 'g') this.global = parsePaxRecords(data);
    else if (type === 'L') this.longName = cString(data);
    // 'K' (GNU long link name) carries no xattrs and no entry name.
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
