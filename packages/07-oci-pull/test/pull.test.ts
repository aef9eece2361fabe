// Pull against a real registry (docker-registry, started by globalSetup):
// what lands in the store and in --dest, for each image shape and each auth flavour.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, lstatSync, readlinkSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  buildIndex,
  busyboxImage,
  busyboxRootfs,
  descendants,
  hostArchitecture,
  hostSnapshot,
  type HostSnapshot,
  pushImage,
  randomToken,
  registryBlobPath,
  requireRoot,
  run,
  leftovers,
} from '@hull/testkit';
import { rmSync } from 'node:fs';
import { startProxy } from './proxy.js';
import { dockerConfig, expectOneLine, images, listDir, registries, removeTempDirs, repo, step, storeProblems, tempDir } from './helpers.js';

const anon = registries.anonymous.host;

let before: HostSnapshot;
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(() => {
  removeTempDirs();
  expect(leftovers(before)).toEqual({});
  expect(descendants()).toEqual([]);
});

/** A small image with random content, unique to the caller. */
function markerImage(marker: string, extra: Parameters<typeof buildImage>[0] = { layers: [] }) {
  return buildImage({
    ...extra,
    layers: extra.layers.length
      ? extra.layers
      : [
          { entries: [{ path: 'etc', type: 'directory' }, { path: 'etc/marker', content: marker }] },
          { entries: [{ path: 'data', type: 'directory' }, { path: 'data/second', content: `${marker}-2`, mode: 0o600, uid: 1000, gid: 1000 }] },
        ],
  });
}

describe('07-oci-pull: pull', () => {
  it('pulls the busybox image into the store and flattens it into --dest', async () => {
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'rootfs');
    const name = repo();
    const tag = `t${randomToken(6)}`;
    const rootfs = busyboxRootfs();
    const digest = await pushImage(anon, name, tag, await busyboxImage(rootfs, { split: true }));
    const r = await step(['pull', `${anon}/${name}:${tag}`, '--dest', dest], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain(`Digest: ${digest}`);
    expect(lines).toContain(`Status: Downloaded newer image for ${anon}/${name}:${tag}`);
    expect(lines.filter((l) => l.endsWith(': Pull complete'))).toHaveLength(2);
    // The bytes of busybox itself, its applet links and /etc files made it across.
    expect(readFileSync(join(dest, 'bin/busybox')).equals(readFileSync(join(rootfs, 'bin/busybox')))).toBe(true);
    expect(lstatSync(join(dest, 'bin/sh')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'bin/sh'))).toBe(readlinkSync(join(rootfs, 'bin/sh')));
    expect(readFileSync(join(dest, 'etc/passwd'), 'utf8')).toBe(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'));
    // The store: the name points at the manifest, two extracted layers, every blob verified.
    const record = images(root)[`${anon}/${name}:${tag}`]!;
    expect(record.digest).toBe(digest);
    expect(record.platform).toBe(`linux/${hostArchitecture()}`);
    expect(listDir(join(root, 'layers'))).toEqual(record.layers.map((d) => d.slice(7)).sort());
    expect(existsSync(join(root, 'layers', record.layers[0]!.slice(7), 'bin/busybox'))).toBe(true);
    expect(storeProblems(root)).toEqual([]);
    expect(listDir(join(root, 'tmp'))).toEqual([]);
  });

  it('downloads nothing the second time: the registry may even have lost the blobs', async () => {
    const root = tempDir('root');
    const name = repo();
    const marker = randomToken(16);
    const image = await markerImage(marker);
    await pushImage(anon, name, 'v1', image);
    const first = await step(['pull', `${anon}/${name}:v1`], root);
    expect(first.code).toBe(0);
    // Only the manifest is asked for again: delete the config and layer blobs from the registry.
    for (const b of [image.config, ...image.layers]) rmSync(registryBlobPath(registries.anonymous.storage, b.digest));
    const dest = join(tempDir('dest'), 'r');
    const second = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`Status: Image is up to date for ${anon}/${name}:v1`);
    expect(second.stdout.split('\n').filter((l) => l.endsWith(': Already exists'))).toHaveLength(2);
    expect(second.stdout).not.toMatch(/Downloading|Pulling fs layer/);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);
    const st = lstatSync(join(dest, 'data/second'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o600]);
  });

  it('shares layers between images: a layer already in the store is not downloaded again', async () => {
    const root = tempDir('root');
    const shared = { entries: [{ path: 'shared', content: randomToken(20) }] };
    const a = await buildImage({ layers: [shared, { entries: [{ path: 'a', content: 'a' }] }] });
    const b = await buildImage({ layers: [shared, { entries: [{ path: 'b', content: randomToken() }] }] });
    const na = repo();
    const nb = repo();
    await pushImage(anon, na, 'v1', a);
    await pushImage(anon, nb, 'v1', b);
    expect((await step(['pull', `${anon}/${na}:v1`], root)).code).toBe(0);
    const r = await step(['pull', `${anon}/${nb}:v1`], root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${b.layers[0]!.digest.slice(7, 19)}: Already exists`);
    expect(r.stdout).toContain(`${b.layers[1]!.digest.slice(7, 19)}: Pull complete`);
    expect(listDir(join(root, 'layers'))).toHaveLength(3);
  });

  it('picks the platform of this machine from a multi-arch index, and another with --platform', async () => {
    const name = repo();
    const mine = hostArchitecture();
    const other = mine === 'arm64' ? 'amd64' : 'arm64';
    const tokens = { [mine]: randomToken(), [other]: randomToken() };
    const build = (arch: string) =>
      buildImage({ architecture: arch, ...(arch === 'arm64' ? { variant: 'v8' } : {}), layers: [{ entries: [{ path: 'arch', content: `${arch} ${tokens[arch]}` }] }] });
    const index = buildIndex([await build(other), await build(mine)]);
    const digest = await pushImage(anon, name, 'multi', index);

    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${anon}/${name}:multi`, '--dest', dest], root);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Digest: ${digest}`);
    expect(readFileSync(join(dest, 'arch'), 'utf8')).toBe(`${mine} ${tokens[mine]}`);

    const dest2 = join(tempDir('dest'), 'r');
    const r2 = await step(['pull', `${anon}/${name}:multi`, '--platform', `linux/${other}`, '--dest', dest2], tempDir('root'));
    expect(r2.code).toBe(0);
    expect(readFileSync(join(dest2, 'arch'), 'utf8')).toBe(`${other} ${tokens[other]}`);

    const r3 = await step(['pull', `${anon}/${name}:multi`, '--platform', 'linux/s390x'], tempDir('root'));
    expectOneLine(r3, /no image for platform linux\/s390x \(the index has: linux\/(arm64\/v8|amd64), linux\/(arm64\/v8|amd64)\)/);
  });

  it.each([
    ['OCI, zstd layer', { format: 'oci' as const, compression: 'zstd' as const }],
    ['OCI, uncompressed layer', { format: 'oci' as const, compression: 'none' as const }],
    ['OCI, gzip layer', { format: 'oci' as const, compression: 'gzip' as const }],
    ['Docker schema2', { format: 'docker' as const, compression: 'gzip' as const }],
  ])('pulls %s', async (_label, { format, compression }) => {
    const marker = randomToken(24);
    const name = repo();
    const image = await buildImage({
      format,
      layers: [
        { entries: [{ path: 'base', content: 'base' }], compression },
        { entries: [{ path: 'dir', type: 'directory' }, { path: 'dir/file', content: marker }], compression },
      ],
    });
    const digest = await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Digest: ${digest}`);
    expect(readFileSync(join(dest, 'dir/file'), 'utf8')).toBe(marker);
    expect(storeProblems(root)).toEqual([]);
  });

  it('pulls a Docker manifest list by digest', async () => {
    const name = repo();
    const marker = randomToken();
    const list = buildIndex([await buildImage({ format: 'docker', layers: [{ entries: [{ path: 'm', content: marker }] }] })], 'docker');
    const digest = await pushImage(anon, name, 'v1', list);
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${anon}/${name}@${digest}`, '--dest', dest], tempDir('root'));
    expect(r.code).toBe(0);
    expect(readFileSync(join(dest, 'm'), 'utf8')).toBe(marker);
  });
});

describe('07-oci-pull: the store under concurrency, --dest, a terminal', () => {
  it('two pulls of the same image into one store at once both succeed and share everything', async () => {
    const name = repo();
    const image = await buildImage({
      layers: [1, 2, 3, 4].map((i) => ({ entries: [{ path: `f${i}`, content: randomBytes(200 * 1024) }], compression: 'none' as const })),
    });
    await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const [a, b] = await Promise.all([step(['pull', `${anon}/${name}:v1`], root), step(['pull', `${anon}/${name}:v1`], root)]);
    expect([a.code, b.code, a.stderr, b.stderr]).toEqual([0, 0, '', '']);
    expect(listDir(join(root, 'layers'))).toEqual(image.layers.map((l) => l.diffId.slice(7)).sort());
    expect(listDir(join(root, 'tmp'))).toEqual([]);
    expect(storeProblems(root)).toEqual([]);
    expect(Object.keys(images(root))).toEqual([`${anon}/${name}:v1`]);
    // And two different images at once keep both names in images.json.
    const other = repo();
    await pushImage(anon, other, 'v1', await markerImage(randomToken()));
    const third = repo();
    await pushImage(anon, third, 'v1', await markerImage(randomToken()));
    const [c, d] = await Promise.all([step(['pull', `${anon}/${other}:v1`], root), step(['pull', `${anon}/${third}:v1`], root)]);
    expect([c.code, d.code]).toEqual([0, 0]);
    expect(Object.keys(images(root)).sort()).toEqual([`${anon}/${name}:v1`, `${anon}/${other}:v1`, `${anon}/${third}:v1`].sort());
  });

  it('downloads at most three layers at once', async () => {
    const name = repo();
    const image = await buildImage({
      layers: [1, 2, 3, 4, 5, 6].map((i) => ({ entries: [{ path: `f${i}`, content: randomBytes(256 * 1024) }], compression: 'none' as const })),
    });
    await pushImage(anon, name, 'v1', image);
    // Slow enough that the six downloads would overlap if nothing bounded them.
    const proxy = await startProxy(anon, { bytesPerSecond: 1 << 20 });
    try {
      const r = await step(['pull', `${proxy.host}/${name}:v1`], tempDir('root'));
      expect(r.code).toBe(0);
      expect(proxy.maxOpen()).toBeGreaterThanOrEqual(2);
      expect(proxy.maxOpen()).toBeLessThanOrEqual(3);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a --dest that is not empty, before pulling, and leaves it alone', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await markerImage(randomToken()));
    const dest = tempDir('dest');
    const mine = randomToken();
    writeFileSync(join(dest, 'mine'), mine);
    const root = tempDir('root');
    const r = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expectOneLine(r, new RegExp(`^hull: --dest ${dest}: not empty`));
    expect(readdirSync(dest)).toEqual(['mine']);
    expect(readFileSync(join(dest, 'mine'), 'utf8')).toBe(mine);
    expect(images(root)).toEqual({});
  });

  it('draws docker-style bars on a terminal', async () => {
    const name = repo();
    await pushImage(anon, name, 'v1', await markerImage(randomToken()));
    const root = tempDir('root');
    // script(1) gives the step a pseudo-terminal; its output is what a user sees.
    const cmd = `HULL_ROOT=${root} npx tsx packages/07-oci-pull/src/main.ts pull ${anon}/${name}:v1`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { env: { NO_COLOR: '', TERM: 'xterm' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(/[0-9a-f]{12}: Pull complete\s+[█░]+/);
    expect(r.stdout).toContain(`Status: Downloaded newer image for ${anon}/${name}:v1`);
  });
});

describe.skipIf(!requireRoot('07-oci-pull rootless pull'))('07-oci-pull: as an unprivileged user', () => {
  it('pulls into $XDG_DATA_HOME/hull, keeps its own uid, warns once', async () => {
    const name = repo();
    const marker = randomToken();
    await pushImage(anon, name, 'v1', await markerImage(marker));
    const home = tempDir('home');
    chmodSync(home, 0o777);
    const dest = join(home, 'rootfs');
    // setpriv drops to nobody; env -u makes sure HULL_ROOT does not pick the store for us.
    const r = await run('setpriv', [
      '--reuid=65534', '--regid=65534', '--clear-groups',
      'env', '-u', 'HULL_ROOT', `HOME=${home}`, `XDG_DATA_HOME=${home}/data`, 'npm_config_update_notifier=false',
      'npx', 'tsx', 'packages/07-oci-pull/src/main.ts', 'pull', `${anon}/${name}:v1`, '--dest', dest,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: not root/);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);
    // data/second is uid 1000 in the layer; as nobody it can only be ours.
    expect(lstatSync(join(dest, 'data/second')).uid).toBe(65534);
    expect(Object.keys(images(join(home, 'data', 'hull')))).toEqual([`${anon}/${name}:v1`]);
    expect(storeProblems(join(home, 'data', 'hull'))).toEqual([]);
  });
});

describe('07-oci-pull: auth', () => {
  it('basic auth: credentials from docker config.json work, none is one clear line', async () => {
    const { host, username, password } = registries.basic;
    const name = repo();
    const marker = randomToken();
    await pushImage(anon, name, 'v1', await markerImage(marker));
    const dest = join(tempDir('dest'), 'r');
    const ok = await step(['pull', `${host}/${name}:v1`, '--dest', dest], tempDir('root'), { DOCKER_CONFIG: dockerConfig(host, username!, password!) });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);

    const none = await step(['pull', `${host}/${name}:v1`], tempDir('root'), { DOCKER_CONFIG: tempDir('empty') });
    expectOneLine(none, new RegExp(`^hull: ${host}: authentication required`));
  });

  it('basic auth: a wrong password is refused in one line that does not print it', async () => {
    const { host, username } = registries.basic;
    const name = repo();
    await pushImage(anon, name, 'v1', await markerImage(randomToken()));
    const wrong = `w${randomToken(12)}`;
    const root = tempDir('root');
    const r = await step(['pull', `${host}/${name}:v1`], root, { DOCKER_CONFIG: dockerConfig(host, username!, wrong) });
    expectOneLine(r, /unauthorized: incorrect username or password/);
    expect(r.stderr + r.stdout).not.toContain(wrong);
    expect(images(root)).toEqual({});
  });

  it('token auth: an anonymous pull does the Bearer dance', async () => {
    const { host } = registries.token;
    const name = repo('public');
    const marker = randomToken();
    await pushImage(anon, name, 'v1', await markerImage(marker));
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${host}/${name}:v1`, '--dest', dest], tempDir('root'), { DOCKER_CONFIG: tempDir('empty') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);
  });

  it('token auth: one token per scope, reused for the manifest, the config and every layer', async () => {
    const { host, tokenStats } = registries.token;
    const name = repo('public');
    const image = await buildImage({ layers: [1, 2, 3].map((i) => ({ entries: [{ path: `l${i}`, content: randomToken() }] })) });
    await pushImage(anon, name, 'v1', image);
    const issued = async (): Promise<number> => ((await (await fetch(tokenStats!)).json()) as { issued: number }).issued;
    const before = await issued();
    const r = await step(['pull', `${host}/${name}:v1`], tempDir('root'), { DOCKER_CONFIG: tempDir('empty') });
    expect(r.code).toBe(0);
    // 1 manifest + 1 config + 3 layers = 5 requests for one scope: one token (other files may pull meanwhile, so at most
    // their share more; a client without a cache would ask 5 times for this pull alone).
    const after = await issued();
    expect(after - before).toBeGreaterThanOrEqual(1);
    expect(after - before).toBeLessThan(5);
  });

  it('token auth: a private repository needs the credentials in REGISTRY_AUTH_FILE; a wrong password is one line', async () => {
    const { host, username, password } = registries.token;
    const name = repo('private');
    const marker = randomToken();
    await pushImage(anon, name, 'v1', await markerImage(marker));
    const authFile = join(dockerConfig(host, username!, password!), 'config.json');
    const dest = join(tempDir('dest'), 'r');
    const ok = await step(['pull', `${host}/${name}:v1`, '--dest', dest], tempDir('root'), { REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: tempDir('empty') });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);
    // The token is never printed.
    expect(ok.stdout).not.toMatch(/eyJ/);

    const anonymous = await step(['pull', `${host}/${name}:v1`], tempDir('root'), { DOCKER_CONFIG: tempDir('empty') });
    expectOneLine(anonymous, new RegExp(`^hull: ${host}: unauthorized: authentication required for repository:${name}:pull`));

    const wrong = `w${randomToken(12)}`;
    const bad = await step(['pull', `${host}/${name}:v1`], tempDir('root'), { DOCKER_CONFIG: dockerConfig(host, username!, wrong) });
    expectOneLine(bad, /unauthorized: incorrect username or password/);
    expect(bad.stderr).not.toContain(wrong);
  });
});
