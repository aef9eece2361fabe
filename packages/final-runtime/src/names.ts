// Container ids and names, as docker makes them: a 64-hex id shown as 12
// digits, and a readable random name unless --name gives one.
import { randomInt } from 'node:crypto';
import { ContainerError, randomId } from '@hull/01-uts';
import { type ContainerConfig, containerIds, hullRoot, readConfig } from './store.js';

export const EXIT_ERROR = 1;

/** docker's full container id: 64 hex digits. */
export function newContainerId(): string {
  return randomId(32);
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

// docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkName(name: string): void {
  if (!NAME.test(name)) throw new ContainerError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'nimble', 'quiet', 'sharp', 'tidy', 'vivid', 'witty', 'bold', 'crisp', 'gentle', 'jolly'];
const NOUNS = ['pike', 'lynx', 'heron', 'otter', 'finch', 'badger', 'marten', 'plover', 'stoat', 'wren', 'ibis', 'tern', 'vole', 'newt', 'kite', 'crane'];

export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}_${randomInt(100, 1000)}`;
}

const ID_PREFIX = /^[0-9a-f]+$/;

/**
 * Find a container by full id, name, or a unique id prefix, as docker does. Exit 1 when none.
 * A reference that can be neither (`../../tmp/x`, a NUL, a slash) is refused
 * before anything is looked up, with the rule it broke.
 */
export function findContainer(ref: string, root = hullRoot()): ContainerConfig {
  if (!NAME.test(ref) && !ID_PREFIX.test(ref)) throw new ContainerError(`invalid container name or id ${JSON.stringify(ref)}: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]+, an id is hex`, EXIT_ERROR);
  const ids = containerIds(root);
  const configs = ids.map((id) => readConfig(id, root));
  const exact = configs.find((c) => c.id === ref || c.name === ref);
  if (exact) return exact;
  const byPrefix = ID_PREFIX.test(ref) ? configs.filter((c) => c.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new ContainerError(`multiple containers match "${ref}": use more of the id`, EXIT_ERROR);
  throw new ContainerError(`no such container: ${ref}`, EXIT_ERROR);
}
