// The busybox fixture: a tiny root filesystem built from Debian's
// busybox-static, so tests never need the internet (../shared/TESTING.md).
// Chapter 03 runs in it, later chapters pack it into OCI layers.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Where Debian's busybox-static puts the binary (it is statically linked: no libc needed in the rootfs). */
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'user:x:1000:1000:user:/home/user:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
];
const GROUP = ['root:x:0:', 'user:x:1000:', 'nogroup:x:65534:'];

/** The host's busybox binary, or a clear error naming the package to install. */
export function busyboxBinary(): string {
  const found = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error('busybox fixture: /bin/busybox not found; install it with apt-get install busybox-static');
  return found;
}

/** `busybox --list-full`: every applet with the path it expects, e.g. "usr/bin/wc". */
export function busyboxApplets(binary = busyboxBinary()): string[] {
  return execFileSync(binary, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim())
    // "linuxrc" belongs at / of an initrd; a container rootfs does not want it.
    .filter((l) => l.includes('/'));
}

const built = new Map<string, string>();
let defaultDir: string | undefined;

/**
 * A busybox rootfs built from Debian's busybox-static (/bin/busybox + applet symlinks in /bin,/sbin,/usr/bin,/usr/sbin,
 * /etc/passwd with root and nobody (65534) and a user 1000, /etc/group, empty /proc /sys /dev /tmp /root /etc dirs).
 * Built once per process into a temp dir (or `dir` if given); returns its absolute path.
 */
export function busyboxRootfs(dir?: string): string {
  const target = dir ? resolve(dir) : (defaultDir ??= makeDefaultDir());
  const cached = built.get(target);
  if (cached) return cached;
  buildRootfs(target);
  built.set(target, target);
  return target;
}

const DEFAULT_PREFIX = 'hull-busybox-';

function makeDefaultDir(): string {
  removeStaleDirs();
  // The pid in the name says whose it is, for removeStaleDirs.
  const path = mkdtempSync(join(tmpdir(), `${DEFAULT_PREFIX}${process.pid}-`));
  process.on('exit', () => removeUnlessMounted(path));
  return path;
}

/**
 * vitest ends its workers with SIGTERM, so their 'exit' handlers never run:
 * remove the default dirs of processes that are gone.
 */
function removeStaleDirs(): void {
  const pattern = new RegExp(`^${DEFAULT_PREFIX}(\\d+)-`);
  for (const name of readdirSync(tmpdir())) {
    const owner = pattern.exec(name)?.[1];
    if (owner !== undefined && !isAlive(Number(owner))) removeUnlessMounted(join(tmpdir(), name));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but not ours to signal
  }
}

function buildRootfs(root: string): void {
  const binary = busyboxBinary();
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'root', 'home']) {
    mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  }
  mkdirSync(join(root, 'tmp'), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777); // mkdir's mode is filtered by the umask; the sticky /tmp needs chmod
  chmodSync(join(root, 'root'), 0o700);

  const self = join(root, 'bin/busybox');
  rmSync(self, { force: true });
  copyFileSync(binary, self);
  chmodSync(self, 0o755);
  for (const applet of busyboxApplets(binary)) {
    if (applet === 'bin/busybox') continue;
    const link = join(root, applet);
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true });
    // Absolute, as Alpine does: it resolves inside the container once / is the rootfs.
    symlinkSync('/bin/busybox', link);
  }

  writeFileSync(join(root, 'etc/passwd'), `${PASSWD.join('\n')}\n`, { mode: 0o644 });
  writeFileSync(join(root, 'etc/group'), `${GROUP.join('\n')}\n`, { mode: 0o644 });
  const home = join(root, 'home/user');
  mkdirSync(home, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) chownSync(home, 1000, 1000);
}

/** rm -rf, unless a test left something mounted inside: never delete through a mount. */
function removeUnlessMounted(path: string): void {
  try {
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => {
        const point = l.split(' ')[4];
        return point !== undefined && (point === path || point.startsWith(`${path}/`));
      });
    if (!mounted) rmSync(path, { recursive: true, force: true });
  } catch {
    // best effort at exit
  }
}
