// Bad input: one line `hull: ...`, docker's exit code, no stack trace,
// nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, freePort, hostSnapshot, leftovers, randomToken, requireRoot } from '@hull/testkit';
import { HullRoot, pushBusybox, registryHost, requireBuild } from './hull.js';

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack
  return lines[0]!;
}

describe.skipIf(!requireRoot('final-runtime errors'))('hull on bad input', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  let image = '';

  beforeAll(async () => {
    requireBuild();
    image = await pushBusybox({ Cmd: ['true'] });
  });

  afterAll(() => {
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('an unknown flag: 125, and the command is named', async () => {
    const r = await root.hull(['run', '--bogus', image]);
    expect(r.code).toBe(125);
    expect(oneLine(r.stderr)).toBe('hull: run: unknown flag: --bogus (see hull run --help)');
    const short = await root.hull(['ps', '-z']);
    expect(short.code).toBe(125);
    oneLine(short.stderr);
  });

  it('an unknown command and a missing image argument: 125', async () => {
    const r = await root.hull([`frob${randomToken(4)}`]);
    expect(r.code).toBe(125);
    expect(oneLine(r.stderr)).toMatch(/^hull: unknown command "frob/);
    const noImage = await root.hull(['run', '--rm']);
    expect(noImage.code).toBe(125);
    oneLine(noImage.stderr);
  });

  it('an image the registry does not have, a registry that is down, a bad reference: 125', async () => {
    const missing = await root.hull(['run', '--rm', `${registryHost()}/nope-${randomToken(6)}/x:t`]);
    expect(missing.code).toBe(125);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^Unable to find image .* locally\nhull: .+\n$/);
    const port = await freePort(); // nothing listens there
    const down = await root.hull(['pull', `127.0.0.1:${port}/x/y:z`]);
    expect(down.code).toBe(125);
    expect(oneLine(down.stderr)).toMatch(/^hull: /);
    const bad = await root.hull(['run', '--rm', 'UPPER/Case']);
    expect(bad.code).toBe(125);
    expect(oneLine(bad.stderr)).toMatch(/^hull: invalid reference/);
  });

  it('a relative -w, an unknown -u, a bad --network: 125 and no container left', async () => {
    await root.hull(['pull', image]);
    const w = await root.hull(['run', '--rm', '-w', 'rel/dir', image]);
    expect(w.code).toBe(125);
    expect(oneLine(w.stderr)).toBe("hull: the working directory 'rel/dir' is invalid, it needs to be an absolute path");
    const user = `nouser${randomToken(4)}`;
    const u = await root.hull(['run', '--rm', '-u', user, image]);
    expect(u.code).toBe(125);
    expect(oneLine(u.stderr)).toBe(`hull: unable to find user ${user}: no matching entries in passwd file`);
    const n = await root.hull(['run', '--rm', '--network', 'weird', image]);
    expect(n.code).toBe(125);
    oneLine(n.stderr);
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
  });

  it('lifecycle commands on a container that does not exist: exit 1', async () => {
    for (const cmd of ['rm', 'stop', 'kill', 'logs', 'inspect']) {
      const name = `ghost-${randomToken(6)}`;
      const r = await root.hull([cmd, name]);
      expect(r.code, cmd).toBe(1);
      expect(oneLine(r.stderr)).toMatch(new RegExp(`^hull: no such (container|object): ${name}$`));
    }
  });
});
