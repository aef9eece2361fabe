// Who we are to a registry: credentials from the files docker and podman
// write, and the parsing of the registry's 401 challenge.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
}

/** "https://index.docker.io/v1/" and "docker.io" both name Docker Hub; keys may carry a scheme and a path. */
function keyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').split('/')[0]!;
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** The auth files to read, first match wins: REGISTRY_AUTH_FILE (podman, skopeo), then docker's config.json. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json'));
  return files;
}

/** Credentials stored for `registry` ("127.0.0.1:5000", "docker.io"), or undefined. */
export function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const file of authFiles(env)) {
    if (!existsSync(file)) continue;
    let parsed: AuthFile;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as AuthFile;
    } catch {
      throw new Error(`${file}: not valid JSON`);
    }
    for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
      if (keyHost(key) !== registry) continue;
      if (entry.username && entry.password) return { username: entry.username, password: entry.password };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
    }
  }
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"` */
export function parseChallenge(header: string): Challenge {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of (space < 0 ? '' : header.slice(space + 1)).matchAll(re)) params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme, params };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
