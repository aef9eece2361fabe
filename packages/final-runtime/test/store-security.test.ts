// The store and what hull reads on the host as root: ids that walk out of
// containers/, a HULL_ROOT someone else controls, files that must be 0600
// from their first byte, and image or archive symlinks that point at the
// host's files. All through the `hull` CLI, with random markers beside the
// targets that must stay untouched.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { busyboxImage, busyboxRootfs, descendants, hostSnapshot, leftovers, pushImage, randomToken, requireRoot, run, waitFor, writeOciLayout } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, registryHost, requireBuild } from './hull.js';

/** Every file under dir with its mode and content, to prove nothing there was touched. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isFile() ? readFileSync(p, 'utf8') : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Build a busybox image whose rootfs `edit` changed on disk, push it, return its ref. */
async function pushEdited(root: HullRoot, edit: (rootfs: string) => void, cmd: string[] = ['true']): Promise<string> {
  const rootfs = busyboxRootfs(mkdtempSync(join(tmpdir(), 'hull-edited-')));
  edit(rootfs);
  const image = await busyboxImage(rootfs, { config: { Cmd: cmd } });
  rmSync(rootfs, { recursive: true, force: true });
  const name = `final-${randomToken(8)}/busybox`;
  const tag = `t${randomToken(6)}`;
  await pushImage(registryHost(), name, tag, image);
  const ref = `${registryHost()}/${name}:${tag}`;
  const pulled = await root.hull(['pull', ref]);
  if (pulled.code !== 0) throw new Error(`pull ${ref}: ${pulled.stderr}`);
  return ref;
}

describe.skipIf(!requireRoot('final-runtime store security'))('the store and host files', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';
  let name = '';
  /** Beside the store, where `../../<planted>` from containers/ lands. */
  let planted = '';
  const marker = `marker${randomToken(12)}`;
  const scratch: string[] = [];

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    expect((await root.hull(['pull', image])).code).toBe(0);
    name = `st-${randomToken(6)}`;
    expect((await root.hull(['run', '-d', '--name', name, image])).code).toBe(0);
    // A complete container planted outside the store: a config naming it, its state, its log.
    planted = join(dirname(root.dir), `hull-plant-${randomToken(8)}`);
    mkdirSync(planted);
    scratch.push(planted);
    const config = JSON.parse(readFileSync(join(root.dir, 'containers', root.containers()[0]!, 'config.json'), 'utf8')) as object;
    writeFileSync(join(planted, 'config.json'), JSON.stringify({ ...config, id: `../../${planted.split('/').pop()}`, name: marker }));
    writeFileSync(join(planted, 'state.json'), JSON.stringify({ status: 'running', pid: process.pid, pidStartTime: 0, monitorPid: process.pid, error: marker, cgroupDirs: [planted] }));
    writeFileSync(join(planted, `${planted.split('/').pop()}-json.log`), `{"log":"${marker}\\n","stream":"stdout","time":"2020-01-01T00:00:00Z"}\n`);
  }, 120_000);

  afterAll(async () => {
    await root.hull(['rm', '-f', name]);
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('every command that takes a container refuses an id that walks out of the store, in one line', async () => {
    const base = planted.split('/').pop()!;
    const plantedBefore = snapshot(planted);
    for (const evil of [`../../${base}`, `/${planted}`, `a/../../${base}`, '..']) {
      for (const args of [
        ['inspect', evil],
        ['logs', evil],
        ['stop', '-t', '1', evil],
        ['kill', evil],
        ['rm', evil],
        ['rm', '-f', evil],
        ['exec', evil, 'true'],
        ['stats', '--no-stream', evil],
      ]) {
        const r = await root.hull(args);
        const what = `hull ${args.join(' ')}`;
        expect(r.code, what).toBe(1);
        // inspect also looks for an image by that name, as docker does, and says so in docker's words.
        const line = args[0] === 'inspect' ? `hull: no such object: ${evil}\n` : `hull: invalid container name or id ${JSON.stringify(evil)}: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]+, an id is hex\n`;
        expect(r.stderr, what).toBe(line);
        expect(r.stdout, what).not.toContain(marker);
      }
    }
    expect(snapshot(planted)).toEqual(plantedBefore);
    // The real container was never touched by any of it.
    const ps = JSON.parse((await root.hull(['ps', '--json'])).stdout) as { Names: string; State: string }[];
    expect(ps.find((c) => c.Names === name)?.State).toBe('running');
  });

  it('a config.json inside the store that names another id is refused, not followed', async () => {
    // Store files are root's, but a crash, an editor or a restore can leave one lying: its id must match its directory.
    const id = root.containers()[0]!;
    const file = join(root.dir, 'containers', id, 'config.json');
    const good = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, JSON.stringify({ ...(JSON.parse(good) as object), id: `../../${planted.split('/').pop()}` }));
      const r = await root.hull(['rm', '-f', name]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^hull: container [0-9a-f]{64}: its config.json names another id \("\.\.\/\.\.\/hull-plant-\w+"\)\n$/);
      expect(existsSync(planted)).toBe(true);
    } finally {
      writeFileSync(file, good);
    }
  });

  describe('HULL_ROOT', () => {
    const refused = async (dir: string, why: RegExp): Promise<void> => {
      const listing = existsSync(dir) ? readdirSync(dir) : [];
      for (const args of [['ps'], ['images'], ['pull', image], ['run', '--rm', image, 'true'], ['load', '-i', '/dev/null']]) {
        const r = await root.hull(args, { env: { HULL_ROOT: dir } });
        expect(r.code, args.join(' ')).toBe(125);
        expect(r.stderr).toMatch(new RegExp(`^hull: store ${dir}: ${why.source}\\n$`));
        // Nothing was created in it (nor through it).
        expect(existsSync(dir) ? readdirSync(dir) : []).toEqual(listing);
      }
    };

    it('refuses a symlink, and creates nothing where it points', async () => {
      const real = mkdtempSync(join(tmpdir(), 'hull-real-'));
      const link = `${real}-link`;
      scratch.push(real, link);
      symlinkSync(real, link);
      await refused(link, /is a symlink: give its real path in HULL_ROOT/);
      expect(readdirSync(real)).toEqual([]);
    });

    it('refuses a root writable by others (0777) or its group (0770)', async () => {
      for (const [mode, who] of [
        [0o777, 'its group and others'],
        [0o770, 'its group'],
        [0o703, 'others'],
      ] as const) {
        const dir = mkdtempSync(join(tmpdir(), 'hull-open-'));
        scratch.push(dir);
        chmodSync(dir, mode);
        writeFileSync(join(dir, marker), marker);
        await refused(dir, new RegExp(`is writable by ${who} \\(mode ${mode.toString(8)}\\): chmod go-w ${dir}`));
      }
    });

    it('refuses, as root, a root owned by another user', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hull-theirs-'));
      scratch.push(dir);
      chownSync(dir, 65534, 65534);
      await refused(dir, new RegExp(`is owned by uid 65534, not by uid 0 who runs hull: chown 0 ${dir}`));
    });

    it('accepts a root that does not exist yet, and makes it 0700', async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'hull-new-')), 'store');
      scratch.push(dirname(dir));
      const r = await root.hull(['images'], { env: { HULL_ROOT: dir } });
      expect(r.code).toBe(0);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    });
  });

  describe('files that hold secrets are 0600 from the first byte', () => {
    /** hull with umask 000: a file created without an explicit mode would be 0666. */
    const hullUmask0 = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) =>
      run('sh', ['-c', 'umask 000; exec node "$0" "$@"', BIN, ...args], {
        timeoutMs: 120_000,
        env: { HULL_ROOT: root.dir, HULL_BRIDGE: root.bridge, HULL_SUBNET: root.subnet, ...env },
        ...(input !== undefined ? { input } : {}),
      });

    it('config.json, state.json, images.json and the supervisor files after `hull run -d`', async () => {
      const other = `m-${randomToken(6)}`;
      const r = await hullUmask0(['run', '-d', '--name', other, image]);
      expect(r.stderr).toBe('');
      const id = r.stdout.trim();
      root.seenIds.push(id);
      const dir = join(root.dir, 'containers', id);
      for (const f of ['config.json', 'state.json']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
      for (const f of ['images.json', 'supervisor.sock', 'supervisor.pid', 'supervisor.log']) expect(statSync(join(root.dir, f)).mode & 0o777, f).toBe(0o600);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect((await hullUmask0(['stop', '-t', '1', other])).code).toBe(0);
      expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o600);
      expect((await root.hull(['rm', other])).code).toBe(0);
    });

    it('the auth file `hull login` writes', async () => {
      const registry = inject('registries').basic;
      const config = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
      scratch.push(config);
      const r = await hullUmask0(['login', '-u', registry.username!, '--password-stdin', registry.host], { DOCKER_CONFIG: config, REGISTRY_AUTH_FILE: '' }, `${registry.password}\n`);
      expect(r.stdout).toBe('Login Succeeded\n');
      expect(statSync(join(config, 'config.json')).mode & 0o777).toBe(0o600);
      expect(readdirSync(config)).toEqual(['config.json']);
    });
  });

  describe('-u NAME reads the image\'s /etc/passwd, never the host\'s', () => {
    const user = `u${randomToken(8)}`;
    const line = `${user}:x:4242:4242:${marker}:/home/${user}:/bin/sh\n`;
    let hostEtc = '';
    beforeAll(() => {
      hostEtc = mkdtempSync(join(tmpdir(), 'hull-hostetc-'));
      scratch.push(hostEtc);
      writeFileSync(join(hostEtc, 'passwd'), `root:x:0:0:root:/root:/bin/sh\n${line}`);
      writeFileSync(join(hostEtc, 'group'), `root:x:0:\n${user}:x:4242:\n`);
    });

    const unableToFind = async (ref: string): Promise<void> => {
      const hostBefore = snapshot(hostEtc);
      const r = await root.hull(['run', '--rm', '-u', user, ref, 'id', '-u']);
      expect(r.stdout).not.toContain('4242');
      expect(r.stderr).toBe(`hull: unable to find user ${user}: no matching entries in passwd file\n`);
      expect(r.code).not.toBe(0);
      expect(snapshot(hostEtc)).toEqual(hostBefore);
    };

    it('an image whose /etc is a symlink to a host directory', async () => {
      const ref = await pushEdited(root, (rootfs) => {
        rmSync(join(rootfs, 'etc'), { recursive: true });
        symlinkSync(hostEtc, join(rootfs, 'etc'));
      });
      await unableToFind(ref);
    });

    it('an image whose /etc/passwd is a symlink to a host file', async () => {
      const ref = await pushEdited(root, (rootfs) => {
        rmSync(join(rootfs, 'etc', 'passwd'));
        symlinkSync(join(hostEtc, 'passwd'), join(rootfs, 'etc', 'passwd'));
      });
      await unableToFind(ref);
    });

    it('a symlink inside the image resolves inside the image, as the container sees it', async () => {
      const own = `v${randomToken(8)}`;
      const ref = await pushEdited(root, (rootfs) => {
        writeFileSync(join(rootfs, 'etc', 'passwd.real'), `${readFileSync(join(rootfs, 'etc', 'passwd'), 'utf8')}${own}:x:4343:4343::/home/${own}:/bin/sh\n`);
        rmSync(join(rootfs, 'etc', 'passwd'));
        // Absolute and climbing: both must stay inside the rootfs.
        symlinkSync('/../../../etc/passwd.real', join(rootfs, 'etc', 'passwd'));
      });
      const r = await root.hull(['run', '--rm', '-u', own, ref, 'id', '-u']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('4343\n');
    });
  });

  describe('hull load never reads a host file through an archive symlink', () => {
    /** The image's blobs live on the host; the archive only points there. */
    let hostBlobs = '';
    beforeAll(() => {
      hostBlobs = mkdtempSync(join(tmpdir(), 'hull-hostblobs-'));
      scratch.push(hostBlobs);
    });

    const loadRefused = async (dir: string, tag: string): Promise<void> => {
      const tar = `${dir}.tar`;
      scratch.push(dir, tar);
      execFileSync('tar', ['-cf', tar, '-C', dir, '.']);
      const blobsBefore = readdirSync(join(root.dir, 'blobs', 'sha256'));
      const hostBefore = snapshot(hostBlobs);
      const r = await root.hull(['load', '-i', tar]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^hull: archive: \S+ is reached through a symlink\n$/);
      expect(r.stdout).toBe('');
      const images = JSON.parse((await root.hull(['images', '--json'])).stdout) as { Repository: string; Tag: string }[];
      expect(images.map((i) => `${i.Repository}:${i.Tag}`)).not.toContain(tag);
      expect(readdirSync(join(root.dir, 'blobs', 'sha256'))).toEqual(blobsBefore);
      expect(readdirSync(join(root.dir, 'tmp'))).toEqual([]);
      expect(snapshot(hostBlobs)).toEqual(hostBefore);
    };

    it('an oci-archive whose blobs/ is a symlink to a host directory', async () => {
      const built = await busyboxImage(busyboxRootfs(), { config: { Cmd: ['echo', marker] }, extraLayers: [{ entries: [{ path: marker, content: marker }] }] });
      const tag = `hull.test/evil-${randomToken(6)}:v1`;
      const dir = join(tmpdir(), `hull-evil-oci-${randomToken(6)}`);
      writeOciLayout(dir, tag, built);
      const blobs = join(hostBlobs, 'oci');
      renameSync(join(dir, 'blobs'), blobs);
      symlinkSync(blobs, join(dir, 'blobs'));
      await loadRefused(dir, tag);
    });

    it('a docker-archive whose layer and config paths go through a symlink to a host directory', async () => {
      const built = await busyboxImage(busyboxRootfs(), { config: { Cmd: ['echo', marker] } });
      const tag = `hull.test/evil-docker-${randomToken(6)}:v1`;
      const dir = join(tmpdir(), `hull-evil-docker-${randomToken(6)}`);
      const host = join(hostBlobs, 'docker');
      mkdirSync(dir);
      mkdirSync(host);
      writeFileSync(join(host, 'config.json'), built.config.bytes);
      const layers = built.layers.map((l, i) => {
        writeFileSync(join(host, `layer${i}.tar`), l.bytes);
        return `evil/layer${i}.tar`;
      });
      symlinkSync(host, join(dir, 'evil'));
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'evil/config.json', RepoTags: [tag], Layers: layers }]));
      await loadRefused(dir, tag);
    });
  });
});
