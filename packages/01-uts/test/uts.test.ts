import { describe, expect, it, afterAll, beforeAll } from 'vitest';
import { descendants, hostSnapshot, leftovers, randomExitCode, randomHostname, requireRoot, run, runStep, type HostSnapshot } from '@hull/testkit';

describe.skipIf(!requireRoot('01-uts'))('01-uts: a new UTS namespace', () => {
  let before: HostSnapshot;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => {
    expect(leftovers(before)).toEqual({});
    expect(descendants()).toEqual([]);
  });

  it('runs CMD with the hostname given, and the host keeps its own', async () => {
    const name = randomHostname();
    const hostBefore = hostSnapshot().hostname;
    const r = await runStep('01-uts', ['--hostname', name, '--', 'hostname']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(name);
    expect(r.code).toBe(0);
    expect(hostSnapshot().hostname).toBe(hostBefore);
  });

  it('sees the new name from /proc and uname too, while the host does not', async () => {
    const name = randomHostname();
    const r = await runStep('01-uts', ['--hostname', name, '--', 'sh', '-c', 'cat /proc/sys/kernel/hostname; uname -n']);
    expect(r.stdout.trim().split('\n')).toEqual([name, name]);
    expect(hostSnapshot().hostname).not.toBe(name);
  });

  it('generates a hostname when none is given', async () => {
    const r = await runStep('01-uts', ['--', 'hostname']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
    expect(r.stdout.trim()).not.toBe(hostSnapshot().hostname);
  });

  it("exits with CMD's exit status", async () => {
    const code = randomExitCode();
    const r = await runStep('01-uts', ['--hostname', randomHostname(), '--', 'sh', '-c', `exit ${code}`]);
    expect(r.code).toBe(code);
  });

  it('passes stdin and stdout through', async () => {
    const token = randomHostname();
    const r = await runStep('01-uts', ['--', 'cat'], { input: token });
    expect(r.stdout).toBe(token);
  });

  it('reports a signal death as 128+N', async () => {
    const r = await runStep('01-uts', ['--', 'sh', '-c', 'kill -USR1 $$']);
    expect(r.code).toBe(128 + 10);
  });

  it('refuses a command that does not exist with 127 and one line', async () => {
    const missing = `no-such-${randomHostname()}`;
    const r = await runStep('01-uts', ['--', missing]);
    expect(r.code).toBe(127);
    expect(r.stderr.trim().split('\n')).toEqual([`hull: exec "${missing}": executable file not found in $PATH`]);
  });

  it('refuses a file that is not executable with 126', async () => {
    const r = await runStep('01-uts', ['--', '/etc/hostname']);
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/^hull: exec "\/etc\/hostname": permission denied/);
  });
});

describe('01-uts: bad usage', () => {
  it.each([
    [['--bogus', '--', 'true'], /Unknown option '--bogus'/],
    [[], /missing CMD/],
    [['--hostname', 'a_b!', '--', 'true'], /--hostname "a_b!" may hold only/],
    [['--hostname', 'x'.repeat(70), '--', 'true'], /longer than 64 bytes/],
    [['--hostname'], /--hostname/],
  ])('%j is refused with exit 2 and one usage line', async (args, message) => {
    const r = await runStep('01-uts', args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message as RegExp);
    expect(lines[0]).toContain('usage: main.ts');
  });
});

describe.skipIf(!requireRoot('01-uts as an unprivileged user'))('01-uts: without root', () => {
  it('fails with one clear line and exit 125 when run without sudo', async () => {
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'npx', 'tsx', 'packages/01-uts/src/main.ts', '--hostname', randomHostname(), '--', 'hostname'], {
      env: { HOME: '/tmp' },
    });
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual(['hull: clone("uts"): EPERM (Operation not permitted) (are you root? try sudo)']);
  });
});
