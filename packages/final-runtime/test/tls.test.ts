// hull over TLS, with docker's real trust path: a token-auth docker-registry
// serving a certificate from an openssl-made CA, trusted only once the test puts
// that CA in /etc/docker/certs.d/127.0.0.1:PORT/ca.crt (a directory of this
// test's own, removed afterwards). pull, login (the realm is https too) and run.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hostSnapshot, type HostSnapshot, issueCert, leftovers, makeCA, randomToken, requireRoot, type RunningRegistry, startRegistry } from '@hull/testkit';
import { HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime tls'))('hull with a TLS registry', () => {
  const root = new HullRoot();
  const work = mkdtempSync(join(tmpdir(), 'hull-final-tls-'));
  const config = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
  const env = { DOCKER_CONFIG: config, REGISTRY_AUTH_FILE: '' };
  let registry: RunningRegistry;
  let caFile = '';
  /** what this test created under /etc, deepest first, to remove only that */
  const created: string[] = [];
  let before: HostSnapshot;

  beforeAll(async () => {
    requireBuild();
    before = hostSnapshot();
    const ca = makeCA(work, `hull-final-ca-${randomToken(6)}`);
    caFile = ca.cert;
    const server = issueCert(ca, work, 'server', { san: ['IP:127.0.0.1', 'DNS:localhost'] });
    registry = await startRegistry({ flavour: 'token', storage: inject('registries').anonymous.storage, tls: server });
  });

  afterAll(async () => {
    await registry?.stop();
    for (const path of created.reverse()) {
      if (path.endsWith('ca.crt')) rmSync(path, { force: true });
      else if (existsSync(path)) rmdirSync(path);
    }
    rmSync(work, { recursive: true, force: true });
    rmSync(config, { recursive: true, force: true });
    expect(leftovers(before)).toEqual({});
    root.dispose();
  });

  /** Trust our CA for the registry in docker's own place. */
  function trust(): void {
    let path = '';
    for (const part of ['etc', 'docker', 'certs.d', registry.host]) {
      path += `/${part}`;
      if (!existsSync(path)) {
        mkdirSync(path);
        created.push(path);
      }
    }
    copyFileSync(caFile, join(path, 'ca.crt'));
    created.push(join(path, 'ca.crt'));
  }

  it('refuses the registry until its CA is in /etc/docker/certs.d, then logs in, pulls and runs over https', async () => {
    const marker = randomToken();
    const ref = (await pushBusybox({ Cmd: ['echo', marker] }, [], `private/t${randomToken(8)}`)).replace(inject('registries').anonymous.host, registry.host);

    const untrusted = await root.hull(['pull', ref], { env });
    expect(untrusted.code).toBe(125);
    expect(untrusted.stderr).toBe(
      `hull: ${registry.host}: TLS with ${registry.host}: x509: certificate signed by unknown authority (trust its CA: put it in /etc/docker/certs.d/${registry.host}/ca.crt)\n`,
    );
    const noLogin = await root.hull(['login', '-u', registry.username!, '--password-stdin', registry.host], { env, input: `${registry.password}\n` });
    expect(noLogin.code).not.toBe(0);
    expect(noLogin.stderr).toMatch(/x509: certificate signed by unknown authority/);

    trust();
    const anonymous = await root.hull(['pull', ref], { env });
    expect(anonymous.code).toBe(125);
    expect(anonymous.stderr).toMatch(/^hull: .*unauthorized: authentication required/);
    const login = await root.hull(['login', '-u', registry.username!, '--password-stdin', registry.host], { env, input: `${registry.password}\n` });
    expect(login.stderr).toBe('');
    expect(login.stdout).toBe('Login Succeeded\n');
    const run = await root.hull(['run', '--rm', '--network', 'none', ref], { env });
    expect(run.stderr).toContain(`Unable to find image '${ref}' locally`);
    expect(run.stderr).not.toMatch(/^hull:/m);
    expect(run.stdout.trim().split('\n').pop()).toBe(marker);
    expect(run.code).toBe(0);
  });
});
