// Hostile layers. Each must be refused (one line naming the entry) or, where
// README.md says so, confined to the target, and NOTHING outside the target may
// change: a sibling "outside" dir holds random markers, and /etc is checked for
// the random names the attacks aim at.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { nameAttacks, randomToken, rawTar, requireRoot, tarOf, type LayerEntry } from '@hull/testkit';
import { extractLayer, type ExtractMode } from '../src/extract/index.js';

/** Everything about a tree that an attack could change: names, types, contents, link counts, mtimes. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(abs)}` : st.isFile() ? readFileSync(abs, 'utf8') : st.isDirectory() ? 'dir' : 'other';
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} nlink=${st.nlink} mtime=${st.mtimeMs} ${what}`);
    if (st.isDirectory()) for (const c of readdirSync(abs).sort()) walk(rel ? `${rel}/${c}` : c);
  };
  walk('');
  return out;
}

const MODES: ExtractMode[] = ['flatten', 'overlay'];

describe.skipIf(!requireRoot('07-oci-pull extract attacks'))('07-oci-pull: hostile layers stay inside the target', () => {
  const work = mkdtempSync(join(tmpdir(), 'hull-attack-'));
  let token: string;
  let target: string;
  let outside: string;
  let marker: string;
  let outsideBefore: string[];
  /** A name under /etc that no one else uses; the attacks aim at it. */
  let etcVictim: string;

  beforeEach(() => {
    token = randomToken();
    const dir = mkdtempSync(join(work, 'case-'));
    target = join(dir, 'target');
    outside = join(dir, 'outside');
    mkdirSync(target);
    mkdirSync(outside);
    marker = join(outside, `marker-${token}`);
    writeFileSync(marker, `untouched ${token}`);
    mkdirSync(join(outside, 'sub'));
    writeFileSync(join(outside, 'sub', 'keep'), token);
    outsideBefore = snapshot(outside);
    etcVictim = `hull-attack-${token}`;
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  /** Extract `entries` as one layer; the outside dir and /etc must be untouched whatever happens. */
  async function extract(entries: LayerEntry[], mode: ExtractMode): Promise<Error | null> {
    const tar = await tarOf(entries);
    let error: Error | null = null;
    try {
      await extractLayer(Readable.from([tar]), target, { mode });
    } catch (err) {
      error = err as Error;
    }
    expect(snapshot(outside)).toEqual(outsideBefore);
    expect(existsSync(join('/etc', etcVictim))).toBe(false);
    expect(existsSync(join(target, '..', etcVictim))).toBe(false);
    return error;
  }

  function expectRefused(error: Error | null, entry: string, reason: RegExp): void {
    expect(error).not.toBeNull();
    expect(error!.message.split('\n')).toHaveLength(1);
    expect(error!.message).toMatch(new RegExp(`^refused layer entry ${JSON.stringify(entry).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    expect(error!.message).toMatch(reason);
  }

  describe.each(MODES)('mode %s', (mode) => {
    it('refuses names, link targets and xattr names with a NUL or a control character; the target\'s parent keeps its mode, owner and entries', async () => {
      const parent = dirname(target);
      const parentState = (): string => {
        const st = lstatSync(parent);
        return `${st.mode.toString(8)} ${st.uid}:${st.gid} ${readdirSync(parent).sort().join(',')}`;
      };
      const before = parentState();
      for (const attack of nameAttacks()) {
        const t = mkdtempSync(join(parent, 't-'));
        let error: Error | null = null;
        try {
          await extractLayer(Readable.from([rawTar(attack.entries)]), t, { mode });
        } catch (err) {
          error = err as Error;
        }
        expect(error?.message, attack.label).toMatch(attack.reason);
        expect(error!.message.split('\n')).toHaveLength(1);
        expect(snapshot(outside)).toEqual(outsideBefore);
        rmSync(t, { recursive: true, force: true });
        expect(parentState(), attack.label).toEqual(before);
      }
    });

    it('refuses "../" entries', async () => {
      const name = `../${etcVictim}`;
      expectRefused(await extract([{ path: 'ok', content: 'x' }, { path: name, content: token }], mode), name, /"\.\." component/);
      const deep = `a/../../outside/marker-${token}`;
      expectRefused(await extract([{ path: deep, content: 'pwned' }], mode), deep, /"\.\." component/);
    });

    it('refuses absolute paths', async () => {
      const name = `/etc/${etcVictim}`;
      expectRefused(await extract([{ path: name, content: token }], mode), name, /absolute path/);
      expectRefused(await extract([{ path: marker, content: 'pwned' }], mode), marker, /absolute path/);
    });

    it('refuses a write through a symlink that points outside', async () => {
      for (const linkname of [outside, '../outside', `../../../../../../../..${outside}`]) {
        const error = await extract(
          [
            { path: 'evil', type: 'symlink', linkname },
            { path: `evil/marker-${token}`, content: 'pwned' },
          ],
          mode,
        );
        expectRefused(error, `evil/marker-${token}`, /its parent "evil" is not a directory inside the target/);
      }
    });

    it('confines a symlink chain to /etc: the write lands in the target\'s own etc', async () => {
      const error = await extract(
        [
          { path: 'etc/', type: 'directory' },
          { path: 'a', type: 'symlink', linkname: 'b' },
          { path: 'b', type: 'symlink', linkname: '../../../../etc' },
          { path: 'c', type: 'symlink', linkname: '/a' },
          { path: `c/${etcVictim}`, content: token },
        ],
        mode,
      );
      expect(error).toBeNull();
      expect(readFileSync(join(target, 'etc', etcVictim), 'utf8')).toBe(token);
      expect(readlinkSync(join(target, 'c'))).toBe('/a');
    });

    it('refuses an entry below a symlink loop', async () => {
      const error = await extract(
        [
          { path: 'loop', type: 'symlink', linkname: 'loop2' },
          { path: 'loop2', type: 'symlink', linkname: '/loop' },
          { path: 'loop/x', content: token },
        ],
        mode,
      );
      expectRefused(error, 'loop/x', /its parent "loop" is not a directory inside the target \(ELOOP\)/);
    });

    it('refuses hardlinks to host paths, outside paths and through symlinks', async () => {
      expectRefused(await extract([{ path: 'h', type: 'link', linkname: '/etc/passwd' }], mode), 'h', /hardlink to "\/etc\/passwd": absolute path/);
      expectRefused(await extract([{ path: 'h', type: 'link', linkname: `../outside/marker-${token}` }], mode), 'h', /"\.\." component/);
      // d/marker is an entry of this layer; then d becomes a symlink to outside: the link would go through it.
      const error = await extract(
        [
          { path: 'd/', type: 'directory' },
          { path: `d/marker-${token}`, content: 'inside' },
          { path: 'd', type: 'symlink', linkname: outside },
          { path: 'h', type: 'link', linkname: `d/marker-${token}` },
        ],
        mode,
      );
      expectRefused(error, 'h', /through a symlink or a missing directory \(ELOOP\)/);
      expect(lstatSync(marker).nlink).toBe(1);
    });

    it('replaces, never writes through, a symlink or a hardlinked symlink at the same name', async () => {
      const error = await extract(
        [
          { path: 'f', type: 'symlink', linkname: marker },
          { path: 'f', content: `new ${token}` },
          { path: 's', type: 'symlink', linkname: marker },
          { path: 'h', type: 'link', linkname: 's' },
          { path: 'h', content: `h ${token}` },
          { path: 'x', type: 'symlink', linkname: outside },
          { path: 'x/', type: 'directory' },
          { path: 'x/y', content: token },
        ],
        mode,
      );
      expect(error).toBeNull();
      expect(readFileSync(join(target, 'f'), 'utf8')).toBe(`new ${token}`);
      expect(readFileSync(join(target, 'h'), 'utf8')).toBe(`h ${token}`);
      expect(lstatSync(join(target, 'x')).isDirectory()).toBe(true);
      expect(readFileSync(join(target, 'x', 'y'), 'utf8')).toBe(token);
    });

    it('refuses malformed whiteouts, and a whiteout through a symlink deletes nothing outside', async () => {
      expectRefused(await extract([{ path: '.wh...', content: '' }], mode), '.wh...', /malformed whiteout/);
      const error = await extract(
        [
          { path: 'evil', type: 'symlink', linkname: outside },
          { path: `evil/.wh.marker-${token}`, content: '' },
          { path: 'evil/.wh..wh..opq', content: '' },
        ],
        mode,
      );
      // Flattened, there is nothing below "evil" inside the target to delete; as an
      // overlay layer, the whiteout device would need "evil" to be a directory.
      if (mode === 'overlay') expectRefused(error, `evil/.wh.marker-${token}`, /its parent "evil" is not a directory/);
      else expect(error).toBeNull();
      const opaque = await extract(
        [
          { path: 'evil2', type: 'symlink', linkname: '../outside' },
          { path: 'evil2/.wh..wh..opq', content: '' },
        ],
        mode,
      );
      if (mode === 'overlay') expectRefused(opaque, 'evil2/.wh..wh..opq', /its parent "evil2" is not a directory/);
      else expect(opaque).toBeNull();
    });
  });

  it('refuses a hardlink to a file of a lower layer (flatten), as it must in overlay mode', async () => {
    expect(await extract([{ path: 'lower', content: token }], 'flatten')).toBeNull();
    expectRefused(await extract([{ path: 'h', type: 'link', linkname: 'lower' }], 'flatten'), 'h', /not an earlier entry of this layer/);
    expect(lstatSync(join(target, 'lower')).nlink).toBe(1);
    // A file that existed before this layer is fine as a whiteout victim, and gone afterwards.
    expect(await extract([{ path: '.wh.lower', content: '' }], 'flatten')).toBeNull();
    expect(existsSync(join(target, 'lower'))).toBe(false);
  });
});
