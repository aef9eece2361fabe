// Host side: the container's /etc/hostname, /etc/hosts and /etc/resolv.conf.
// Like docker, we generate them per run and bind-mount them over the
// rootfs's, so the rootfs directory (which other containers may share) is
// never written.
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, copyFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BindMount } from './rootfs.js';

export const ETC_FILES = ['hostname', 'hosts', 'resolv.conf'] as const;
export type EtcFiles = Record<(typeof ETC_FILES)[number], string>;

export function hostsFile(hostname: string): string {
  return ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `127.0.1.1\t${hostname}`, ''].join('\n');
}

/**
 * The host's resolv.conf. With its own network namespace the container
 * cannot reach a resolver on the host's loopback (systemd-resolved's
 * 127.0.0.53), so those nameservers are dropped, as docker does.
 */
export function resolvConf(ownNetwork: boolean, hostFile = '/etc/resolv.conf'): string {
  let text: string;
  try {
    text = readFileSync(hostFile, 'utf8');
  } catch {
    return '';
  }
  if (!ownNetwork) return text;
  return text
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l))
    .join('\n');
}

/**
 * Write the files into `runDir` and say what to mount where.
 * - All three exist in the rootfs as regular files: bind each over its file.
 * - Some are missing (busybox has none): a mount needs an existing target, and
 *   we may not create one in the rootfs. So /etc is copied into `runDir`, the
 *   files are added to the copy, and the copy is bound over /etc.
 * - No /etc directory at all: nothing to mount; the hostname is still set.
 * Symlinks are not followed: a rootfs's /etc/hosts -> /etc/host-of-the-host
 * must not make us mount over a host file.
 */
export function prepareEtc(rootfs: string, runDir: string, files: EtcFiles): BindMount[] {
  const etc = join(rootfs, 'etc');
  if (!isKind(etc, 'directory')) return [];
  if (ETC_FILES.every((name) => isKind(join(etc, name), 'file'))) {
    return ETC_FILES.map((name) => {
      const source = join(runDir, name);
      writeFileSync(source, files[name], { mode: 0o644 });
      return { source, destination: `/etc/${name}` };
    });
  }
  const copy = join(runDir, 'etc');
  copyTree(etc, copy);
  for (const name of ETC_FILES) {
    rmSync(join(copy, name), { force: true, recursive: true });
    writeFileSync(join(copy, name), files[name], { mode: 0o644 });
  }
  return [{ source: copy, destination: '/etc' }];
}

/** cp -a for what /etc holds: directories, files and symlinks, with modes and owners. */
function copyTree(from: string, to: string): void {
  const st = lstatSync(from);
  if (st.isDirectory()) {
    mkdirSync(to);
    for (const name of readdirSync(from)) copyTree(join(from, name), join(to, name));
    chmodSync(to, st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else if (st.isFile()) {
    copyFileSync(from, to);
    chmodSync(to, st.mode & 0o7777);
  } else {
    return; // sockets, fifos, devices have no business in /etc
  }
  try {
    lchownSync(to, st.uid, st.gid);
  } catch {
    // not root: everything is ours anyway
  }
}

/** lstat-based: a symlink is neither a file nor a directory here. */
export function isKind(path: string, kind: 'file' | 'directory'): boolean {
  try {
    const st = lstatSync(path);
    return kind === 'file' ? st.isFile() : st.isDirectory();
  } catch {
    return false;
  }
}
