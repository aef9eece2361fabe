// Test harness: the compiled `hull` bin as a child process, a temp HULL_ROOT
// per test file, and busybox images pushed to chapter 07's test registry.
import { existsSync, type FSWatcher, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import {
  busyboxImage,
  busyboxRootfs,
  claimLeftovers,
  type ImageConfigSpec,
  type LayerEntry,
  type LayerSpec,
  pushImage,
  repoRoot,
  run,
  type RunOptions,
  type RunResult,
  randomToken,
  start,
  writeOciArchive,
} from '@hull/testkit';

// The bin npm links (bin/hull.js), so every test runs what a user runs: the
// esbuild bundle in build/ that the build makes (test/bundle.test.ts checks it).
export const BIN = join(repoRoot, 'packages/final-runtime/bin/hull.js');

export const BUNDLE = join(repoRoot, 'packages/final-runtime/build/bin.js');

export function requireBuild(): void {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npx turbo run build --filter=@hull/final-runtime first (npm test does)`);
}

/** A store of its own, removed by `dispose` once it holds no mount. */
export class HullRoot {
  readonly dir = mkdtempSync(join(tmpdir(), 'hull-final-'));
  /** A bridge and subnet of our own: other test files (and chapter 06's) run at the same time. */
  readonly bridge = `hullf${randomToken(5)}`;
  readonly subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0/24`;

  private env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { HULL_ROOT: this.dir, HULL_BRIDGE: this.bridge, HULL_SUBNET: this.subnet, ...extra };
  }

  /** Every container id this root ever held, for the leftover check. */
  readonly seenIds: string[] = [];

  /**
   * hull names a container's cgroups (hull/<id>) after an id it chooses. A
   * foreground --rm container's directory is gone by the time `hull run`
   * returns, so watch the store (inotify queues every mkdir) and hand each id
   * to the leftover check: its cgroups, processes and mounts are ours.
   */
  private readonly watcher: FSWatcher;

  constructor() {
    mkdirSync(join(this.dir, 'containers'));
    this.watcher = watch(join(this.dir, 'containers'), (_event, name) => {
      if (name) this.saw(String(name));
    });
  }

  private saw(id: string): void {
    // Only ids: the store also makes temp files beside them.
    if (!/^[0-9a-f]{64}$/.test(id) || this.seenIds.includes(id)) return;
    this.seenIds.push(id);
    claimLeftovers({ names: [id] });
  }

  async hull(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await run('node', [BIN, ...args], { timeoutMs: 120_000, ...opts, env: this.env(opts.env) });
    for (const id of this.containers()) this.saw(id);
    for (const m of r.stdout.match(/\b[0-9a-f]{64}\b/g) ?? []) this.saw(m);
    return r;
  }

  start(args: readonly string[], opts: RunOptions = {}) {
    return start('node', [BIN, ...args], { ...opts, env: this.env(opts.env) });
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
    this.watcher.close();
    if (this.mounts().length === 0) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function registryHost(): string {
  return inject('registries').anonymous.host;
}

/** Push a busybox image with this config (and extra layers) under a random name; returns its reference. */
export async function pushBusybox(config: ImageConfigSpec, extraLayers: LayerSpec[] = [], namespace = `final-${randomToken(8)}`): Promise<string> {
  const image = await busyboxImage(busyboxRootfs(), { config, extraLayers, split: true });
  const host = registryHost();
  const name = `${namespace}/busybox`;
  const tag = `t${randomToken(6)}`;
  await pushImage(host, name, tag, image);
  return `${host}/${name}:${tag}`;
}

/**
 * Build a busybox image with this config (and one extra layer of `entries`),
 * and `hull load` it into `root` as `ref`: no registry needed.
 */
export async function loadBusybox(root: HullRoot, ref: string, config: ImageConfigSpec, entries: LayerEntry[] = []): Promise<void> {
  const image = await busyboxImage(busyboxRootfs(), { config, extraLayers: entries.length ? [{ entries }] : [], split: true });
  const archive = await writeOciArchive(join(root.dir, `image-${randomToken(6)}.tar`), ref, image);
  const r = await root.hull(['load', '-i', archive]);
  if (r.code !== 0) throw new Error(`hull load ${ref}: ${r.stderr}`);
  rmSync(archive);
}

/** Is pid alive (and not a zombie)? */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
