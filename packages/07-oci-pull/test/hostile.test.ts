// What the registry or the network can do wrong, and what must not follow:
// a blob whose bytes do not match its digest, a truncated blob, a layer whose
// tar does not match its diff_id, a connection cut mid-blob, a pull killed
// half-way. Each is refused (or retried) and the store stays clean.
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  descendants,
  hostSnapshot,
  type HostSnapshot,
  pushImage,
  randomToken,
  registryBlobPath,
  startStep,
  waitFor,
  collect,
  leftovers,
} from '@hull/testkit';
import { expectOneLine, images, listDir, registries, removeTempDirs, repo, step, storeProblems, tempDir } from './helpers.js';
import { startProxy } from './proxy.js';

const anon = registries.anonymous.host;

let before: HostSnapshot;
beforeAll(() => {
  before = hostSnapshot();
});
afterAll(() => {
  removeTempDirs();
  expect(leftovers(before)).toEqual({});
  expect(descendants()).toEqual([]);
});

/** An image whose second layer is unique to this test (so tampering with it hurts no one else). */
async function uniqueImage(bytes = 64 * 1024, diffIds?: string[]) {
  return buildImage({
    layers: [
      { entries: [{ path: 'etc', type: 'directory' }, { path: 'etc/marker', content: randomToken(20) }] },
      { entries: [{ path: 'big', content: randomBytes(bytes) }], compression: 'none' },
    ],
    ...(diffIds ? { diffIds } : {}),
  });
}

/** Nothing from a failed pull is visible: no name, no extracted layer of it, no temp files, only verified blobs. */
function expectNothingLeft(root: string, dest?: string): void {
  expect(images(root)).toEqual({});
  expect(listDir(join(root, 'tmp'))).toEqual([]);
  expect(storeProblems(root)).toEqual([]);
  if (dest) expect(existsSync(dest)).toBe(false);
}

describe('07-oci-pull: hostile registry and network', () => {
  it('refuses a blob whose bytes do not match its digest, and keeps none of it', async () => {
    const name = repo();
    const image = await uniqueImage();
    await pushImage(anon, name, 'v1', image);
    const layer = image.layers[1]!;
    const data = registryBlobPath(registries.anonymous.storage, layer.digest);
    const bytes = readFileSync(data);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(data, bytes);
    const root = tempDir('root');
    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expectOneLine(r, new RegExp(`blob digest mismatch: wanted ${layer.digest}, got sha256:[0-9a-f]{64}`));
    expect(existsSync(join(root, 'blobs/sha256', layer.digest.slice(7)))).toBe(false);
    expect(existsSync(join(root, 'layers', layer.diffId.slice(7)))).toBe(false);
    expectNothingLeft(root, dest);
  });

  it('refuses a truncated blob, and keeps none of it', async () => {
    const name = repo();
    const image = await uniqueImage();
    await pushImage(anon, name, 'v1', image);
    const layer = image.layers[1]!;
    const data = registryBlobPath(registries.anonymous.storage, layer.digest);
    truncateSync(data, Math.floor(statSync(data).size / 2));
    const root = tempDir('root');
    const r = await step(['pull', `${anon}/${name}:v1`], root);
    expectOneLine(r, new RegExp(`blob ${layer.digest} is truncated: got \\d+ of ${layer.size} bytes`));
    expect(existsSync(join(root, 'blobs/sha256', layer.digest.slice(7)))).toBe(false);
    expectNothingLeft(root);
  });

  it("refuses a layer whose tar does not match the config's diff_id", async () => {
    const name = repo();
    const wrong = `sha256:${randomBytes(32).toString('hex')}`;
    const image = await buildImage({
      layers: [{ entries: [{ path: 'x', content: randomToken() }] }],
      diffIds: [wrong],
    });
    await pushImage(anon, name, 'v1', image);
    const root = tempDir('root');
    const r = await step(['pull', `${anon}/${name}:v1`], root);
    expectOneLine(r, new RegExp(`diff_id mismatch: config says ${wrong}, the tar is ${image.layers[0]!.diffId}`));
    expect(listDir(join(root, 'layers'))).toEqual([]);
    expectNothingLeft(root);
  });

  it('resumes a blob with a Range request when the connection is cut in the middle of it', async () => {
    const name = repo();
    const image = await uniqueImage(512 * 1024);
    await pushImage(anon, name, 'v1', image);
    const proxy = await startProxy(anon, { cutAfter: 200 * 1024, cuts: 1 });
    try {
      const root = tempDir('root');
      const dest = join(tempDir('dest'), 'r');
      const r = await step(['pull', `${proxy.host}/${name}:v1`, '--dest', dest], root);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(proxy.cutsDone()).toBe(1);
      // The cut connection carried 200 KiB; starting over would then send the whole blob again
      // (>= size + 200 KiB in all). Resuming sends only what the file on disk lacks.
      expect(proxy.bytesSent()).toBeLessThan(image.layers[1]!.size + 200 * 1024);
      expect(readFileSync(join(dest, 'big')).equals(readFileSync(join(root, 'layers', image.layers[1]!.diffId.slice(7), 'big')))).toBe(true);
      expect(storeProblems(root)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a pull killed half-way leaves a store the next pull uses and repairs', async () => {
    const name = repo();
    const image = await uniqueImage(4 << 20);
    await pushImage(anon, name, 'v1', image);
    const proxy = await startProxy(anon, { bytesPerSecond: 512 * 1024 });
    const root = tempDir('root');
    try {
      const child = startStep('07-oci-pull', ['pull', `${proxy.host}/${name}:v1`], { env: { HULL_ROOT: root } });
      const done = collect(child, { timeoutMs: 120_000 });
      // Half-way: a partial download sits in tmp/.
      await waitFor(() => listDir(join(root, 'tmp')).some((f) => statSync(join(root, 'tmp', f)).size > 256 * 1024), 60_000, 'a partial blob in tmp/');
      for (const pid of [...descendants(child.pid!), child.pid!]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await done;
      await waitFor(() => descendants().length === 0, 10_000, 'the killed pull to be gone');
    } finally {
      await proxy.close();
    }
    // Killed: no name, nothing unverified under blobs/, the partial file only in tmp/.
    expect(images(root)).toEqual({});
    expect(storeProblems(root)).toEqual([]);
    expect(listDir(join(root, 'tmp')).length).toBeGreaterThan(0);
    expect(existsSync(join(root, 'blobs/sha256', image.layers[1]!.digest.slice(7)))).toBe(false);

    const dest = join(tempDir('dest'), 'r');
    const r = await step(['pull', `${anon}/${name}:v1`, '--dest', dest], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statSync(join(dest, 'big')).size).toBe(4 << 20);
    expect(listDir(join(root, 'tmp'))).toEqual([]);
    expect(storeProblems(root)).toEqual([]);
    expect(Object.keys(images(root))).toEqual([`${anon}/${name}:v1`]);
  });
});
