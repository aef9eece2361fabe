// Pull over TLS, from real docker-registry instances serving certificates an
// openssl-made CA signed: the CA trusted through certs.d, the token realm on
// https, a client certificate, and the certificates that must be refused
// (unknown CA, wrong name, expired). 127.0.0.1 is an "insecure" registry, so
// these also prove that a registry speaking TLS is never downgraded to HTTP.
import { mkdirSync, readFileSync, copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  type CertFiles,
  descendants,
  hostSnapshot,
  type HostSnapshot,
  issueCert,
  makeCA,
  pushImage,
  randomToken,
  requireRoot,
  type RunningRegistry,
  startRegistry,
  leftovers,
} from '@hull/testkit';
import { dockerConfig, expectOneLine, images, listDir, registries, removeTempDirs, repo, step, storeProblems, tempDir } from './helpers.js';

const anon = registries.anonymous.host;
const started: RunningRegistry[] = [];
let before: HostSnapshot;
let ca: CertFiles;
let good: RunningRegistry;
let token: RunningRegistry;
let mismatch: RunningRegistry;
let expired: RunningRegistry;
let mutual: RunningRegistry;
let clientCert: CertFiles;

beforeAll(async () => {
  if (process.getuid?.() !== 0) return;
  before = hostSnapshot();
  const dir = tempDir('certs');
  ca = makeCA(dir, `hull-test-ca-${randomToken(6)}`);
  const clientCA = makeCA(dir, `hull-test-client-ca-${randomToken(6)}`);
  const server = issueCert(ca, dir, 'server', { san: ['IP:127.0.0.1', 'DNS:localhost'] });
  const wrongName = issueCert(ca, dir, 'wrong-name', { san: ['DNS:registry.invalid'] });
  const old = issueCert(ca, dir, 'expired', { san: ['IP:127.0.0.1'], days: -1 });
  clientCert = issueCert(clientCA, dir, 'client', { san: [], client: true });
  const storage = registries.anonymous.storage;
  const start = async (o: Parameters<typeof startRegistry>[0]): Promise<RunningRegistry> => {
    const r = await startRegistry(o);
    started.push(r);
    return r;
  };
  [good, token, mismatch, expired, mutual] = await Promise.all([
    start({ flavour: 'anonymous', storage, tls: server }),
    start({ flavour: 'token', storage, tls: server }),
    start({ flavour: 'anonymous', storage, tls: wrongName }),
    start({ flavour: 'anonymous', storage, tls: old }),
    start({ flavour: 'anonymous', storage, tls: { ...server, clientCAs: [clientCA.cert] } }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
  removeTempDirs();
  if (process.getuid?.() !== 0) return;
  expect(leftovers(before)).toEqual({});
  expect(descendants()).toEqual([]);
});

/** A certs.d tree trusting our CA for each of `hosts` (pass as HULL_CERTS_D). */
function certsD(hosts: string[], extra: (dir: string) => void = () => {}): string {
  const base = tempDir('certs.d');
  for (const h of hosts) {
    mkdirSync(join(base, h));
    copyFileSync(ca.cert, join(base, h, 'ca.crt'));
    extra(join(base, h));
  }
  return base;
}

async function markerImage(): Promise<{ name: string; marker: string }> {
  const name = repo('tls');
  const marker = randomToken();
  await pushImage(anon, name, 'v1', await buildImage({ layers: [{ entries: [{ path: 'etc', type: 'directory' }, { path: 'etc/marker', content: marker }] }] }));
  return { name, marker };
}

/** A refused pull leaves no image, no blob and no temp file, and --dest is not created. */
function expectNothingLeft(root: string, dest: string): void {
  expect(images(root)).toEqual({});
  expect(listDir(join(root, 'blobs', 'sha256'))).toEqual([]);
  expect(listDir(join(root, 'tmp'))).toEqual([]);
  expect(storeProblems(root)).toEqual([]);
  expect(existsSync(dest)).toBe(false);
}

describe.skipIf(!requireRoot('07-oci-pull tls'))('07-oci-pull: TLS registries', () => {
  it('pulls over https when certs.d/HOST:PORT/ca.crt trusts the registry CA', async () => {
    const { name, marker } = await markerImage();
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${good.host}/${name}:v1`, '--dest', dest], tempDir('root'), { HULL_CERTS_D: certsD([good.host]) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);
  });

  it('refuses a CA it does not trust, in one line naming the registry and the reason, even for a loopback (insecure) registry', async () => {
    const { name } = await markerImage();
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    // Our CA is trusted for another host only: trust is per registry.
    const r = await step(['pull', `${good.host}/${name}:v1`, '--dest', dest], root, { HULL_CERTS_D: certsD([mismatch.host]) });
    expectOneLine(r, new RegExp(`^hull: ${good.host}: TLS with ${good.host}: x509: certificate signed by unknown authority \\(trust its CA: put it in .*/${good.host}/ca.crt\\)$`));
    expectNothingLeft(root, dest);
  });

  it('refuses a certificate for another name, and an expired one', async () => {
    const { name } = await markerImage();
    for (const [reg, reason] of [
      [mismatch, 'x509: certificate is not valid for this host'],
      [expired, 'x509: certificate has expired'],
    ] as const) {
      const root = tempDir('root');
      const dest = join(tempDir('dest'), 'r');
      const r = await step(['pull', `${reg.host}/${name}:v1`, '--dest', dest], root, { HULL_CERTS_D: certsD([reg.host]) });
      expectOneLine(r, new RegExp(`^hull: ${reg.host}: TLS with ${reg.host}: ${reason.replace(/[()]/g, '\\$&')}$`));
      expectNothingLeft(root, dest);
    }
  });

  it('token auth over TLS: the realm is https, credentials work for a private repository, none is refused', async () => {
    const name = repo('private');
    const marker = randomToken();
    await pushImage(anon, name, 'v1', await buildImage({ layers: [{ entries: [{ path: 'm', content: marker }] }] }));
    // The token server has its own port: docker's transport trusts the registry's certs.d for the realm too.
    expect(token.tokenStats).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/stats$/);
    const env = { HULL_CERTS_D: certsD([token.host]), DOCKER_CONFIG: dockerConfig(token.host, token.username!, token.password!) };
    const dest = join(tempDir('dest'), 'r');
    const ok = await step(['pull', `${token.host}/${name}:v1`, '--dest', dest], tempDir('root'), env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dest, 'm'), 'utf8')).toBe(marker);
    const anonymous = await step(['pull', `${token.host}/${name}:v1`], tempDir('root'), { ...env, DOCKER_CONFIG: tempDir('empty') });
    expectOneLine(anonymous, new RegExp(`^hull: ${token.host}: unauthorized: authentication required for repository:${name}:pull`));
  });

  it('sends the client certificate from certs.d (NAME.cert + NAME.key) to a registry that demands one', async () => {
    const { name, marker } = await markerImage();
    const withClient = certsD([mutual.host], (dir) => {
      copyFileSync(clientCert.cert, join(dir, 'client.cert'));
      copyFileSync(clientCert.key, join(dir, 'client.key'));
    });
    const dest = join(tempDir('dest'), 'r');
    const ok = await step(['pull', `${mutual.host}/${name}:v1`, '--dest', dest], tempDir('root'), { HULL_CERTS_D: withClient });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dest, 'etc/marker'), 'utf8')).toBe(marker);

    const root = tempDir('root');
    const noCert = join(tempDir('dest'), 'r');
    const refused = await step(['pull', `${mutual.host}/${name}:v1`, '--dest', noCert], root, { HULL_CERTS_D: certsD([mutual.host]) });
    expectOneLine(refused, new RegExp(`^hull: ${mutual.host}: TLS with ${mutual.host}: the registry refused the TLS handshake`));
    expectNothingLeft(root, noCert);
  });

  it('a key without its certificate in certs.d is one clear line', async () => {
    const { name } = await markerImage();
    const broken = certsD([good.host], (dir) => writeFileSync(join(dir, 'lonely.key'), readFileSync(clientCert.key)));
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${good.host}/${name}:v1`, '--dest', dest], root, { HULL_CERTS_D: broken });
    expectOneLine(r, new RegExp(`^hull: ${good.host}: missing client certificate lonely.cert for key .*/lonely.key$`));
    expectNothingLeft(root, dest);
  });
});
