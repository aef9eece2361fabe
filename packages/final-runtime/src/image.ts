// The image half of the store is chapter 07's: images.json maps a normalised
// reference to digests, layers/<hex>/ holds each layer extracted once. This
// module turns a reference the user typed into what a container needs.
import { ContainerError } from '@hull/01-uts';
import { formatReference, type ImageConfig, type ImageRecord, parseConfig, parseReference, Store } from '@hull/07-oci-pull';

export interface LocalImage {
  /** The normalised reference, e.g. 127.0.0.1:5000/busybox:latest */
  ref: string;
  record: ImageRecord;
  config: ImageConfig;
  /** Overlay lower dirs, top layer first. */
  lowerdirs: string[];
}

/** docker's short image id: the config digest's first 12 hex digits. */
export function imageShortId(record: ImageRecord): string {
  return record.config.replace(/^sha256:/, '').slice(0, 12);
}

export function normaliseRef(ref: string): string {
  return formatReference(parseReference(ref));
}

/** Find a reference (or an image id prefix) among the pulled images; undefined when absent. */
export function findImage(store: Store, ref: string): LocalImage | undefined {
  const images = store.images();
  let key: string | undefined;
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(ref)) {
    const hex = ref.replace(/^sha256:/, '');
    key = Object.keys(images).find((k) => images[k]!.config.replace(/^sha256:/, '').startsWith(hex));
  }
  if (!key) {
    const normal = normaliseRef(ref);
    if (images[normal]) key = normal;
  }
  if (!key) return undefined;
  const record = images[key]!;
  const config = parseConfig(store.readBlob(record.config), record.layers.length);
  const lowerdirs = [...record.layers].reverse().map((diffId) => store.layerPath(diffId));
  for (const dir of lowerdirs) {
    if (!store.hasLayer(dir.split('/').pop()!)) throw new ContainerError(`image ${key}: layer ${dir} is missing from the store: pull it again`);
  }
  return { ref: key, record, config, lowerdirs };
}
