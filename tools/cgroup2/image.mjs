// The cgroup v2 guest's disk image, built from Debian packages only and cached
// by the content hash of everything that goes into it (this file, the guest's
// init, the package list, the kernel package's version, the host's node and
// npm). Never committed: it lives in HULL_CGROUP2_CACHE (/var/cache/hull-cgroup2).
//
// What is in it:
//   - `debootstrap --variant=minbase bookworm` from the host's own apt mirror,
//     with the tools the guest's tests call (GUEST_PACKAGES);
//   - the modules of Debian's cloud kernel (its vmlinuz is kept beside the
//     image: qemu boots it with -kernel, no bootloader, no initrd, since the
//     cloud kernel has NVMe and ext4 built in);
//   - the host's node binary and npm, so the guest runs the very node the
//     checkout was built with;
//   - guest-init.sh as /sbin/hull-guest-init.
// The image is an ext4 made with `mkfs.ext4 -d DIR`: no loop mount needed.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const GUEST_INIT = join(here, 'guest-init.sh');

const SUITE = 'bookworm';
const KERNEL_META = 'linux-image-cloud-amd64';
/**
 * busybox-static: the test containers' rootfs; docker-registry + openssl: the
 * registries final-runtime pulls from (07's globalSetup); iproute2, nftables,
 * procps: the leftover check's probes; kmod: modprobe, so the kernel can load
 * overlay, veth and nf_tables on demand. util-linux (setpriv) is in minbase.
 * Add netavark here if skopeo ever joins: debootstrap cannot resolve the
 * virtual container-network-stack that skopeo depends on.
 */
const GUEST_PACKAGES = ['busybox-static', 'docker-registry', 'openssl', 'iproute2', 'nftables', 'procps', 'kmod'];
const IMAGE_BYTES = 2 * 1024 ** 3; // sparse; about 600 MB are used, the rest is room for the job

export class GuestError extends Error {}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new GuestError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new GuestError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-5).join(' | ')}`);
  return r.stdout;
}

/** The first Debian (not security) URI the host's apt uses, so the guest comes from the same mirror. */
export function aptMirror() {
  const dir = '/etc/apt/sources.list.d';
  const texts = [];
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (/\.(sources|list)$/.test(f)) texts.push(readFileSync(join(dir, f), 'utf8'));
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  for (const text of texts) {
    for (const m of text.matchAll(/^\s*(?:URIs:\s*(\S+)|deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+))/gm)) {
      const uri = m[1] ?? m[2];
      if (uri && !/security/.test(uri) && (m[3] === undefined || m[3] === SUITE)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

/** The versioned kernel package behind the cloud metapackage, e.g. linux-image-6.1.0-57-cloud-amd64 6.1.192-3. */
export function kernelPackage() {
  const deps = spawnSync('apt-cache', ['depends', KERNEL_META], { encoding: 'utf8' });
  const name = /Depends: (linux-image-\S+)/.exec(deps.stdout ?? '')?.[1];
  if (!name) throw new GuestError(`apt knows no ${KERNEL_META} (run apt-get update first)`);
  const show = sh('apt-cache', ['show', '--no-all-versions', name]);
  const version = /^Version: (\S+)/m.exec(show)?.[1];
  if (!version) throw new GuestError(`apt-cache show ${name}: no version`);
  return { name, version };
}

function npmDir() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const npx = join(dir, 'npx');
    if (existsSync(npx)) {
      const pkg = join(dirname(realpathSync(npx)), '..');
      if (existsSync(join(pkg, 'package.json'))) return realpathSync(pkg);
    }
  }
  throw new GuestError('npx not found on PATH');
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** Everything the image is made of; its hash names the cache entry. */
export function imageRecipe() {
  const npm = npmDir();
  return {
    suite: SUITE,
    mirror: aptMirror(),
    packages: GUEST_PACKAGES,
    kernel: kernelPackage(),
    node: sha256(readFileSync(process.execPath)),
    npm: JSON.parse(readFileSync(join(npm, 'package.json'), 'utf8')).version,
    builder: sha256(readFileSync(fileURLToPath(import.meta.url))),
    init: sha256(readFileSync(GUEST_INIT)),
  };
}

/** Unmount anything left under dir (debootstrap mounts proc and sys in its target), deepest first. */
function unmountUnder(dir) {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

function removeTree(dir) {
  unmountUnder(dir);
  // --one-file-system: never follow into a mount that umount could not remove.
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}

/**
 * The cached image for this recipe: { dir, rootfs, kernel, built, seconds }.
 * Builds it when missing (about a minute of debootstrap on a fast mirror).
 */
export function guestImage(cacheDir, log) {
  const recipe = imageRecipe();
  const key = sha256(JSON.stringify(recipe)).slice(0, 16);
  const dir = join(cacheDir, key);
  const entry = { dir, rootfs: join(dir, 'rootfs.img'), kernel: join(dir, 'vmlinuz'), recipe, key };
  if (existsSync(join(dir, 'recipe.json'))) return { ...entry, built: false, seconds: 0 };

  const t0 = Date.now();
  mkdirSync(cacheDir, { recursive: true });
  const build = join(cacheDir, `build-${key}-${randomBytes(4).toString('hex')}`);
  mkdirSync(build);
  try {
    const root = join(build, 'root');
    log(`building the guest image ${key} (debootstrap ${SUITE} from ${recipe.mirror}, ${recipe.kernel.name} ${recipe.kernel.version})`);
    sh('debootstrap', ['--variant=minbase', `--include=${GUEST_PACKAGES.join(',')}`, SUITE, root, recipe.mirror], { stdio: ['ignore', 'ignore', 'pipe'] });

    // The kernel: vmlinuz beside the image, modules into the root. Extract it
    // apart: dpkg-deb -x over a merged-/usr root would replace the /lib symlink.
    const kdeb = join(build, 'kernel');
    mkdirSync(kdeb);
    sh('apt-get', ['download', '-q', `${recipe.kernel.name}=${recipe.kernel.version}`], { cwd: kdeb });
    const deb = readdirSync(kdeb).find((f) => f.endsWith('.deb'));
    if (!deb) throw new GuestError(`apt-get download ${recipe.kernel.name} gave no .deb`);
    sh('dpkg-deb', ['-x', join(kdeb, deb), join(kdeb, 'x')]);
    const vmlinuz = readdirSync(join(kdeb, 'x', 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new GuestError(`${deb} holds no vmlinuz`);
    cpSync(join(kdeb, 'x', 'lib', 'modules'), join(root, 'usr', 'lib', 'modules'), { recursive: true });
    // The .deb ships no modules.dep (its postinst makes it): without it modprobe finds nothing.
    for (const release of readdirSync(join(root, 'usr', 'lib', 'modules'))) sh('chroot', [root, 'depmod', '-a', release]);
    copyFileSync(join(kdeb, 'x', 'boot', vmlinuz), join(build, 'vmlinuz'));

    // The host's node and npm.
    copyFileSync(process.execPath, join(root, 'usr', 'bin', 'node'));
    chmodSync(join(root, 'usr', 'bin', 'node'), 0o755);
    cpSync(npmDir(), join(root, 'usr', 'lib', 'node_modules', 'npm'), { recursive: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr', 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr', 'bin', 'npx'));
    const nodeVersion = sh('chroot', [root, '/usr/bin/node', '--version']).trim();
    if (nodeVersion !== process.version) throw new GuestError(`node in the guest root says ${nodeVersion}, the host runs ${process.version}`);

    copyFileSync(GUEST_INIT, join(root, 'usr', 'sbin', 'hull-guest-init'));
    chmodSync(join(root, 'usr', 'sbin', 'hull-guest-init'), 0o755);
    writeFileSync(join(root, 'etc', 'hostname'), 'hull-guest\n');
    writeFileSync(join(root, 'etc', 'hosts'), '127.0.0.1 localhost hull-guest\n::1 localhost ip6-localhost ip6-loopback\n');
    rmSync(join(root, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    mkdirSync(join(root, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });

    unmountUnder(root);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'hull-guest', '-d', root, join(build, 'rootfs.img'), String(IMAGE_BYTES / 1024 ** 2) + 'M']);
    removeTree(root);
    rmSync(kdeb, { recursive: true, force: true });
    writeFileSync(join(build, 'recipe.json'), `${JSON.stringify(recipe, null, 2)}\n`);
    try {
      renameSync(build, dir);
    } catch (err) {
      // Another run built the same recipe meanwhile: use theirs.
      if (!existsSync(join(dir, 'recipe.json'))) throw err;
      removeTree(build);
    }
  } catch (err) {
    removeTree(build);
    throw err;
  }
  // Older recipes are dead weight (each ~600 MB on disk).
  for (const old of readdirSync(cacheDir)) {
    if (old !== key && /^[0-9a-f]{16}$/.test(old) && existsSync(join(cacheDir, old, 'recipe.json'))) removeTree(join(cacheDir, old));
  }
  return { ...entry, built: true, seconds: (Date.now() - t0) / 1000 };
}

/** Has the host what building and booting the guest needs? The first missing tool, or null. */
export function missingTool() {
  const tools = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['debootstrap', 'debootstrap'],
    ['mkfs.ext4', 'e2fsprogs'],
    ['dpkg-deb', 'dpkg'],
    ['apt-get', 'apt'],
    ['tar', 'tar'],
  ];
  for (const [tool, pkg] of tools) {
    const found = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']).some((d) => existsSync(join(d, tool)));
    if (!found) return `${tool} not found (apt-get install ${pkg})`;
  }
  return null;
}
