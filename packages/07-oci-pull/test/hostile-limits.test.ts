// What a hostile image or registry can cost us (issue 13, section 7), through
// `main.ts pull`: a compression bomb, a PAX header of megabytes, a layer of
// too many entries, xattrs that would steer overlayfs, and an https registry
// that redirects a blob to plain http. Each is refused with one line (or, for
// xattrs, skipped with a warning) and the store keeps nothing of it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, type BuiltImage, type Compression, freePort, pushImage, randomToken, rawTar, requireRoot, tarOf } from '@hull/testkit';
import { lgetxattr } from '@hull/sys';
import { expectOneLine, images, listDir, registries, removeTempDirs, repo, step, storeProblems, tempDir } from './helpers.js';

const anon = registries.anonymous.host;

function expectNothingKept(root: string, dest?: string): void {
  expect(images(root)).toEqual({});
  expect(listDir(join(root, 'tmp'))).toEqual([]);
  expect(listDir(join(root, 'layers'))).toEqual([]);
  expect(storeProblems(root)).toEqual([]);
  if (dest) expect(existsSync(dest)).toBe(false);
}

async function pushed(image: BuiltImage): Promise<string> {
  const name = repo('limits');
  await pushImage(anon, name, 'v1', image);
  return `${anon}/${name}:v1`;
}

describe.skipIf(!requireRoot('07-oci-pull hostile limits'))('07-oci-pull: bombs, huge headers, xattrs, downgrades', () => {
  afterAll(() => removeTempDirs());

  it.each<Compression>(['gzip', 'zstd'])('a %s bomb stops at HULL_MAX_LAYER_SIZE, and nothing of it stays on disk', async (compression) => {
    const limit = (8 + Math.floor(Math.random() * 8)) << 20;
    // 64 MiB of zeros: a few KiB compressed.
    const tar = rawTar([{ path: 'zeros', content: Buffer.alloc(64 << 20) }]);
    const image = await buildImage({ layers: [{ tar, compression }] });
    expect(image.layers[0]!.size).toBeLessThan(limit / 100);
    const ref = await pushed(image);
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', ref, '--dest', dest], root, { HULL_MAX_LAYER_SIZE: String(limit) });
    expectOneLine(r, new RegExp(`^hull: layer [0-9a-f]{12}: decompresses to more than ${limit} bytes \\(a compression bomb\\?\\); HULL_MAX_LAYER_SIZE=BYTES raises the limit$`));
    expectNothingKept(root, dest);
    // The same image under a limit it fits: pulled, so the bound is what stopped it.
    const ok = await step(['pull', ref, '--dest', dest], root, { HULL_MAX_LAYER_SIZE: String(80 << 20) });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('refuses a PAX header larger than 1 MiB before buffering it', async () => {
    const size = (1 << 20) + 1 + Math.floor(Math.random() * 4096);
    const tar = rawTar([{ path: 'x', content: Buffer.from('x'), pax: { comment: 'c'.repeat(size) } }]);
    const ref = await pushed(await buildImage({ layers: [{ tar }] }));
    const root = tempDir('root');
    const r = await step(['pull', ref], root);
    expectOneLine(r, /^hull: layer has a PAX header of \d+ bytes, more than the 1048576 allowed$/);
    expectNothingKept(root);
  });

  it('refuses a layer with more entries than HULL_MAX_LAYER_ENTRIES, and takes one with exactly that many', async () => {
    const max = 20 + Math.floor(Math.random() * 30);
    const layer = async (n: number) => tarOf(Array.from({ length: n }, (_, i) => ({ path: `f${i}`, content: randomToken(4) })));
    const over = await pushed(await buildImage({ layers: [{ tar: await layer(max + 1) }] }));
    const root = tempDir('root');
    const r = await step(['pull', over], root, { HULL_MAX_LAYER_ENTRIES: String(max) });
    expectOneLine(r, new RegExp(`^hull: layer has more than ${max} entries; HULL_MAX_LAYER_ENTRIES=N raises the limit$`));
    expectNothingKept(root);
    const exact = await pushed(await buildImage({ layers: [{ tar: await layer(max) }] }));
    const ok = await step(['pull', exact], root, { HULL_MAX_LAYER_ENTRIES: String(max) });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('applies only security.capability and user.* xattrs from a layer: trusted.overlay.* and user.overlay.* are skipped, with a warning', async () => {
    const token = randomToken();
    const hostile = { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.user.overlay.opaque': 'y', 'SCHILY.xattr.user.ok': token };
    const tar = rawTar([
      { path: 'd', typeflag: '5', pax: hostile },
      { path: 'd/f', content: Buffer.from(token), pax: hostile },
    ]);
    const image = await buildImage({ layers: [{ tar }] });
    const ref = await pushed(image);
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', ref, '--dest', dest], root);
    expect(r.code).toBe(0);
    for (const name of ['trusted.overlay.opaque', 'trusted.overlay.redirect', 'user.overlay.opaque']) {
      expect(r.stdout + r.stderr).toContain(`skipped xattr ${name} (first on "d"): a layer may set only security.capability and user.* (not user.overlay.*)`);
    }
    const layer = join(root, 'layers', image.layers[0]!.diffId.slice(7));
    for (const tree of [layer, dest]) {
      for (const path of [join(tree, 'd'), join(tree, 'd/f')]) {
        expect(lgetxattr(path, 'trusted.overlay.opaque')).toBeNull();
        expect(lgetxattr(path, 'trusted.overlay.redirect')).toBeNull();
        expect(lgetxattr(path, 'user.overlay.opaque')).toBeNull();
        expect(lgetxattr(path, 'user.ok')?.toString()).toBe(token);
      }
    }
  });

  it('refuses an https registry that redirects a blob to plain http, and never asks the http server', async () => {
    // hull speaks https first to loopback too, so an https server on 127.0.0.1 is an https registry.
    const address = '127.0.0.1';
    const dir = tempDir('tls');
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${address}`, '-addext', `subjectAltName=IP:${address}`], {
      stdio: 'ignore',
    });
    const image = await buildImage({ layers: [{ entries: [{ path: 'x', content: randomToken() }] }] });
    const blobs = new Map([image.config, ...image.layers].map((b) => [b.digest, b.bytes]));
    let plainHits = 0;
    const plain = createHttpServer((_req, res) => {
      plainHits++;
      res.end(image.layers[0]!.bytes);
    });
    const plainPort = await freePort();
    const tlsPort = await freePort();
    const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      const url = req.url ?? '';
      if (url.includes('/manifests/')) {
        res.writeHead(200, { 'content-type': image.manifest.mediaType, 'docker-content-digest': image.manifest.digest });
        res.end(image.manifest.bytes);
        return;
      }
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1];
      if (digest === image.layers[0]!.digest) {
        res.writeHead(307, { location: `http://127.0.0.1:${plainPort}/blob` });
        res.end();
      } else if (digest && blobs.has(digest)) res.end(blobs.get(digest));
      else if (url === '/v2/') res.end('{}');
      else {
        res.writeHead(404);
        res.end();
      }
    });
    const listen = (s: Server, port: number, at: string) => new Promise<void>((resolve) => s.listen(port, at, resolve));
    await listen(plain, plainPort, '127.0.0.1');
    await listen(tls, tlsPort, address);
    const host = address;
    // Trusted the docker way: certs.d/HOST:PORT/ca.crt (the self-signed certificate is its own CA).
    const certsD = tempDir('certs.d');
    mkdirSync(join(certsD, `${host}:${tlsPort}`));
    copyFileSync(cert, join(certsD, `${host}:${tlsPort}`, 'ca.crt'));
    try {
      const root = tempDir('root');
      const r = await step(['pull', `${host}:${tlsPort}/test/redirect:v1`], root, { HULL_CERTS_D: certsD });
      expectOneLine(r, new RegExp(`^hull: ${host}:${tlsPort}: refusing a redirect from https to http://127\\.0\\.0\\.1:${plainPort}$`));
      expect(plainHits).toBe(0);
      expectNothingKept(root);
    } finally {
      await Promise.all([new Promise((r) => plain.close(r)), new Promise((r) => tls.close(r))]);
    }
  });
});
