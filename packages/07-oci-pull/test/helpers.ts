// Shared by this package's tests: the registries from globalSetup, a fresh
// store per test, the step as a learner runs it, and a store sanity check.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { randomToken, type RunResult, runStep } from '@hull/testkit';

export const registries = inject('registries');

/** A unique repository name, so parallel tests never share an image. */
export function repo(prefix = 'test'): string {
  return `${prefix}/r${randomToken(10)}`;
}

const temps: string[] = [];

/** A temp dir removed by `removeTempDirs()` (call it in afterAll). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hull-07-${name}-`));
  temps.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** `npx tsx packages/07-oci-pull/src/main.ts ARGS` with its own HULL_ROOT. */
export function step(args: string[], root: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runStep('07-oci-pull', args, { env: { HULL_ROOT: root, ...env }, timeoutMs: 120_000 });
}

/** A docker config.json dir holding credentials for `host` (pass as DOCKER_CONFIG). */
export function dockerConfig(host: string, username: string, password: string): string {
  const dir = tempDir('docker-config');
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return dir;
}

/** The one-line failure contract: exactly one `hull: ...` line on stderr, non-zero exit. */
export function expectOneLine(r: RunResult, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  if (lines.length !== 1 || !pattern.test(lines[0]!) || !lines[0]!.startsWith('hull: ') || !r.code) {
    throw new Error(`expected one line matching ${pattern} and a non-zero exit, got code ${r.code}:\n${r.stderr}`);
  }
}

/** Every blob in the store hashes to its own name; nothing half-written is visible. */
export function storeProblems(root: string): string[] {
  const problems: string[] = [];
  const blobs = join(root, 'blobs', 'sha256');
  if (!existsSync(blobs)) return problems;
  for (const name of readdirSync(blobs)) {
    const got = createHash('sha256').update(readFileSync(join(blobs, name))).digest('hex');
    if (got !== name) problems.push(`blobs/sha256/${name} holds ${got}`);
  }
  return problems;
}

export function images(root: string): Record<string, { digest: string; manifest: string; layers: string[]; platform: string }> {
  const file = join(root, 'images.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof images>) : {};
}

export function listDir(path: string): string[] {
  return existsSync(path) ? readdirSync(path).sort() : [];
}

