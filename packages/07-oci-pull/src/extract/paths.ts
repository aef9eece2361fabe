// Tar entry names are untrusted strings. We take them apart here, with no
// filesystem access, and refuse what cannot name a path inside the target.

/** Why a name was refused, or its components below the target ([] = the target itself). */
export type EntryComponents = { ok: true; parts: string[] } | { ok: false; reason: string };

/**
 * Split a tar entry name (or a hardlink's linkname) into path components.
 * "./a//b/" -> ["a", "b"]. Refused: absolute names and any ".." component.
 *
 * Why refuse rather than clamp: a well-formed layer never needs either (tar
 * itself strips a leading "/" when it creates an archive, and no image tool
 * writes ".."), so their presence means a broken or hostile layer, and saying
 * so beats guessing what it meant.
 */
export function entryComponents(name: string): EntryComponents {
  if (name.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: '".." component' };
    parts.push(part);
  }
  return { ok: true, parts };
}

/** OCI whiteouts (image-spec layer.md): ".wh.NAME" deletes NAME; ".wh..wh..opq" makes its directory opaque. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
