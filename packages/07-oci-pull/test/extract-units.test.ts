// The pure parts of the extractor, no root needed: entry names, PAX records,
// and the raw-xattr scanner staying in step with tar-stream.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { extract as tarExtract } from 'tar-stream';
import { randomToken, tarOf } from '@hull/testkit';
import { entryComponents, LAYER_CAP, LAYER_FLOOR, LAYER_RATIO, layerLimits, MAX_ENTRIES, MAX_PAX_HEADER } from '../src/extract/index.js';
import { parsePaxRecords, PaxXattrScanner, xattrsOf } from '../src/extract/pax.js';

describe('07-oci-pull: entry names', () => {
  it('splits names into components inside the target', () => {
    expect(entryComponents('./a//b/')).toEqual({ ok: true, parts: ['a', 'b'] });
    expect(entryComponents('a/./b')).toEqual({ ok: true, parts: ['a', 'b'] });
    expect(entryComponents('./')).toEqual({ ok: true, parts: [] });
    expect(entryComponents('.wh..wh..opq')).toEqual({ ok: true, parts: ['.wh..wh..opq'] });
    expect(entryComponents('a..b/..c')).toEqual({ ok: true, parts: ['a..b', '..c'] });
  });

  it('refuses absolute names and ".." components', () => {
    expect(entryComponents('/etc/passwd')).toEqual({ ok: false, reason: 'absolute path' });
    expect(entryComponents('//x')).toEqual({ ok: false, reason: 'absolute path' });
    expect(entryComponents('../x')).toEqual({ ok: false, reason: '".." component' });
    expect(entryComponents('a/b/../../..')).toEqual({ ok: false, reason: '".." component' });
    expect(entryComponents('a/../b')).toEqual({ ok: false, reason: '".." component' });
  });
});

describe('07-oci-pull: PAX xattrs', () => {
  it('parses records with binary values, lengths counted in bytes', () => {
    const value = Buffer.from([0xff, 0x00, 0x0a, 0x3d, 0xc3]);
    const record = (key: string, v: Buffer): Buffer => {
      const body = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
      // The length counts its own digits.
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const data = Buffer.concat([record('path', Buffer.from('dir/ünïcode')), record('SCHILY.xattr.security.capability', value), record('LIBARCHIVE.xattr.user.a%20b', Buffer.from(Buffer.from('hi').toString('base64')))]);
    const records = parsePaxRecords(data);
    expect(records.get('path')?.toString('utf8')).toBe('dir/ünïcode');
    expect(records.get('SCHILY.xattr.security.capability')).toEqual(value);
    const xattrs = xattrsOf(records);
    expect([...xattrs.keys()].sort()).toEqual(['security.capability', 'user.a b']);
    expect(xattrs.get('user.a b')?.toString()).toBe('hi');
  });

  it('stays in step with tar-stream, whatever the chunk boundaries', async () => {
    const token = randomToken();
    const long = `${'l'.repeat(130)}/${token}`;
    const tar = await tarOf([
      { path: 'd/', type: 'directory', pax: { 'SCHILY.xattr.user.d': `dir ${token}` } },
      { path: 'd/file', content: 'x'.repeat(1500), pax: { 'SCHILY.xattr.user.f': token } },
      { path: long, content: 'long' },
      { path: 'empty', content: '' },
      { path: 'link', type: 'symlink', linkname: `/${'t'.repeat(200)}`, pax: { 'SCHILY.xattr.trusted.x': 'y' } },
      { path: 'fifo', type: 'fifo' },
    ]);
    for (const size of [1, 7, 511, 512, 513, 4096]) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < tar.length; off += size) chunks.push(tar.subarray(off, off + size));
      const scanner = new PaxXattrScanner();
      const names: string[] = [];
      const parser = tarExtract();
      parser.on('entry', (header, stream, next) => {
        names.push(header.name);
        stream.resume();
        stream.on('end', next);
      });
      await pipeline(Readable.from(chunks), scanner, parser);
      expect(scanner.entries.map((e) => e.name)).toEqual(names);
      expect(names).toEqual(['d/', 'd/file', long, 'empty', 'link', 'fifo']);
      expect(scanner.entries[0]?.xattrs.get('user.d')?.toString()).toBe(`dir ${token}`);
      expect(scanner.entries[1]?.xattrs.get('user.f')?.toString()).toBe(token);
      expect(scanner.entries[2]?.xattrs.size).toBe(0);
      expect(scanner.entries[4]?.xattrs.get('trusted.x')?.toString()).toBe('y');
    }
  });
});

describe('07-oci-pull: names C would read differently, and layer bounds', () => {
  it('refuses NUL and the other control characters, accepts the rest of Unicode', () => {
    expect(entryComponents('..\0x')).toEqual({ ok: false, reason: 'NUL byte in the name' });
    expect(entryComponents('a/b\tc')).toEqual({ ok: false, reason: 'control character U+0009 in the name' });
    expect(entryComponents('x\x7f')).toEqual({ ok: false, reason: 'control character U+007F in the name' });
    expect(entryComponents('ünï cödé/ 日本')).toEqual({ ok: true, parts: ['ünï cödé', ' 日本'] });
  });

  it('layer size: 100x the blob, at least 1 GiB, at most 64 GiB; the env overrides, and a bad value is refused', () => {
    expect(layerLimits(1 << 20, {}).maxSize).toBe(LAYER_FLOOR);
    expect(layerLimits(100 << 20, {}).maxSize).toBe(100 * LAYER_RATIO * (1 << 20));
    expect(layerLimits(10 * 2 ** 30, {}).maxSize).toBe(LAYER_CAP);
    expect(layerLimits(1, { HULL_MAX_LAYER_SIZE: '12345', HULL_MAX_LAYER_ENTRIES: '7' })).toEqual({ maxSize: 12345, maxEntries: 7, maxPaxHeader: MAX_PAX_HEADER });
    expect(() => layerLimits(1, { HULL_MAX_LAYER_SIZE: '1e3x' })).toThrow('HULL_MAX_LAYER_SIZE="1e3x": not a positive whole number');
    expect(layerLimits(1, {}).maxEntries).toBe(MAX_ENTRIES);
  });
});
