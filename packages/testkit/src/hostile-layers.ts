// Layers whose names lie to C, and the markers that prove nothing outside the
// target moved. A JS string may hold U+0000; a C string ends there. So a PAX
// `path` of "..\0x" is "..\0x" to every JS check and ".." to the kernel: each
// entry kind below, named that way, acted on the directory ABOVE the
// extraction target before hull refused them (issue 13). Shared by chapter 07's
// tests (`pull --dest`) and final-runtime's (`hull pull`, `run`, `load`).
import { chownSync, chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { randomToken } from './random.js';
import type { RawTarEntry } from './raw-tar.js';

export interface NameAttack {
  label: string;
  entries: RawTarEntry[];
  /** What the one error line must say. */
  reason: RegExp;
}

const NUL = /: NUL byte in the name$/;

/** Every entry kind with a NUL that turns its last component into ".." (or the target into ".."), plus control characters. */
export function nameAttacks(): NameAttack[] {
  const uid = randomInt(1000, 60000);
  const mode = 0o700 | randomInt(0, 0o100);
  return [
    { label: 'directory "..\\0x" (chown + chmod the parent)', entries: [{ path: '..\0x', typeflag: '5', mode, uid, gid: uid }], reason: NUL },
    { label: 'directory "a/..\\0"', entries: [{ path: 'a/..\0', typeflag: '5', mode, uid, gid: uid }], reason: NUL },
    { label: 'file "..\\0x" (empties the parent)', entries: [{ path: '..\0x', content: Buffer.from(randomToken()) }], reason: NUL },
    { label: 'symlink "..\\0x"', entries: [{ path: '..\0x', typeflag: '2', linkpath: 'y' }], reason: NUL },
    { label: 'hardlink "..\\0x"', entries: [{ path: 'f', content: Buffer.from(randomToken()) }, { path: '..\0x', typeflag: '1', linkpath: 'f' }], reason: NUL },
    { label: 'whiteout ".wh...\\0x" (empties the parent)', entries: [{ path: '.wh...\0x', content: Buffer.alloc(0) }], reason: NUL },
    { label: 'opaque marker "..\\0x/.wh..wh..opq"', entries: [{ path: '..\0x/.wh..wh..opq', content: Buffer.alloc(0) }], reason: NUL },
    { label: 'char device "..\\0x"', entries: [{ path: '..\0x', typeflag: '3', devmajor: 1, devminor: 3 }], reason: NUL },
    { label: 'fifo "..\\0x"', entries: [{ path: '..\0x', typeflag: '6' }], reason: NUL },
    { label: 'symlink target with a NUL', entries: [{ path: 's', typeflag: '2', linkpath: '..\0/etc' }], reason: /link target .*: NUL byte in it$/ },
    {
      label: 'hardlink target with a NUL',
      entries: [{ path: 'f', content: Buffer.from(randomToken()) }, { path: 'h', typeflag: '1', linkpath: 'f\0x' }],
      reason: /link target .*: NUL byte in it$/,
    },
    { label: 'xattr name with a NUL', entries: [{ path: 'x', content: Buffer.from('x'), pax: { 'SCHILY.xattr.user.a\0b': randomToken() } }], reason: /xattr name .*: NUL byte in the name$/ },
    { label: 'control character U+0001 in a file name', entries: [{ path: 'x\x01y', content: Buffer.from('x') }], reason: /: control character U\+0001 in the name$/ },
    { label: 'newline in a directory name', entries: [{ path: 'd\nx', typeflag: '5' }], reason: /: control character U\+000A in the name$/ },
    { label: 'DEL in a symlink name', entries: [{ path: 'z\x7f', typeflag: '2', linkpath: 'y' }], reason: /: control character U\+007F in the name$/ },
  ];
}

/**
 * Random markers in `dir`: a file and a directory (holding a file), each with
 * random contents, mode and owner. `dir` itself gets a random owner too,
 * unless `ownDir` is false (a store root must stay root's own).
 */
export function placeMarkers(dir: string, ownDir = true): void {
  const token = randomToken(12);
  const owner = (): number => randomInt(1000, 60000);
  const file = join(dir, `marker-${token}`);
  writeFileSync(file, randomToken(32));
  chownSync(file, owner(), owner());
  chmodSync(file, [0o600, 0o640, 0o604, 0o751][randomInt(0, 4)]!);
  const sub = join(dir, `dir-${token}`);
  mkdirSync(sub);
  writeFileSync(join(sub, 'keep'), randomToken(32));
  chownSync(sub, owner(), owner());
  chmodSync(sub, 0o700 | randomInt(0, 0o100));
  if (ownDir) chownSync(dir, owner(), owner());
}

/** lgetxattr(2), passed in by the caller (@hull/sys has it; the testkit does not depend on sys). */
export type XattrReader = (path: string, name: string) => Buffer | null;

/**
 * What an attack could have changed in a tree: every name, type, mode, owner,
 * contents, symlink target and overlay opaque xattr. `stop(rel)` true: record
 * that path's own state but not what is under it (the target, the store's dirs).
 */
export function treeState(dir: string, lgetxattr: XattrReader, stop: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = rel ? join(dir, rel) : dir;
    const st = lstatSync(abs);
    const what = st.isSymbolicLink() ? `-> ${readlinkSync(abs)}` : st.isFile() ? readFileSync(abs, 'utf8') : st.isDirectory() ? 'dir' : 'other';
    const opaque = st.isSymbolicLink() ? null : (lgetxattr(abs, 'trusted.overlay.opaque') ?? lgetxattr(abs, 'user.overlay.opaque'));
    out.push(`${rel || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${what}${opaque ? ` opaque=${opaque.toString()}` : ''}`);
    if (st.isDirectory() && !(rel && stop(rel))) for (const c of readdirSync(abs).sort()) walk(rel ? `${rel}/${c}` : c);
  };
  walk('');
  return out;
}
