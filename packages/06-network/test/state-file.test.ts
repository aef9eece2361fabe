// writeFileAtomic, the one way hull writes a state file: the temp file is
// 0600 from the open(2) that creates it (not chmod'ed later), it never
// reuses or follows what someone planted at its name, and a failed write
// leaves nothing. No root needed: plain files in a temp dir.
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomToken } from '@hull/testkit';
import { createExclusive, writeFileAtomic } from '../src/state-file.js';

describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hull-state-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file 0600 at open time: the fd is 0600 before a byte is written', () => {
    const path = join(dir, `fresh-${randomToken(6)}`);
    const fd = createExclusive(path);
    try {
      // Nothing written yet, nothing chmod'ed: the mode is what open(2) gave it.
      expect(fstatSync(fd).mode & 0o777).toBe(0o600);
      expect(fstatSync(fd).size).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  it('is 0600 whatever the umask (a child with umask 000 writes it)', () => {
    const path = join(dir, `umask-${randomToken(6)}.json`);
    const content = `{"secret":"${randomToken(16)}"}`;
    const module = new URL('../dist/state-file.js', import.meta.url).pathname;
    execFileSync('sh', ['-c', `umask 000; exec node --input-type=module -e "import { writeFileAtomic } from '${module}'; writeFileAtomic(process.argv[1], process.argv[2]);" "$0" "$1"`, path, content]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(content);
  });

  it('replaces the old file in one rename, and leaves no temp file', () => {
    const path = join(dir, `state-${randomToken(6)}.json`);
    writeFileSync(path, 'old', { mode: 0o644 });
    const content = randomToken(32);
    writeFileAtomic(path, content);
    expect(readFileSync(path, 'utf8')).toBe(content);
    // The new inode's mode, not the old file's 0644.
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith('state-') && f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to open a name someone planted, a symlink included, and writes nothing through it', () => {
    const victim = join(dir, `victim-${randomToken(6)}`);
    const marker = randomToken(16);
    writeFileSync(victim, marker);
    const link = join(dir, `link-${randomToken(6)}`);
    symlinkSync(victim, link);
    expect(() => createExclusive(link)).toThrow(/EEXIST/);
    expect(() => createExclusive(victim)).toThrow(/EEXIST/);
    expect(readFileSync(victim, 'utf8')).toBe(marker);
  });

  it('a failed write leaves the old file and no temp', () => {
    const sub = mkdtempSync(join(dir, 'ro-'));
    const path = join(sub, 'state.json');
    writeFileSync(path, 'old');
    // A directory at the final name: the rename fails after the temp was written.
    const target = join(sub, 'is-a-dir');
    execFileSync('mkdir', [target, join(target, 'child')]);
    expect(() => writeFileAtomic(target, 'new')).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(sub).sort()).toEqual(['is-a-dir', 'state.json']);
    expect(readFileSync(path, 'utf8')).toBe('old');
  });
});
