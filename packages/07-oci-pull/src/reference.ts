// Image references, normalised the way docker does (distribution/reference grammar):
//   alpine                      -> docker.io/library/alpine:latest
//   user/app:1.2                -> docker.io/user/app:1.2
//   127.0.0.1:5000/ns/app:tag   -> 127.0.0.1:5000/ns/app:tag
//   app@sha256:<64 hex>         -> docker.io/library/app@sha256:...
// The first path component is a registry host only if it has a '.' or a ':',
// or is "localhost"; otherwise the image lives on Docker Hub.
import { ContainerError } from '@hull/01-uts';

export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API does not live at docker.io but here. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface Reference {
  /** the registry as written in the reference, e.g. "docker.io", "127.0.0.1:5000" */
  registry: string;
  /** the repository path inside the registry, e.g. "library/alpine" */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

function invalid(ref: string, why: string): ContainerError {
  return new ContainerError(`invalid reference ${JSON.stringify(ref)}: ${why}`);
}

/** Parse and normalise REF; throws a one-line ContainerError when it is not a valid reference. */
export function parseReference(ref: string): Reference {
  if (ref === '') throw invalid(ref, 'empty');
  if (ref.length > 255 + 72) throw invalid(ref, 'too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, 'a digest is sha256: and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `bad tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!HOST.test(first)) throw invalid(ref, `bad registry host ${JSON.stringify(first)}`);
    registry = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => p === '')) throw invalid(ref, 'empty path component');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw invalid(ref, /[A-Z]/.test(p) ? 'repository names must be lowercase' : `bad path component ${JSON.stringify(p)}`);
  }
  let repository = parts.join('/');
  if (registry === DOCKER_HUB && parts.length === 1) repository = `library/${repository}`;
  if (repository.length > 255) throw invalid(ref, 'repository name longer than 255 characters');
  if (!tag && !digest) tag = 'latest';
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The canonical string: registry/repository[:tag][@digest]. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The host the HTTP API is on. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Plain HTTP only for loopback, or registries the user named as insecure. */
export function isInsecure(registry: string, insecure: readonly string[]): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  return insecure.includes(registry) || insecure.includes(host);
}
