// The image's `User` ("1000", "nobody", "1000:1000", "app:staff") resolved to
// numbers on the host side, from the image's own /etc/passwd and /etc/group:
// the init stage then only makes syscalls (docs/architecture.md).
import { closeSync, fstatSync, readFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';
import { openRegularInRoot, RESOLVE_AS_CONTAINER } from './in-root.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** supplementary groups from /etc/group */
  groups: number[];
  home: string;
}

/** An /etc/passwd of 4 MiB is ~50,000 users; a bigger one is an image trying to exhaust our heap. */
const MAX_ACCOUNT_FILE = 4 << 20;

/**
 * Lines of a file in the rootfs, resolved as the container sees it (in-root.ts):
 * an /etc or /etc/passwd that is a symlink to the host's /etc/shadow reads
 * the image's own file, never the host's. Missing or not a regular file: none.
 */
function readImageFile(rootfs: string, path: string): string[] {
  const fd = openRegularInRoot(rootfs, path, RESOLVE_AS_CONTAINER);
  if (typeof fd === 'string') return [];
  try {
    if (fstatSync(fd).size > MAX_ACCOUNT_FILE) throw new ContainerError(`the image's /${path} is larger than ${MAX_ACCOUNT_FILE >> 20} MiB`);
    return readFileSync(fd, 'utf8').split('\n');
  } finally {
    closeSync(fd);
  }
}

const NUMBER = /^\d+$/;

export function resolveUser(rootfs: string, user: string | undefined): ResolvedUser {
  if (!user) return { uid: 0, gid: 0, groups: [], home: '/root' };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const passwd = readImageFile(rootfs, 'etc/passwd').map((l) => l.split(':'));
  const group = readImageFile(rootfs, 'etc/group').map((l) => l.split(':'));
  const entry = passwd.find((f) => f.length >= 7 && (NUMBER.test(u) ? f[2] === u : f[0] === u));
  if (!entry && !NUMBER.test(u)) throw new ContainerError(`unable to find user ${u}: no matching entries in passwd file`);
  const uid = NUMBER.test(u) ? Number(u) : Number(entry![2]);
  let gid = entry ? Number(entry[3]) : 0;
  if (g !== undefined) {
    const ge = group.find((f) => f.length >= 3 && (NUMBER.test(g) ? f[2] === g : f[0] === g));
    if (!ge && !NUMBER.test(g)) throw new ContainerError(`unable to find group ${g}: no matching entries in group file`);
    gid = NUMBER.test(g) ? Number(g) : Number(ge![2]);
  }
  const name = entry?.[0];
  const groups = name
    ? group.filter((f) => f.length >= 4 && f[3]!.split(',').includes(name)).map((f) => Number(f[2])).filter((n) => Number.isInteger(n) && n !== gid)
    : [];
  if (![uid, gid, ...groups].every((n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32 - 1)) throw new ContainerError(`bad user ${JSON.stringify(user)}`);
  return { uid, gid, groups: [gid, ...groups], home: entry?.[5] || '/' };
}
