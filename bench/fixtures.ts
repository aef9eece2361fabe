// The bench's fixtures, made with the test kit (no second copy of it):
// a docker-registry on 127.0.0.1 with
//   bench/busybox:latest  the tests' busybox image (2 layers, Debian's busybox-static)
//   bench/debian:latest   a debootstrap'ed Debian (minbase) in 3 layers: usr/, var/, the rest
// and the busybox rootfs unpacked for the runc/crun bundle.
//
//   npx tsx bench/fixtures.ts OUT.json BUSYBOX_ROOTFS_DIR [DEBIAN_DIR]
//
// Writes {"host","busybox","debian","debianBlobs"} to OUT.json once everything is pushed,
// then serves until SIGTERM/SIGINT, when it stops the registry and removes its files.
import { writeFileSync } from 'node:fs';
import { buildImage, busyboxImage, busyboxRootfs, entriesOfDir, pushImage, registryBlobPath, startRegistry } from '@hull/testkit';

const [out, rootfsDir, debianDir] = process.argv.slice(2);
if (!out || !rootfsDir) {
  process.stderr.write('usage: tsx bench/fixtures.ts OUT.json BUSYBOX_ROOTFS_DIR [DEBIAN_DIR]\n');
  process.exit(2);
}

const registry = await startRegistry({ flavour: 'anonymous' });
const stop = async (): Promise<void> => {
  await registry.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

try {
  const rootfs = busyboxRootfs(rootfsDir);
  await pushImage(registry.host, 'bench/busybox', 'latest', await busyboxImage(rootfs, { split: true, config: { Cmd: ['sh'] } }));
  const refs: Record<string, string> = { host: registry.host, busybox: `${registry.host}/bench/busybox:latest` };
  if (debianDir) {
    // A real image never ships apt's download cache; everything else debootstrap made stays.
    const keep = (rel: string): boolean => !/^var\/cache\/apt\/archives\/.*\.deb$/.test(rel);
    const under = (top: string) => (rel: string) => rel === top || rel.startsWith(`${top}/`);
    const inUsr = under('usr');
    const inVar = under('var');
    const image = await buildImage({
      layers: [
        { entries: entriesOfDir(debianDir, (rel) => inUsr(rel) && keep(rel)), compression: 'gzip' },
        { entries: entriesOfDir(debianDir, (rel) => inVar(rel) && keep(rel)), compression: 'gzip' },
        { entries: entriesOfDir(debianDir, (rel) => !inUsr(rel) && !inVar(rel)), compression: 'gzip' },
      ],
      config: { Cmd: ['bash'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    });
    await pushImage(registry.host, 'bench/debian', 'latest', image);
    refs.debian = `${registry.host}/bench/debian:latest`;
    refs.debianLayers = image.layers.map((l) => `${l.digest} ${l.size}`).join(', ');
    // The gzip blobs as the registry stores them, for the `tar -xzf` floor.
    refs.debianBlobs = image.layers.map((l) => registryBlobPath(registry.storage, l.digest)).join(' ');
  }
  writeFileSync(out, JSON.stringify(refs));
} catch (err) {
  process.stderr.write(`fixtures: ${err instanceof Error ? err.message : String(err)}\n`);
  await registry.stop();
  process.exit(1);
}
