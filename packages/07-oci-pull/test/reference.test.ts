// The pure parts, without a registry: reference normalisation, auth files,
// challenges, platform choice, user resolution.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findCredentials, parseChallenge } from '../src/auth.js';
import { isIndex, parseManifest, parsePlatform, selectPlatform, type Index } from '../src/manifest.js';
import { apiHost, formatReference, isInsecure, parseReference } from '../src/reference.js';
import { resolveUser } from '../src/user.js';
import { randomToken } from '@hull/testkit';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('references, normalised like docker', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['localhost/app', 'localhost/app:latest'],
    ['127.0.0.1:5000/ns/sub/app:v1', '127.0.0.1:5000/ns/sub/app:v1'],
    ['ghcr.io/o/r@sha256:' + 'a'.repeat(64), 'ghcr.io/o/r@sha256:' + 'a'.repeat(64)],
    ['app:t@sha256:' + 'b'.repeat(64), 'docker.io/library/app:t@sha256:' + 'b'.repeat(64)],
  ])('%s -> %s', (ref, want) => {
    expect(formatReference(parseReference(ref))).toBe(want);
  });

  it('talks to Docker Hub at registry-1.docker.io, over HTTPS', () => {
    expect(apiHost(parseReference('alpine').registry)).toBe('registry-1.docker.io');
    expect(isInsecure('docker.io', [])).toBe(false);
  });

  it('allows plain HTTP for loopback and the registries named insecure only', () => {
    expect(isInsecure('127.0.0.1:5000', [])).toBe(true);
    expect(isInsecure('localhost:5000', [])).toBe(true);
    expect(isInsecure('reg.example:5000', [])).toBe(false);
    expect(isInsecure('reg.example:5000', ['reg.example:5000'])).toBe(true);
    expect(isInsecure('10.0.0.1:5000', ['reg.example'])).toBe(false);
  });
});

describe('credentials and challenges', () => {
  it('reads docker config.json, with Docker Hub under its old index URL', () => {
    const dir = tempDir('cfg');
    const pw = randomToken();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from(`hub:${pw}`).toString('base64') }, 'r.example:5000': { username: 'u', password: 'p:q' } } }),
    );
    expect(findCredentials('docker.io', { DOCKER_CONFIG: dir })).toEqual({ username: 'hub', password: pw });
    expect(findCredentials('r.example:5000', { DOCKER_CONFIG: dir })).toEqual({ username: 'u', password: 'p:q' });
    expect(findCredentials('other:1', { DOCKER_CONFIG: dir })).toBeUndefined();
  });

  it('prefers REGISTRY_AUTH_FILE over docker config.json', () => {
    const a = tempDir('cfg');
    const b = tempDir('cfg');
    writeFileSync(join(a, 'auth.json'), JSON.stringify({ auths: { h: { auth: Buffer.from('first:1').toString('base64') } } }));
    writeFileSync(join(b, 'config.json'), JSON.stringify({ auths: { h: { auth: Buffer.from('second:2').toString('base64') } } }));
    expect(findCredentials('h', { REGISTRY_AUTH_FILE: join(a, 'auth.json'), DOCKER_CONFIG: b })?.username).toBe('first');
  });

  it('parses a Bearer challenge', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
  });
});

describe('platforms', () => {
  const index: Index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'm', digest: `sha256:${'1'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'm', digest: `sha256:${'2'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'm', digest: `sha256:${'3'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  };
  it('matches os/arch, the variant when asked, and arm64 = arm64/v8', () => {
    expect(selectPlatform(index, parsePlatform('linux/amd64')).digest).toMatch(/1{64}$/);
    expect(selectPlatform(index, parsePlatform('linux/arm/v7')).digest).toMatch(/2{64}$/);
    expect(selectPlatform(index, parsePlatform('linux/arm64/v8')).digest).toMatch(/3{64}$/);
    expect(() => selectPlatform(index, parsePlatform('linux/arm/v6'))).toThrow(/no image for platform linux\/arm\/v6/);
  });

  it('tells an index from a manifest', () => {
    expect(isIndex(parseManifest(Buffer.from(JSON.stringify(index)), null))).toBe(true);
  });
});

describe('the image User, resolved from its own /etc/passwd', () => {
  it.each([
    [undefined, { uid: 0, gid: 0, groups: [], home: '/root' }],
    ['app', { uid: 1234, gid: 1235, groups: [1235, 50], home: '/srv/app' }],
    ['1234', { uid: 1234, gid: 1235, groups: [1235, 50], home: '/srv/app' }],
    ['app:staff', { uid: 1234, gid: 50, groups: [50], home: '/srv/app' }],
    ['4321:4321', { uid: 4321, gid: 4321, groups: [4321], home: '/' }],
  ])('%s', (user, want) => {
    const root = tempDir('rootfs');
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1234:1235::/srv/app:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\napp:x:1235:\nstaff:x:50:app\n');
    expect(resolveUser(root, user)).toEqual(want);
  });

  it('refuses a name the image does not know', () => {
    expect(() => resolveUser(tempDir('rootfs'), 'ghost')).toThrow(/unable to find user ghost/);
  });
});
