// The image spec's three documents: an index (multi-arch) points at manifests,
// a manifest points at one config and the layers, the config lists the
// layers' diff_ids and how to run the image.
// https://github.com/opencontainers/image-spec/blob/main/{image-index,manifest,config}.md
import { ContainerError } from '@hull/01-uts';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What we ask for, most wanted first. Without docker's types, registries would convert or refuse. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerList, MediaType.dockerManifest].join(', ');

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

/** Manifests and indexes above this are refused: distribution itself caps them at 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 8 << 20;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Index {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  author?: string;
  created?: string;
  config?: {
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
    /** Keys like "80/tcp"; the values are empty objects. */
    ExposedPorts?: Record<string, object> | null;
    Volumes?: Record<string, object> | null;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(what: string): ContainerError {
  return new ContainerError(`bad manifest: ${what}`);
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (!x || typeof x !== 'object') throw bad(`${where} is not a descriptor`);
  if (typeof x.digest !== 'string' || !DIGEST.test(x.digest)) throw bad(`${where} has an unsupported digest ${JSON.stringify(x.digest)}`);
  if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) throw bad(`${where} has a bad size`);
  if (typeof x.mediaType !== 'string') throw bad(`${where} has no mediaType`);
  return x as Descriptor;
}

/** Parse a manifest or index body, given the Content-Type the registry sent. */
export function parseManifest(body: Buffer, contentType: string | null): Manifest | Index {
  let doc: { schemaVersion?: number; mediaType?: string; manifests?: unknown[]; config?: unknown; layers?: unknown[] };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw bad('not JSON');
  }
  const type = doc.mediaType ?? contentType?.split(';')[0]?.trim() ?? '';
  if (doc.schemaVersion === 1 || type === MediaType.dockerSchema1 || type === MediaType.dockerSchema1Signed) {
    throw new ContainerError('image uses Docker schema1 manifests, which are deprecated and not supported: push it again with a current docker/buildah/skopeo');
  }
  if (doc.schemaVersion !== 2) throw bad(`schemaVersion ${String(doc.schemaVersion)}`);
  if (Array.isArray(doc.manifests)) {
    return { schemaVersion: 2, mediaType: type || MediaType.ociIndex, manifests: doc.manifests.map((m, i) => checkDescriptor(m, `manifests[${i}]`)) };
  }
  if (!Array.isArray(doc.layers) || !doc.config) throw bad(`no config and layers (media type ${JSON.stringify(type)})`);
  const layers = doc.layers.map((l, i) => checkDescriptor(l, `layers[${i}]`));
  for (const l of layers) if (!LAYER_TYPES.has(l.mediaType)) throw bad(`unsupported layer media type ${l.mediaType}`);
  return { schemaVersion: 2, mediaType: type || MediaType.ociManifest, config: checkDescriptor(doc.config, 'config'), layers };
}

export function isIndex(m: Manifest | Index): m is Index {
  return 'manifests' in m;
}

/** GOARCH names, as images spell them. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch, ...(process.arch === 'arm64' ? { variant: 'v8' } : {}) };
}

/** "linux/arm64/v8" -> Platform; throws a one-line error otherwise. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/.test(p))) {
    throw new ContainerError(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant], e.g. linux/arm64`);
  }
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** arm64 images often leave out the variant; v8 is what it means. */
function variantOf(p: Platform): string | undefined {
  return p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
}

/** The manifest of `index` for `want`: os and architecture must match, the variant too when both name one. */
export function selectPlatform(index: Index, want: Platform): Descriptor {
  const candidates = index.manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const exact = candidates.find((m) => !want.variant || variantOf(m.platform!) === variantOf(want));
  if (exact) return exact;
  const have = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
  throw new ContainerError(`no image for platform ${formatPlatform(want)} (the index has: ${have.join(', ') || 'none'})`);
}

export function parseConfig(body: Buffer, layers: number): ImageConfig {
  let c: Partial<ImageConfig>;
  try {
    c = JSON.parse(body.toString('utf8')) as Partial<ImageConfig>;
  } catch {
    throw new ContainerError('bad image config: not JSON');
  }
  const ids = c.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !DIGEST.test(d))) throw new ContainerError('bad image config: rootfs.diff_ids');
  if (ids.length !== layers) throw new ContainerError(`bad image config: ${ids.length} diff_ids for ${layers} layers`);
  return c as ImageConfig;
}
