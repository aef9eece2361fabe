// Test harness: the compiled `hull` bin as a child process, a temp HULL_ROOT
// per test file, and busybox images pushed to chapter 07's test registry.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import {
  busyboxImage,
  busyboxRootfs,
  type ImageConfigSpec,
  type LayerSpec,
  pushImage,
  repoRoot,
  run,
  type RunOptions,
  type RunResult,
  randomToken,
  start,
} from '@hull/testkit';

export const BIN = join(repoRoot, 'packages/final-runtime/dist/bin.js');

export function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npx turbo run build --filter=@hull/final-runtime first (npm test does)`);
}

/** A store of its own, removed by `dispose` once it holds no mount. */
export class HullRoot {
  readonly dir = mkdtempSync(join(tmpdir(), 'hull-final-'));

  hull(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('node', [BIN, ...args], { timeoutMs: 120_000, ...opts, env: { HULL_ROOT: this.dir, ...opts.env } });
  }

  start(args: readonly string[], opts: RunOptions = {}) {
    return start('node', [BIN, ...args], { ...opts, env: { HULL_ROOT: this.dir, ...opts.env } });
  }

  containers(): string[] {
    const dir = join(this.dir, 'containers');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** Mount points under this root, from our mount table. */
  mounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(this.dir));
  }

  supervisorPid(): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, 'supervisor.pid'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  dispose(): void {
    if (this.mounts().length === 0) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function registryHost(): string {
  return inject('registries').anonymous.host;
}

/** Push a busybox image with this config (and extra layers) under a random name; returns its reference. */
export async function pushBusybox(config: ImageConfigSpec, extraLayers: LayerSpec[] = []): Promise<string> {
  const image = await busyboxImage(busyboxRootfs(), { config, extraLayers, split: true });
  const host = registryHost();
  const name = `final-${randomToken(8)}/busybox`;
  const tag = `t${randomToken(6)}`;
  await pushImage(host, name, tag, image);
  return `${host}/${name}:${tag}`;
}

/** Is pid alive (and not a zombie)? */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
