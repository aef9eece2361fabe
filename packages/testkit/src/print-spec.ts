// `main.ts --print-spec`: a chapter's config.json, and how it relates to the
// previous chapter's (issue 14: config.json grows chapter by chapter).
import { isDeepStrictEqual } from 'node:util';
import { runStep, type RunOptions } from './process.js';

/** Run a step with --print-spec first; it must exit 0, say nothing on stderr, and print one JSON document (T: @hull/sys's RuntimeSpec; the testkit does not depend on sys). */
export async function printedSpec<T>(chapter: string, args: readonly string[], opts: RunOptions = {}): Promise<T> {
  const r = await runStep(chapter, ['--print-spec', ...args], opts);
  if (r.code !== 0 || r.stderr !== '') throw new Error(`${chapter} --print-spec exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Where `later` fails to contain `earlier`: every field of `earlier` must be
 * in `later` with the same value, and every element of an array of
 * `earlier` somewhere in the same array of `later`. Paths listed in `allow`
 * ("process.cwd") may differ: the fields a later chapter teaches. Returns
 * the paths that differ, so a failing test names them.
 */
export function specNotContained(later: unknown, earlier: unknown, allow: readonly string[] = [], path = ''): string[] {
  if (allow.includes(path)) return [];
  if (Array.isArray(earlier)) {
    if (!Array.isArray(later)) return [path || '(root)'];
    return earlier.flatMap((e, i) => (later.some((l) => isDeepStrictEqual(l, e)) ? [] : [`${path}[${i}]`]));
  }
  if (earlier !== null && typeof earlier === 'object') {
    if (later === null || typeof later !== 'object' || Array.isArray(later)) return [path || '(root)'];
    return Object.entries(earlier).flatMap(([k, v]) => specNotContained((later as Record<string, unknown>)[k], v, allow, path ? `${path}.${k}` : k));
  }
  return isDeepStrictEqual(later, earlier) ? [] : [path || '(root)'];
}
