// The leftover check, narrowed to what this package can leave behind: other
// packages' tests run at the same time and own mounts, links and cgroups that
// come and go while we look.
import { expect } from 'vitest';
import { leftovers, waitFor, type HostSnapshot } from '@hull/testkit';

export interface Ownership {
  /** Mount points under these paths are ours (the containers' rootfs). */
  paths: readonly string[];
  /** Our cgroups, e.g. /\/hull\/t-/; by default every hull cgroup. */
  cgroups?: RegExp;
}

function ours(before: HostSnapshot, owned: Ownership): Record<string, string[]> {
  const diff = leftovers(before);
  const mine: Record<string, string[]> = {};
  const mounts = (diff.mounts ?? []).filter((m) => owned.paths.some((p) => m.startsWith(p)));
  const cgroups = (diff.cgroups ?? []).filter((c) => (owned.cgroups ?? /\/hull\//).test(c));
  if (mounts.length) mine.mounts = mounts;
  if (cgroups.length) mine.cgroups = cgroups;
  if (diff.hostname) mine.hostname = diff.hostname;
  return mine;
}

/** Assert nothing of ours is left; a resource of a concurrent test gets a few seconds to go away, a leak of ours stays. */
export async function expectNoLeftovers(before: HostSnapshot, owned: Ownership): Promise<void> {
  let diff = ours(before, owned);
  await waitFor(() => Object.keys((diff = ours(before, owned))).length === 0, 20_000, 'leftovers to go').catch(() => undefined);
  expect(diff).toEqual({});
}
