// `-u/--user` and the image's User, resolved the way docker does: against the
// image's own /etc/passwd and /etc/group, read on the host side before the
// clone (the rootfs is mounted by then), so the init stage only calls setres*.
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerError } from '@hull/01-uts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: every /etc/group entry that lists the user. */
  groups: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A file of the image, never through a symlink: the image could point it at the host's /etc/passwd. */
function imageFile(rootfs: string, path: string): string {
  const full = join(rootfs, path);
  try {
    if (!lstatSync(full).isFile()) return '';
    return readFileSync(full, 'utf8');
  } catch {
    return '';
  }
}

function passwd(rootfs: string): PasswdEntry[] {
  return imageFile(rootfs, 'etc/passwd')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

function groups(rootfs: string): GroupEntry[] {
  return imageFile(rootfs, 'etc/group')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) }));
}

const MAX_ID = 2 ** 32 - 2;

function numeric(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw new ContainerError(`user ${s}: id out of range`);
  return n;
}

/**
 * "" (root), "uid", "uid:gid", "name", "name:group". A numeric uid need not
 * exist in /etc/passwd (its gid is then 0, as in docker); a name must.
 */
export function resolveUser(rootfs: string, spec: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const users = passwd(rootfs);
  let uid: number;
  let gid: number;
  let name: string | undefined;
  let home = '/';
  const asNumber = numeric(userPart);
  if (userPart === '') {
    uid = 0;
    gid = 0;
    const root = users.find((u) => u.uid === 0);
    name = root?.name ?? 'root';
    home = root?.home ?? '/root';
  } else if (asNumber !== undefined) {
    uid = asNumber;
    const entry = users.find((u) => u.uid === uid);
    gid = entry?.gid ?? 0;
    name = entry?.name;
    if (entry) home = entry.home;
  } else {
    const entry = users.find((u) => u.name === userPart);
    if (!entry) throw new ContainerError(`unable to find user ${userPart}: no matching entries in passwd file`);
    ({ uid, gid, name, home } = entry);
  }
  const all = groups(rootfs);
  if (groupPart !== undefined && groupPart !== '') {
    const g = numeric(groupPart);
    if (g !== undefined) gid = g;
    else {
      const entry = all.find((e) => e.name === groupPart);
      if (!entry) throw new ContainerError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = entry.gid;
    }
  }
  const supplementary = name === undefined ? [] : all.filter((e) => e.members.includes(name!)).map((e) => e.gid);
  return { uid, gid, groups: [...new Set([gid, ...supplementary])], home: home || '/' };
}
