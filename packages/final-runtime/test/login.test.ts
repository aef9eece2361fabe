// login/logout against the fixture registries with htpasswd (Basic) and
// token (Bearer, Docker Hub's flow) auth: pulls fail before login, work
// after, fail again after logout; a wrong password is refused and not stored.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomToken, requireRoot, waitFor } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';

describe.skipIf(!requireRoot('final-runtime login'))('hull login / logout', () => {
  const root = new HullRoot();
  const config = mkdtempSync(join(tmpdir(), 'hull-docker-config-'));
  const env = { DOCKER_CONFIG: config, REGISTRY_AUTH_FILE: '' };
  let anonymousRef = '';

  beforeAll(async () => {
    requireBuild();
    // The token registry lets anyone pull outside private/: push inside it.
    anonymousRef = await pushBusybox({ Cmd: ['true'] }, [], `private/f${randomToken(8)}`);
  });

  afterAll(() => {
    rmSync(config, { recursive: true, force: true });
    root.dispose();
  });

  for (const flavour of ['basic', 'token'] as const) {
    it(`${flavour}: pull needs the login; logout takes it back`, async () => {
      const registry = inject('registries')[flavour];
      // Same storage as the anonymous registry: the image is there, behind auth.
      const ref = anonymousRef.replace(inject('registries').anonymous.host, registry.host);
      const before = await root.hull(['pull', ref], { env });
      expect(before.code).toBe(125);
      expect(before.stderr).toMatch(/^hull: .*(authentication required|unauthorized)/);

      const wrong = await root.hull(['login', '-u', registry.username!, '--password-stdin', registry.host], { env, input: `${randomToken(8)}\n` });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/^hull: .*(unauthorized|incorrect)/);
      const file = join(config, 'config.json');
      const storedHosts = () => (existsSync(file) ? Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { auths?: object }).auths ?? {}) : []);
      expect(storedHosts()).not.toContain(registry.host);

      const ok = await root.hull(['login', '-u', registry.username!, '--password-stdin', registry.host], { env, input: `${registry.password}\n` });
      expect(ok.stdout).toBe('Login Succeeded\n');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
      expect(Buffer.from(stored.auths[registry.host]!.auth, 'base64').toString()).toBe(`${registry.username}:${registry.password}`);
      expect((await root.hull(['pull', ref], { env })).code).toBe(0);

      expect((await root.hull(['logout', registry.host], { env })).stdout).toBe(`Removing login credentials for ${registry.host}\n`);
      expect((await root.hull(['logout', registry.host], { env })).stdout).toBe(`Not logged in to ${registry.host}\n`);
      expect((await root.hull(['rmi', ref], { env })).code).toBe(0);
      expect((await root.hull(['pull', ref], { env })).code).toBe(125);
    });
  }

  it('without a terminal and without --password-stdin it refuses, with the fix', async () => {
    const r = await root.hull(['login', inject('registries').basic.host], { env });
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('hull: login: no terminal to ask on: give -u USER and the password with --password-stdin (see hull login --help)\n');
  });

  it('on a terminal it asks for the username and the password, and never shows the password (tmux)', async () => {
    const registry = inject('registries').basic;
    const server = `hull${randomToken(8)}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const screen = (): string => tmux('capture-pane', '-p', '-t', 's');
    const done = join(config, `done-${randomToken(4)}`);
    try {
      tmux('new-session', '-d', '-s', 's', '-x', '100', '-y', '20', `env DOCKER_CONFIG=${config} REGISTRY_AUTH_FILE= HULL_ROOT=${root.dir} node ${BIN} login ${registry.host}; echo exit=$? > ${done}; sleep 60`);
      await waitFor(() => screen().includes('Username:'), 20_000, 'the username prompt');
      tmux('send-keys', '-t', 's', registry.username!, 'Enter');
      await waitFor(() => screen().includes('Password:'), 10_000, 'the password prompt');
      tmux('send-keys', '-t', 's', registry.password!, 'Enter');
      await waitFor(() => existsSync(done), 20_000, 'login to finish');
      expect(readFileSync(done, 'utf8')).toBe('exit=0\n');
      const shown = screen();
      expect(shown).toContain(`Username: ${registry.username}`);
      expect(shown).toContain('Login Succeeded');
      expect(shown).not.toContain(registry.password!);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // gone with its session
      }
    }
    expect((await root.hull(['logout', registry.host], { env })).code).toBe(0);
  });
});
