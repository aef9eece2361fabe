// --print-spec: chapter 01's config.json holds exactly the flags given, and
// running the same flags does what it says.
import { existsSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '@hull/sys';
import { descendants, hostSnapshot, leftovers, printedSpec, randomHostname, randomToken, requireRoot, runStep, type HostSnapshot } from '@hull/testkit';

const CHAPTER = '01-uts';

describe('01-uts: --print-spec', () => {
  it('prints ociVersion 1.1.0, the hostname and CMD given, a uts namespace, and runs nothing', async () => {
    const hostname = randomHostname();
    const marker = join(tmpdir(), `hull-01-spec-${randomToken(8)}`);
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, ['--hostname', hostname, '--', 'touch', marker]);
    expect(spec.ociVersion).toBe('1.1.0');
    expect(spec.hostname).toBe(hostname);
    expect(spec.process?.args).toEqual(['touch', marker]);
    expect(spec.process?.cwd).toMatch(/^\//);
    expect(spec.linux).toEqual({ namespaces: [{ type: 'uts' }] });
    expect(existsSync(marker)).toBe(false);
  });

  it('generates the hostname it prints when none is given', async () => {
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, ['--', 'true']);
    expect(spec.hostname).toMatch(/^[0-9a-f]{12}$/);
  });

  it('refuses a bad hostname with --print-spec too: exit 2, nothing on stdout', async () => {
    const r = await runStep(CHAPTER, ['--print-spec', '--hostname', 'a_b!', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^hull: --hostname "a_b!" may hold only/);
  });

  it('prints --help from the option table: every flag, on stdout, exit 0', async () => {
    const r = await runStep(CHAPTER, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: main\.ts \[--hostname NAME\] \[--print-spec\] -- CMD \[ARGS\.\.\.\]\n/);
    for (const flag of ['--hostname NAME', '--print-spec', '-h, --help']) expect(r.stdout).toContain(flag);
  });
});

describe.skipIf(!requireRoot('01-uts --print-spec, then run'))('01-uts: the printed spec is what runs', () => {
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => {
    // What this chapter could leave: the host's name changed, or a process (other packages' tests make cgroups meanwhile).
    expect(leftovers(before).hostname).toBeUndefined();
    expect(descendants()).toEqual([]);
  });

  it('inside: the hostname is spec.hostname, in a uts namespace of its own, in process.cwd; the host keeps its name', async () => {
    const args = ['--hostname', randomHostname(), '--', 'sh', '-c', 'hostname; readlink /proc/self/ns/uts; pwd'];
    const spec = await printedSpec<RuntimeSpec>(CHAPTER, args);
    const r = await runStep(CHAPTER, args);
    expect(r.code).toBe(0);
    const [hostname, uts, cwd] = r.stdout.trim().split('\n');
    expect(hostname).toBe(spec.hostname);
    expect(uts).not.toBe(readlinkSync('/proc/self/ns/uts'));
    expect(cwd).toBe(spec.process?.cwd);
    expect(hostSnapshot().hostname).toBe(before.hostname);
  });
});
