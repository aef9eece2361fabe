// Extended attributes a layer carries (PAX SCHILY.xattr.* records), and which
// of them a layer may set at all.
/** Each xattr by name; null when its value could not be kept byte for byte. */
export type Xattrs = Map<string, Buffer | null>;

/**
 * The xattrs of tar-stream's own (UTF-8 decoded) PAX records: the fallback
 * when the raw scanner and tar-stream disagree about which entry this is.
 */
export function decodedXattrs(pax: Record<string, string> | undefined): Xattrs {
  const out: Xattrs = new Map();
  for (const [key, value] of Object.entries(pax ?? {})) {
    // A binary value (security.capability) comes back with U+FFFD in it.
    if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), value.includes('\ufffd') ? null : Buffer.from(value, 'utf8'));
  }
  return out;
}

/**
 * The xattrs a layer may put on its files. overlayfs reads trusted.overlay.*
 * (user.overlay.* when rootless) as its own metadata: an image that set
 * trusted.overlay.redirect, .origin, .metacopy or .opaque on a file would
 * steer the kernel's merge of the layers (redirect to a path of another
 * layer, hide or resurrect files). hull writes the opaque marker itself, from
 * ".wh..wh..opq". Other trusted.* and security.* (selinux, ima, evm) are host
 * policy, not image content. security.capability is what `setcap` writes,
 * which real images (ping, ...) need; user.* is free for applications.
 */
export function layerMaySet(name: string): boolean {
  if (name === 'security.capability') return true;
  return name.startsWith('user.') && !name.startsWith('user.overlay.');
}
