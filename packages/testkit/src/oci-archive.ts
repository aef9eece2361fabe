// An OCI image layout packed as one tar (an "oci-archive"): what `podman load`
// and `ctr images import` both read, so the same fixture feeds both clients
// without skopeo or any registry.
import { writeFileSync } from 'node:fs';
import { type BuiltImage, type BuiltIndex, blobsOf, MEDIA, rootOf, tarOf } from './oci-image.js';

/**
 * Write `root` as an oci-archive at `path`, named `name` (e.g.
 * "localhost/busybox:latest"). The name goes in two annotations: podman takes
 * org.opencontainers.image.ref.name as the full reference when it is one, and
 * containerd's importer reads only io.containerd.image.name.
 */
export async function writeOciArchive(path: string, name: string, root: BuiltImage | BuiltIndex): Promise<string> {
  const top = rootOf(root);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      {
        mediaType: top.mediaType,
        digest: top.digest,
        size: top.size,
        annotations: { 'org.opencontainers.image.ref.name': name, 'io.containerd.image.name': name },
      },
    ],
  };
  const tar = await tarOf([
    { path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { path: 'index.json', content: JSON.stringify(index) },
    { path: 'blobs', type: 'directory' },
    { path: 'blobs/sha256', type: 'directory' },
    ...blobsOf(root).map((b) => ({ path: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, content: b.bytes })),
  ]);
  writeFileSync(path, tar);
  return path;
}
