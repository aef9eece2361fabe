// conversion.md, rule by rule: an image config (with a rootfs holding
// /etc/passwd and /etc/group for Config.User) to the runtime config's
// process, annotations and mounts. In process, no root needed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError } from '@hull/01-uts';
import { DEFAULT_PATH } from '@hull/03-chroot-proc';
import { randomToken, thrownMessage } from '@hull/testkit';
import { type ImageConfig, runtimeConfigFromImage } from '../src/index.js';

const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

describe('runtimeConfigFromImage (image-spec conversion.md)', () => {
  let rootfs: string;
  const user = `u${randomToken(5)}`;
  const uid = between(1000, 30000);
  const gid = between(30001, 60000);
  const extra = between(100, 999);
  const staff = between(60001, 65000);

  beforeAll(() => {
    rootfs = mkdtempSync(join(tmpdir(), 'hull-07-conv-'));
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\n${user}:x:${uid}:${gid}::/home/${user}:/bin/sh\n`);
    writeFileSync(join(rootfs, 'etc/group'), `root:x:0:\n${user}:x:${gid}:\nextra:x:${extra}:root,${user}\nstaff:x:${staff}:\n`);
  });

  afterAll(() => rmSync(rootfs, { recursive: true, force: true }));

  const image = (config: ImageConfig['config'] = {}, over: Partial<ImageConfig> = {}): ImageConfig => ({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['sh'], ...config },
    rootfs: { type: 'layers', diff_ids: [] },
    ...over,
  });
  const convert = (i: ImageConfig, volumeMount?: (d: string) => { destination: string; type: string; source: string }) => runtimeConfigFromImage(i, { rootfs, ...(volumeMount ? { volumeMount } : {}) });
  const errorOf = (f: () => unknown): string => thrownMessage(f, ContainerError);

  it('verbatim: WorkingDir -> cwd, Env -> env, Entrypoint then Cmd -> args', () => {
    const mark = randomToken(8);
    const out = convert(image({ WorkingDir: `/srv/${mark}`, Env: [`PATH=/opt/${mark}`, `MARK=${mark}`], Entrypoint: ['/bin/entry', mark], Cmd: ['--flag', mark] }));
    expect(out.process.cwd).toBe(`/srv/${mark}`);
    expect(out.process.env).toEqual([`PATH=/opt/${mark}`, `MARK=${mark}`]);
    expect(out.process.args).toEqual(['/bin/entry', mark, '--flag', mark]);
  });

  it('adds only names the image lacks (PATH), never changes its own; cwd defaults to /', () => {
    const out = convert(image({ Env: ['HOME=/nowhere'] }));
    expect(out.process.env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOME=/nowhere']);
    expect(out.process.cwd).toBe('/');
  });

  it('User: none is root; a number is copied verbatim and leaves additionalGids alone', () => {
    expect(convert(image()).process.user).toEqual({ uid: 0, gid: 0 });
    const n = between(70000, 90000);
    expect(convert(image({ User: `${n}` })).process.user).toEqual({ uid: n, gid: 0 });
    expect(convert(image({ User: `${uid}` })).process.user).toEqual({ uid, gid });
    expect(convert(image({ User: `${n}:${n + 1}` })).process.user).toEqual({ uid: n, gid: n + 1 });
  });

  it('User: a name is looked up in the rootfs\'s /etc/passwd, and its groups in /etc/group become additionalGids', () => {
    expect(convert(image({ User: user })).process.user).toEqual({ uid, gid, additionalGids: [gid, extra] });
  });

  it('User: a name with a group takes the group\'s gid and leaves additionalGids alone', () => {
    expect(convert(image({ User: `${user}:staff` })).process.user).toEqual({ uid, gid: staff });
  });

  it('User: a name the rootfs does not know is an error (conversion.md: MUST)', () => {
    const ghost = `ghost${randomToken(4)}`;
    expect(errorOf(() => convert(image({ User: ghost })))).toBe(`unable to find user ${ghost}: no matching entries in passwd file`);
    expect(errorOf(() => convert(image({ User: `${user}:nogroup${randomToken(3)}` })))).toMatch(/^unable to find group nogroup/);
  });

  it('annotations: os, architecture, variant, os.version, os.features, author, created, StopSignal, ExposedPorts', () => {
    const created = new Date(between(0, 2e12)).toISOString();
    const author = `a-${randomToken(6)}`;
    const out = convert(
      image({ StopSignal: 'SIGQUIT', ExposedPorts: { '80/tcp': {}, '53/udp': {} } }, { architecture: 'arm64', variant: 'v8', 'os.version': '10.0.1', 'os.features': ['win32k', 'x'], author, created }),
    );
    expect(out.annotations).toEqual({
      'org.opencontainers.image.os': 'linux',
      'org.opencontainers.image.architecture': 'arm64',
      'org.opencontainers.image.variant': 'v8',
      'org.opencontainers.image.os.version': '10.0.1',
      'org.opencontainers.image.os.features': 'win32k,x',
      'org.opencontainers.image.author': author,
      'org.opencontainers.image.created': created,
      'org.opencontainers.image.stopSignal': 'SIGQUIT',
      'org.opencontainers.image.exposedPorts': '80/tcp,53/udp',
    });
  });

  it('Labels become annotations and win over every implicit one; ones a runtime acts on are left out, and said so', () => {
    const mark = randomToken(6);
    const out = convert(
      image({
        StopSignal: 'SIGTERM',
        Labels: { 'org.opencontainers.image.stopSignal': 'SIGINT', 'org.opencontainers.image.os': mark, [`com.example.${mark}`]: mark, 'org.systemd.property.ExecStartPre': '/bin/evil', 'run.oci.keep_original_groups': '1' },
      }),
    );
    expect(out.annotations['org.opencontainers.image.stopSignal']).toBe('SIGINT');
    expect(out.annotations['org.opencontainers.image.os']).toBe(mark);
    expect(out.annotations[`com.example.${mark}`]).toBe(mark);
    expect(Object.keys(out.annotations).filter((k) => k.startsWith('org.systemd.') || k.startsWith('run.oci.'))).toEqual([]);
    expect(out.warnings).toEqual([
      'image label org.systemd.property.ExecStartPre not converted to an annotation: runtimes act on org.systemd.property.* annotations',
      'image label run.oci.keep_original_groups not converted to an annotation: runtimes act on run.oci.* annotations',
    ]);
  });

  it('Volumes: mounts at each path when the caller says how; listed either way', () => {
    const dir = `/data-${randomToken(4)}`;
    const withMounts = convert(image({ Volumes: { [dir]: {}, '/cache': {} } }), (d) => ({ destination: 'ignored', type: 'tmpfs', source: `vol${d}` }));
    expect(withMounts.mounts).toEqual([
      { destination: dir, type: 'tmpfs', source: `vol${dir}` },
      { destination: '/cache', type: 'tmpfs', source: 'vol/cache' },
    ]);
    const without = convert(image({ Volumes: { [dir]: {} } }));
    expect([without.mounts, without.volumes]).toEqual([[], [dir]]);
  });

  it('a hostile config: wrong types, a relative WorkingDir or volume, no command, each one line', () => {
    const cases: [ImageConfig['config'], string][] = [
      [{ Env: 'PATH=/x' as unknown as string[] }, 'image config: Config.Env: must be a list of strings'],
      [{ Cmd: [1] as unknown as string[] }, 'image config: Config.Cmd: must be a list of strings'],
      [{ Labels: { a: 1 } as unknown as Record<string, string> }, 'image config: Config.Labels: must be an object of strings'],
      [{ WorkingDir: 'srv' }, 'image config: Config.WorkingDir: "srv" is not an absolute path'],
      [{ Volumes: { data: {} } }, 'image config: Config.Volumes: "data" is not an absolute path'],
      [{ Cmd: null, Entrypoint: [] }, 'image config: Config.Entrypoint/Cmd: the image names no command'],
      [{ ExposedPorts: ['80/tcp'] as unknown as Record<string, object> }, 'image config: Config.ExposedPorts: must be an object'],
      [{ User: 7 as unknown as string }, 'image config: Config.User: must be a string'],
    ];
    for (const [config, message] of cases) expect(errorOf(() => convert(image(config)))).toBe(message);
  });
});
