// Bad input and a broken world: one clear `hull: ...` line, a non-zero exit,
// nothing in the store. Also the protocol rules a real registry here cannot
// show: schema1 refused, size bounds, no Authorization after a redirect to
// another host (a small fake registry on 127.0.0.1 plays those parts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, descendants, freePort, hostSnapshot, type HostSnapshot, randomToken, leftovers } from '@hull/testkit';
import { dockerConfig, expectOneLine, images, listDir, registries, removeTempDirs, repo, step, tempDir } from './helpers.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

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

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ host: string; close: () => Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const host = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return { host, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('07-oci-pull: errors are one line', () => {
  it('an unknown image', async () => {
    const root = tempDir('root');
    const name = repo();
    const r = await step(['pull', `${anon}/${name}:nope`], root);
    expectOneLine(r, new RegExp(`^hull: ${anon}/${name}:nope: not found: manifest unknown$`));
    expect(images(root)).toEqual({});
  });

  it('a registry that is down (a closed port on 127.0.0.1)', async () => {
    const port = await freePort();
    const root = tempDir('root');
    const r = await step(['pull', `127.0.0.1:${port}/x/y:z`], root);
    expectOneLine(r, new RegExp(`^hull: 127.0.0.1:${port}: cannot reach 127.0.0.1:${port}: ECONNREFUSED$`));
    expect(images(root)).toEqual({});
    expect(listDir(join(root, 'tmp'))).toEqual([]);
  });

  it.each([
    ['UPPER/case', /repository names must be lowercase/],
    ['a/b:bad tag!', /bad tag/],
    ['a@sha256:1234', /a digest is sha256: and 64 lowercase hex digits/],
    ['a//b', /empty path component/],
    ['a/-b', /bad path component "-b"/],
    ['127.0.0.1:5000/:x', /empty path component/],
  ])('an invalid reference %j', async (ref, why) => {
    const root = tempDir('root');
    const r = await step(['pull', ref], root);
    expectOneLine(r, new RegExp(`^hull: invalid reference ${JSON.stringify(ref).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${why.source}`));
    expect(r.code).toBe(125);
  });

  it('a bad --platform', async () => {
    const r = await step(['pull', `${anon}/x/y:z`, '--platform', 'linux'], tempDir('root'));
    expectOneLine(r, /invalid platform "linux": expected os\/arch\[\/variant\]/);
  });

  it.each([
    [[], /missing command \(pull or run\)/],
    [['push', 'x'], /unknown command "push"/],
    [['pull'], /missing REF/],
    [['pull', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['pull', 'x', 'y'], /pull takes one REF/],
  ])('usage %j: exit 2', async (args, why) => {
    const r = await step(args as string[], tempDir('root'));
    expectOneLine(r, why);
    expect(r.code).toBe(2);
  });
});

describe('07-oci-pull: protocol rules, against a fake registry', () => {
  it('refuses a schema1 manifest clearly', async () => {
    const fake = await serve((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
      res.end(JSON.stringify({ schemaVersion: 1, name: 'old/image', tag: 'latest', fsLayers: [], history: [], signatures: [] }));
    });
    try {
      const root = tempDir('root');
      const r = await step(['pull', `${fake.host}/old/image`], root);
      expectOneLine(r, /^hull: image uses Docker schema1 manifests, which are deprecated and not supported/);
      expect(images(root)).toEqual({});
    } finally {
      await fake.close();
    }
  });

  it('refuses a manifest larger than 4 MiB', async () => {
    const fake = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(Buffer.alloc(5 << 20, 0x20));
    });
    try {
      const r = await step(['pull', `${fake.host}/big/image:v1`], tempDir('root'));
      expectOneLine(r, /manifest .*(is 5242880 bytes|larger than) .*4194304/);
    } finally {
      await fake.close();
    }
  });

  it('never sends Authorization to the host a blob is redirected to', async () => {
    const user = `u${randomToken()}`;
    const password = randomToken(16);
    const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const marker = randomToken();
    const image = await buildImage({ layers: [{ entries: [{ path: 'm', content: marker }] }] });
    const layer = image.layers[0]!;
    const cdnSaw: (string | undefined)[] = [];
    const cdn = await serve((req, res) => {
      cdnSaw.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(layer.bytes);
    });
    const registrySaw: (string | undefined)[] = [];
    const fake = await serve((req, res) => {
      registrySaw.push(req.headers.authorization);
      if (req.headers.authorization !== expected) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      const url = req.url ?? '';
      if (url.endsWith('/manifests/v1')) return void res.writeHead(200, { 'content-type': image.manifest.mediaType }).end(image.manifest.bytes);
      if (url.endsWith(`/blobs/${image.config.digest}`)) return void res.writeHead(200).end(image.config.bytes);
      if (url.endsWith(`/blobs/${layer.digest}`)) return void res.writeHead(307, { location: `http://${cdn.host}/blob?sig=${randomToken()}` }).end();
      res.writeHead(404).end();
    });
    try {
      const dest = join(tempDir('dest'), 'r');
      const r = await step(['pull', `${fake.host}/a/b:v1`, '--dest', dest], tempDir('root'), { DOCKER_CONFIG: dockerConfig(fake.host, user, password) });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readFileSync(join(dest, 'm'), 'utf8')).toBe(marker);
      expect(registrySaw).toContain(expected);
      expect(cdnSaw.length).toBeGreaterThan(0);
      expect(cdnSaw.every((a) => a === undefined)).toBe(true);
    } finally {
      await cdn.close();
      await fake.close();
    }
  });
});
