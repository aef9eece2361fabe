// Tar entry names are untrusted strings. We take them apart here, with no
// filesystem access, and refuse what cannot name a path inside the target.

/** Why a name was refused, or its components below the target ([] = the target itself). */
export type EntryComponents = { ok: true; parts: string[] } | { ok: false; reason: string };

/**
 * Split a tar entry name (or a hardlink's linkname) into path components.
 * "./a//b/" -> ["a", "b"]. Refused: control characters (NUL first of all),
 * absolute names and any ".." component.
 *
 * Why refuse rather than clamp: a well-formed layer never needs either (tar
 * itself strips a leading "/" when it creates an archive, and no image tool
 * writes ".."), so their presence means a broken or hostile layer, and saying
 * so beats guessing what it meant.
 */
export function entryComponents(name: string): EntryComponents {
  const control = controlCharacter(name);
  if (control) return { ok: false, reason: control };
  if (name.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: '".." component' };
    parts.push(part);
  }
  return { ok: true, parts };
}

/**
 * Why `text` (a name, a link target, an xattr name) cannot reach a syscall,
 * or null. A NUL ends a C string: a PAX `path` of "..\0x" passes every JS
 * check as "..\0x" and reaches the kernel as "..", one level above the
 * target. The other C0 controls and DEL are refused too: no image builder
 * writes them, and they make names that terminals, logs and `ls` cannot show
 * faithfully (a name holding "\n" or an escape sequence lies to whoever reads it).
 */
export function controlCharacter(text: string): string | null {
  // eslint-disable-next-line no-control-regex
  const m = /[\u0000-\u001f\u007f]/.exec(text);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  return code === 0 ? 'NUL byte in the name' : `control character U+${code.toString(16).toUpperCase().padStart(4, '0')} in the name`;
}

/** OCI whiteouts (image-spec layer.md): ".wh.NAME" deletes NAME; ".wh..wh..opq" makes its directory opaque. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
