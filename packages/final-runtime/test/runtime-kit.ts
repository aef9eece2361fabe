// Test harness for hull-runtime: the compiled bin as a child process, a
// --root of its own, and bundles (config.json + a busybox rootfs) per test.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeSpec } from '@hull/sys';
import { busyboxRootfs, claimLeftovers, repoRoot, run, type RunOptions, type RunResult, randomToken } from '@hull/testkit';
import { createHash } from 'node:crypto';

// The bin podman and containerd are pointed at: it loads the bundle in build/.
export const RUNTIME_BIN = join(repoRoot, 'packages/final-runtime/bin/hull-runtime.js');

/** A config.json close to what `runc spec` writes, for a busybox rootfs. */
export function baseSpec(args: string[]): RuntimeSpec {
  return {
    ociVersion: '1.0.2-dev',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'], cwd: '/', noNewPrivileges: true },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

export class RuntimeRoot {
  readonly dir = mkdtempSync(join(tmpdir(), 'hull-rt-'));
  readonly root = join(this.dir, 'state');
  private n = 0;

  /** A bundle with its own rootfs copy: the runtime may create mount points in it. */
  bundle(spec: RuntimeSpec, text?: string): string {
    const dir = join(this.dir, `bundle${this.n++}`);
    busyboxRootfs(join(dir, 'rootfs'));
    writeFileSync(join(dir, 'config.json'), text ?? JSON.stringify(spec, null, 2));
    return dir;
  }

  rt(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('node', [RUNTIME_BIN, '--root', this.root, ...args], { timeoutMs: 60_000, ...opts });
  }

  /**
   * `create`, whose init inherits our stdio and outlives the command: its
   * output goes to a file (a pipe would stay open as long as the container),
   * which also collects what the container prints.
   */
  async create(args: readonly string[]): Promise<RunResult & { output: string }> {
    const output = join(this.dir, `out-${randomToken(8)}`);
    const fd = openSync(output, 'w');
    try {
      const child = spawn('node', [RUNTIME_BIN, '--root', this.root, 'create', ...args], { stdio: ['ignore', fd, fd] });
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      return { code, signal, stdout: '', stderr: readFileSync(output, 'utf8'), output };
    } finally {
      closeSync(fd);
    }
  }

  /** Container directories left in --root (the shared lock file is not one). */
  entries(): string[] {
    return existsSync(this.root) ? readdirSync(this.root).filter((e) => e !== 'hull-runtime.lock') : [];
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The name of the devices cgroup hull-runtime makes for cgroup `cgroupName`
 * (src/runtime/create.ts: rt-<24 hex of its sha256>), claimed for the
 * leftover check: nothing in it is named after the container's id.
 */
export function claimDeviceCgroup(cgroupName: string): void {
  claimLeftovers({ names: [`rt-${createHash('sha256').update(cgroupName).digest('hex').slice(0, 24)}`] });
}

/** A container id of this test file's own; its default cgroup (hull/<id>) and devices cgroup are the leftover check's to see. */
export function newId(): string {
  const id = `rt-${randomToken(10)}`;
  claimDeviceCgroup(id);
  return id;
}
