// `hull run` is an engine over the runtime library (docs/oci-runtime.md,
// "The engine"): it writes a bundle into the container's directory and
// starts it through hull-runtime's create + start. Proved from the outside:
// hull-runtime's own CLI, pointed at the container's runtime root, sees the
// container hull started, and the bundle's config.json says what the
// container has. One start path: whatever the runtime gains, hull run has.
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { descendants, hostSnapshot, randomToken, requireRoot, run, waitFor, leftovers } from '@hull/testkit';
import { alive, HullRoot, pushBusybox, requireBuild } from './hull.js';
import { RUNTIME_BIN } from './runtime-kit.js';

describe.skipIf(!requireRoot('final-runtime engine'))('hull run writes a bundle and runs it with the runtime library', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  const containerDir = (id: string) => join(root.dir, 'containers', id);
  const runtime = (id: string, args: string[]) => run('node', [RUNTIME_BIN, '--root', join(containerDir(id), 'runtime'), ...args], { timeoutMs: 60_000 });
  const bundleSpec = (id: string) => JSON.parse(readFileSync(join(containerDir(id), 'bundle', 'config.json'), 'utf8')) as RuntimeSpec;

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['sleep', '300'] });
    expect((await root.hull(['pull', image])).code).toBe(0);
  });

  afterAll(async () => {
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('run -d: hull-runtime state sees the same container running, from the bundle hull wrote; rm removes both', async () => {
    const host = `e${randomToken(8)}`;
    const pids = 20 + Math.floor(Math.random() * 100);
    const env = `E${randomToken(6)}=${randomToken(10)}`;
    const r = await root.hull(['run', '-d', '--hostname', host, '--pids-limit', String(pids), '-e', env, '-w', `/w${randomToken(4)}`, image]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const inspect = JSON.parse((await root.hull(['inspect', id])).stdout) as [{ State: { Pid: number } }];
    const pid = inspect[0].State.Pid;
    const state = JSON.parse((await runtime(id, ['state', id])).stdout) as Record<string, unknown>;
    expect(state).toMatchObject({ ociVersion: '1.1.0', id, status: 'running', pid, bundle: join(containerDir(id), 'bundle'), rootfs: join(containerDir(id), 'rootfs') });
    // What the container has, the bundle says: the flags, as config.json.
    const spec = bundleSpec(id);
    expect(spec.hostname).toBe(host);
    expect(spec.process?.args).toEqual(['sleep', '300']);
    expect(spec.process?.env).toContain(env);
    expect(spec.linux?.resources?.pids).toEqual({ limit: pids });
    expect(spec.linux?.cgroupsPath).toBe(`/hull/${id}`);
    expect(spec.mounts?.map((m) => m.destination)).toEqual(expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/sys', '/tmp', '/etc']));
    // And the container has it: the runtime's ps lists the engine's PID 1.
    expect(JSON.parse((await runtime(id, ['ps', '--format', 'json', id])).stdout)).toEqual([pid]);
    expect((await root.hull(['exec', id, 'hostname'])).stdout).toBe(`${host}\n`);
    expect((await root.hull(['rm', '-f', id])).code).toBe(0);
    expect(alive(pid)).toBe(false);
    const gone = await runtime(id, ['state', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/does not exist/);
  });

  it('--userns remap: the bundle carries chapter 05\'s maps and a user namespace, which the runtime makes', async () => {
    // The mapped root (host uid 100000) must walk to its rootfs: our temp root is 0700 (userns.test.ts shows the refusal).
    for (const dir of [root.dir, join(root.dir, 'containers')]) chmodSync(dir, 0o711);
    const r = await root.hull(['run', '-d', '--userns', 'remap', image]);
    expect(r.stderr).toBe('');
    const id = r.stdout.trim();
    const spec = bundleSpec(id);
    expect(spec.linux?.namespaces).toContainEqual({ type: 'user' });
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    const pid = (JSON.parse((await runtime(id, ['state', id])).stdout) as { pid: number }).pid;
    expect(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect((await root.hull(['rm', '-f', id])).code).toBe(0);
  });

  it('--network none: the runtime made the netns, the engine brought lo up in it before start (CNI\'s window)', async () => {
    const r = await root.hull(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'cat /sys/class/net/lo/operstate; ls /sys/class/net']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // lo is up before the command runs (no race with its first line); no other link exists.
    expect(r.stdout.split('\n')).toEqual(['unknown', 'lo', '']);
    expect(root.containers()).toEqual([]);
  });
});
