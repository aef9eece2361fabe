import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busyboxRootfs,
  collect,
  descendants,
  hostSnapshot,
  randomExitCode,
  randomHostname,
  randomToken,
  requireRoot,
  run,
  runStep,
  type RunResult,
  startStep,
  waitFor,
} from '@hull/testkit';

const CHAPTER = '03-chroot-proc';

/** Mount points at or under `dir` in the host's mount table. */
function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[4]!)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Mount point and options of each line of a mountinfo text. */
function mountPoints(mountinfo: string): Map<string, string> {
  return new Map(
    mountinfo
      .trim()
      .split('\n')
      .map((l) => {
        const f = l.split(' ');
        return [f[4]!, f[5]!];
      }),
  );
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/** Every process on the host whose argv is exactly `argv`. */
function processesRunning(argv: string[]): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => cmdline(p).join('\0') === argv.join('\0'));
}

/** npx -> sh -> tsx -> node --import loader main.ts: the last one is the step. */
function stepPid(npxPid: number): number | undefined {
  return descendants(npxPid).find((p) => {
    const args = cmdline(p).join(' ');
    return args.includes(`packages/${CHAPTER}/src/main.ts`) && args.includes('loader');
  });
}

describe.skipIf(!requireRoot(CHAPTER))('03-chroot-proc: a root filesystem', () => {
  let rootfs: string;
  let work: string;
  let stepTmp: string;
  let hostname: string;
  let rootfsListing: string[];

  /** The learner's command, with the step's temp dir pointed at one of ours, so we can see it is cleaned up. */
  function step(args: string[], input?: string): Promise<RunResult> {
    return runStep(CHAPTER, args, { env: { TMPDIR: stepTmp }, ...(input === undefined ? {} : { input }) });
  }
  function inRootfs(cmd: string[], opts: { hostname?: string; dir?: string } = {}): Promise<RunResult> {
    return step(['--rootfs', opts.dir ?? rootfs, ...(opts.hostname ? ['--hostname', opts.hostname] : []), '--', ...cmd]);
  }
  /** Per-run dirs the step made and did not remove. */
  function runDirsLeft(): string[] {
    return readdirSync(stepTmp).filter((e) => e.startsWith('hull-run-'));
  }

  beforeAll(() => {
    hostname = hostSnapshot().hostname;
    work = mkdtempSync(join(tmpdir(), 'hull-03-test-'));
    chmodSync(work, 0o755); // a user namespace's root (another host uid) must reach the rootfs
    stepTmp = join(work, 'tmp');
    mkdirSync(stepTmp);
    rootfs = busyboxRootfs(join(work, 'busybox'));
    rootfsListing = readdirSync(rootfs).sort();
  });
  afterAll(() => {
    expect(hostMountsUnder(work)).toEqual([]);
    expect(runDirsLeft()).toEqual([]);
    // The rootfs is shared by every container: nothing may have been written into it.
    expect(readdirSync(rootfs).sort()).toEqual(rootfsListing);
    expect(readdirSync(join(rootfs, 'etc')).sort()).toEqual(['group', 'passwd']);
    expect(hostSnapshot().hostname).toBe(hostname);
    expect(descendants()).toEqual([]);
    rmSync(work, { recursive: true, force: true });
  });

  it('`ls /` shows the rootfs and nothing of the host (a random marker file on the host is invisible)', async () => {
    const marker = `/hull-marker-${randomToken()}`;
    writeFileSync(marker, 'host');
    try {
      expect(readdirSync('/')).toContain(marker.slice(1));
      const r = await inRootfs(['sh', '-c', `ls -1 /; cat ${marker}`]);
      expect(r.stdout.trim().split('\n')).toEqual(rootfsListing);
      expect(r.stderr).toContain(`cat: can't open '${marker}': No such file or directory`);
      expect(r.code).toBe(1);
    } finally {
      rmSync(marker);
    }
  });

  it("a device node inside the rootfs (as an image's layer could ship) cannot be opened: the rootfs is nodev, /dev is not", async () => {
    // c 1:5 is /dev/zero: harmless to open if the protection failed, but proof enough that it did.
    const dir = busyboxRootfs(join(work, `busybox-dev-${randomToken(6)}`));
    const node = `node-${randomToken(6)}`;
    execFileSync('mknod', [join(dir, node), 'c', '1', '5']);
    const r = await inRootfs(['sh', '-c', `head -c 4 /${node} | wc -c; head -c 4 /dev/zero | wc -c; grep " / " /proc/self/mountinfo`], { dir });
    expect(r.stderr).toContain(`/${node}: Permission denied`);
    expect(r.stdout).toMatch(/^0\n4\n/);
    expect(r.stdout).toMatch(/ \/ (\S+,)?nodev[, ]/m); // the mount options of "/"
  });

  describe('chroot alone can be escaped; pivot_root in a new PID namespace cannot', () => {
    let marker: string;
    beforeAll(() => {
      marker = `/hull-marker-${randomToken()}`;
      writeFileSync(marker, `host ${marker}\n`);
    });
    afterAll(() => rmSync(marker, { force: true }));

    it("WRONG: in a chroot, root mounts /proc and walks out through its parent's /proc/PID/root", async () => {
      // unshare --mount only keeps this proc mount off the host's table; it does not stop the escape.
      const r = await run('unshare', ['--mount', 'chroot', rootfs, '/bin/sh', '-c', `mount -t proc proc /proc && cat /proc/$PPID/root${marker}`]);
      expect(r.stdout).toBe(`host ${marker}\n`);
      expect(r.code).toBe(0);
    });

    it('RIGHT: in the container, /proc/1 is CMD and its root is the rootfs', async () => {
      // PID 1's parent is outside the namespace: the kernel shows it as 0, and no /proc entry leads to it.
      const r = await inRootfs(['sh', '-c', `echo $PPID; cat /proc/1/root${marker}; ls /proc/1/root/`]);
      expect(r.stderr).toBe(`cat: can't open '/proc/1/root${marker}': No such file or directory\n`);
      expect(r.stdout.trim().split('\n')).toEqual(['0', ...rootfsListing]);
    });
  });

  it('has exactly its own mounts: the old root is detached, not just hidden', async () => {
    const r = await inRootfs(['cat', '/proc/self/mountinfo']);
    expect(r.code).toBe(0);
    const mounts = mountPoints(r.stdout);
    expect([...mounts.keys()].sort()).toEqual(['/', '/dev', '/dev/pts', '/dev/shm', '/etc', '/proc', '/sys', '/tmp']);
    expect(mounts.get('/sys')).toMatch(/^ro,/);
    expect(hostMountsUnder(rootfs)).toEqual([]);
  });

  it('`ps` lists only the container processes, and PID 1 is CMD', async () => {
    const token = randomToken();
    const r = await inRootfs(['sh', '-c', `ps -o pid,args; exit 0`, token]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/, 2)[0]!);
    expect(rows).toHaveLength(2); // sh and ps: nothing of the host's hundreds
    expect(r.stdout).toMatch(new RegExp(`^\\s*1 sh -c ps -o pid,args; exit 0 ${token}$`, 'm'));
    // busybox runs ps in the forked shell without an exec, so it shows as "{ps} sh -c ...".
    expect(r.stdout.trim().split('\n')[2]).toMatch(/^\s*\d+ \{ps\} sh /);
  });

  it('`cat /proc/1/cmdline` is CMD, and /proc holds only the container pids', async () => {
    const token = randomToken();
    const r = await inRootfs(['sh', '-c', "cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'", token]);
    expect(r.code).toBe(0);
    const [cmdline, count] = r.stdout.split('\n');
    expect(cmdline).toBe(['sh', '-c', "cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'", token, ''].join('\0'));
    expect(Number(count)).toBeLessThanOrEqual(4); // sh, ls, grep (and cat, if not yet reaped)
    const direct = await inRootfs(['cat', '/proc/1/cmdline']);
    expect(direct.stdout).toBe('cat\0/proc/1/cmdline\0');
  });

  it('/dev is a small tmpfs with working null, zero, full, random, urandom, tty; pts, shm and the fd links', async () => {
    const token = randomToken();
    const script = [
      'ls /dev',
      `echo ${token} > /dev/null`,
      'wc -c < /dev/null',
      'head -c 16 /dev/zero | wc -c',
      'head -c 32 /dev/urandom | wc -c',
      'head -c 8 /dev/random | wc -c',
      'echo x > /dev/full || echo full-refused',
      'for d in null zero full random urandom tty; do [ -c /dev/$d ] || echo "not a char device: $d"; done',
      'ls /dev/pts',
      `echo ${token} > /dev/shm/t && cat /dev/shm/t`,
      // (our stdout is a socket, which cannot be reopened through /proc; a pipe can)
      `echo ${token} | cat /dev/stdin`,
      'for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done',
    ].join('; ');
    const r = await inRootfs(['sh', '-c', script]);
    expect(r.stdout.split('\n')).toEqual([
      ...['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'],
      '0',
      '16',
      '32',
      '8',
      'full-refused',
      'ptmx', // a new devpts instance: none of the host's terminals
      token,
      token,
      '/proc/self/fd',
      '/proc/self/fd/0',
      '/proc/self/fd/1',
      '/proc/self/fd/2',
      'pts/ptmx',
      '',
    ]);
    expect(r.stderr).toContain('No space left on device');
  });

  it('/sys is read-only, /proc and /tmp are writable where they should be', async () => {
    const token = randomToken();
    const r = await inRootfs(['sh', '-c', `touch /sys/${token}; echo ${token} > /tmp/${token} && cat /tmp/${token}; cat /proc/sys/kernel/hostname`], {
      hostname: 'box',
    });
    expect(r.stderr).toContain(`touch: /sys/${token}: Read-only file system`);
    expect(r.stdout).toBe(`${token}\nbox\n`);
    // /tmp was a tmpfs: nothing reached the rootfs's /tmp.
    expect(readdirSync(join(rootfs, 'tmp'))).toEqual([]);
  });

  it('sets the hostname and generates /etc/hostname and /etc/hosts; /etc/passwd is still the rootfs one', async () => {
    const name = randomHostname();
    const r = await inRootfs(['sh', '-c', 'hostname; cat /etc/hostname; grep -c "[[:space:]]$(hostname)$" /etc/hosts; test -f /etc/resolv.conf && echo resolv; id -un; echo $HOME $PATH'], {
      hostname: name,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([name, name, '1', 'resolv', 'root', '/root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '']);
    expect(r.code).toBe(0);
  });

  it("bind-mounts the generated files over the rootfs's own, and never writes them", async () => {
    // A second rootfs that has the three files, with random content.
    const dir = busyboxRootfs(join(work, `with-etc-${randomToken()}`));
    const original = { hostname: `${randomHostname()}\n`, hosts: `127.0.0.1 ${randomToken()}\n`, 'resolv.conf': `# ${randomToken()}\n` };
    for (const [f, text] of Object.entries(original)) writeFileSync(join(dir, 'etc', f), text);
    const name = randomHostname();
    const r = await inRootfs(['sh', '-c', `cat /etc/hostname; echo scribble >> /etc/hosts; grep -c "$(hostname)" /etc/hosts; awk 'index($5, "/etc") == 1' /proc/self/mountinfo | wc -l`], {
      hostname: name,
      dir,
    });
    expect(r.stderr).toBe('');
    // Three file binds, no copy of /etc.
    expect(r.stdout.split('\n')).toEqual([name, '1', '3', '']);
    for (const [f, text] of Object.entries(original)) expect(readFileSync(join(dir, 'etc', f), 'utf8')).toBe(text);
    expect(hostMountsUnder(dir)).toEqual([]);
  });

  it("exits with CMD's status and passes stdin through", async () => {
    const code = randomExitCode();
    const token = randomToken();
    const r = await step(['--rootfs', rootfs, '--', 'sh', '-c', `cat; exit ${code}`], token);
    expect(r.stdout).toBe(token);
    expect(r.code).toBe(code);
  });

  it('in a user namespace (mknod and sysfs refused): host device nodes are bound in, /sys is read-only all the way down', async () => {
    const base = 100_000 + 65_536 * Math.floor(Math.random() * 16);
    const token = randomToken();
    const script = [
      'cat /proc/self/uid_map',
      `echo ${token} > /dev/null && wc -c < /dev/null`,
      'head -c 8 /dev/urandom | wc -c',
      "awk '$5 == \"/dev/null\" || $5 == \"/dev/urandom\" { print $5, $9 }' /proc/self/mountinfo",
      "awk 'index($5, \"/sys\") == 1 && index($6, \"ro,\") != 1' /proc/self/mountinfo | wc -l",
      `touch /sys/${token}`,
    ].join('; ');
    const r = await run('npx', ['tsx', 'packages/03-chroot-proc/test/fixtures/userns-run.ts', rootfs, String(base), '--', 'sh', '-c', script], {
      env: { TMPDIR: stepTmp },
    });
    expect(r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      `0 ${base} 65536`,
      '0',
      '8',
      '/dev/null devtmpfs', // the host's node, bind-mounted: mknod is never allowed in a user namespace
      '/dev/urandom devtmpfs',
      '0', // no writable mount under /sys, cgroups included
      '',
    ]);
    expect(r.stderr).toContain(`touch: /sys/${token}: Read-only file system`);
    expect(runDirsLeft()).toEqual([]);
  });

  it('a step killed with SIGKILL cannot clean up; the next run removes its temp dir, and the container died with it', async () => {
    const argv = ['sleep', String(100_000 + Math.floor(Math.random() * 900_000))];
    const child = startStep(CHAPTER, ['--rootfs', rootfs, '--', ...argv], { env: { TMPDIR: stepTmp } });
    const done = collect(child);
    let step: number | undefined;
    await waitFor(() => processesRunning(argv).length === 1 && (step = stepPid(child.pid!)) !== undefined, 60_000, 'CMD to start');
    process.kill(step!, 'SIGKILL');
    await done;
    // PR_SET_PDEATHSIG: the container's PID 1 is killed with its parent, and the namespace with it.
    await waitFor(() => processesRunning(argv).length === 0, 10_000, 'the container to die with the step');
    expect(runDirsLeft()).toEqual([expect.stringMatching(new RegExp(`^hull-run-${step}-`))]);
    const r = await inRootfs(['true']);
    expect(r.code).toBe(0);
    expect(runDirsLeft()).toEqual([]);
  });

  describe('errors: one line, docker exit codes, nothing left behind', () => {
    it('a rootfs that does not exist: 125', async () => {
      const missing = join(work, `no-such-${randomToken()}`);
      const r = await step(['--rootfs', missing, '--', 'sh']);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: rootfs ${missing}: no such directory`]);
    });

    it('a rootfs that is a file: 125', async () => {
      const file = join(work, `file-${randomToken()}`);
      writeFileSync(file, '');
      const r = await step(['--rootfs', file, '--', 'sh']);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: rootfs ${file}: not a directory`]);
    });

    it('a rootfs without /proc, /sys, /dev to mount on: 125, and it is not created', async () => {
      const empty = join(work, `empty-${randomToken()}`);
      mkdirSync(empty);
      const r = await step(['--rootfs', empty, '--', 'sh']);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: rootfs ${empty}: no /proc, /sys, /dev (directories needed as mount points)`]);
      expect(readdirSync(empty)).toEqual([]);
    });

    it('a CMD that is not in the rootfs (though it is on the host): 127', async () => {
      expect(existsSync('/usr/bin/node') || existsSync('/usr/local/bin/node')).toBe(true);
      const r = await inRootfs(['node', '--version']);
      expect(r.code).toBe(127);
      expect(r.stderr.trim().split('\n')).toEqual(['hull: exec "node": executable file not found in $PATH']);
      expect(runDirsLeft()).toEqual([]);
    });

    it('a CMD given by a path that does not exist: 127', async () => {
      const missing = `/bin/no-such-${randomToken()}`;
      const r = await inRootfs([missing]);
      expect(r.code).toBe(127);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: exec "${missing}": no such file or directory`]);
    });

    it('a CMD that is not executable: 126', async () => {
      const r = await inRootfs(['/etc/passwd']);
      expect(r.code).toBe(126);
      expect(r.stderr.trim().split('\n')).toEqual(['hull: exec "/etc/passwd": permission denied: not an executable file']);
      expect(runDirsLeft()).toEqual([]);
    });
  });
});

describe('03-chroot-proc: bad usage', () => {
  it.each([
    [['--', 'sh'], /missing --rootfs DIR/],
    [['--rootfs', '/'], /missing CMD/],
    [['--rootfs'], /--rootfs/],
    [['--bogus', '--rootfs', '/', '--', 'sh'], /Unknown option '--bogus'/],
    [['--rootfs', '/', '--hostname', 'a_b!', '--', 'sh'], /--hostname "a_b!" may hold only/],
  ])('bad usage %j: exit 2 and one usage line', async (args, message) => {
    const r = await runStep(CHAPTER, args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message as RegExp);
    expect(lines[0]).toContain('usage: main.ts --rootfs DIR');
  });
});
