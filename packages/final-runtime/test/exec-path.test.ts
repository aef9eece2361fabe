// The join and exec path (docs/hardening.md, "The join and exec path"):
// runc's CVE history, tried on `hull run` and `hull exec` from the outside.
//   - CVE-2024-21626: an fd hull inherited (a host file, a host directory)
//     must not reach the container, not as an open fd and not as its working
//     directory through -w /proc/self/fd/N.
//   - CVE-2019-5736: a `#!/proc/self/exe` program must not run, let alone
//     overwrite, the node binary hull runs on. That test runs hull from a COPY
//     of node, never the real one, and checks both stay byte-for-byte intact.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, descendants, hostSnapshot, leftovers, randomToken, repoRoot, requireRoot, type RunResult, runStep, waitFor } from '@hull/testkit';
import { BIN, HullRoot, pushBusybox, requireBuild } from './hull.js';
import { probeBinary } from './probe.js';

/** A tiny dynamic ELF whose PT_INTERP names `interp`. */
function elfWithInterpreter(interp: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'hull-elf-'));
  try {
    writeFileSync(join(dir, 'x.c'), 'int main(void) { return 0; }\n');
    execFileSync('cc', ['-o', join(dir, 'x'), join(dir, 'x.c'), `-Wl,--dynamic-linker=${interp}`]);
    return readFileSync(join(dir, 'x'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A static program with no libc that prints `marker` and exits: it works as
 * an ELF interpreter too, since it needs nothing the kernel hands a real
 * ld.so. A control: it shows that the kernel runs the PT_INTERP we give.
 */
function markerInterpreter(marker: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'hull-interp-'));
  try {
    writeFileSync(join(dir, 'interp.c'), readFileSync(new URL('./fixtures/interp.c', import.meta.url)));
    execFileSync('cc', ['-static', '-nostdlib', '-no-pie', '-O1', `-DMARKER="${marker}"`, '-o', join(dir, 'interp'), join(dir, 'interp.c')]);
    return readFileSync(join(dir, 'interp'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Five "#!" scripts, each the interpreter of the one before, ending in `last`: the deepest chain the kernel runs (exec_binprm: depth 0..5). */
function scriptChain(dir: string, last: string): { path: string; content: string; mode: number }[] {
  return [0, 1, 2, 3, 4].map((i) => ({ path: `${dir}/d${i}`, content: `#!/${i === 4 ? last : `${dir}/d${i + 1}`}\n`, mode: 0o755 }));
}

/**
 * The host node's shared libraries and loader, as image entries at the paths ldd names. Without
 * them, host node reached through /proc/self/exe dies in the container for want of its own
 * PT_INTERP (ENOENT), and the payload below would never get to try the overwrite.
 */
function nodeLibraries(): { path: string; content: Buffer; mode: number }[] {
  const paths = execFileSync('ldd', [process.execPath], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
  return [...new Set(paths)].map((p) => ({ path: p.slice(1), content: readFileSync(p), mode: 0o755 }));
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe.skipIf(!requireRoot('final-runtime exec path'))('the join and exec path: fds, working directory, /proc/self/exe', () => {
  const root = new HullRoot();
  const before = hostSnapshot();
  const work = mkdtempSync(join(tmpdir(), 'hull-execpath-'));
  // A host directory with a secret in it, and a host file: what a leaked fd would expose.
  const hostDir = join(work, 'host');
  const secret = `secret-${randomToken(16)}`;
  const hostFile = join(work, `file-${randomToken(6)}`);
  const fileText = `file-${randomToken(16)}\n`;
  const nodeCopy = join(work, 'node');
  const noCloseRange = join(work, 'no-close-range.so');
  const name = `xp-${randomToken(6)}`;
  const ran = `host-node-ran-${randomToken(8)}`;
  const pwned = `PWNED-${randomToken(8)}`;
  const interpRan = `interp-ran-${randomToken(8)}`;
  // In hull's own environment: what /proc/PID/environ of a process that is still hull would give away.
  const canary = `canary-${randomToken(16)}`;
  let image = '';
  let nodeHash = '';
  let copyHash = '';

  /** hull with extra fds: child fd N is a copy of our fd `fds[N]` (what a careless parent leaks). */
  function hull(args: readonly string[], fds: Record<number, number> = {}, node = 'node', env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const top = Math.max(2, ...Object.keys(fds).map(Number));
    const stdio: ('pipe' | 'ignore' | number)[] = ['pipe', 'pipe', 'pipe'];
    for (let fd = 3; fd <= top; fd++) stdio.push(fds[fd] ?? 'ignore');
    const child: ChildProcess = spawn(node, [BIN, ...args], {
      cwd: repoRoot,
      env: { ...process.env, HULL_TEST_CANARY: canary, NO_COLOR: '1', HULL_ROOT: root.dir, HULL_BRIDGE: root.bridge, HULL_SUBNET: root.subnet, ...env },
      stdio,
    });
    return collect(child, { timeoutMs: 120_000 });
  }

  /**
   * The host's fds to leak: a host file (read-write) on 5 and 40, a host directory on 7 and 41.
   * node itself marks inherited fds 0..15 close-on-exec when it starts (libuv's
   * uv_disable_stdio_inheritance); 40 and 41, past the gap, are the ones only hull can stop.
   */
  function leaked<T>(body: (fds: Record<number, number>) => Promise<T>): Promise<T> {
    const file = openSync(hostFile, 'r+');
    const dir = openSync(hostDir, 'r');
    return body({ 5: file, 7: dir, 40: file, 41: dir }).finally(() => {
      closeSync(file);
      closeSync(dir);
    });
  }

  beforeAll(async () => {
    requireBuild();
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'secret'), `${secret}\n`);
    writeFileSync(hostFile, fileText);
    copyFileSync(process.execPath, nodeCopy);
    execFileSync('cc', ['-shared', '-fPIC', '-O1', '-o', noCloseRange, fileURLToPath(new URL('./fixtures/no-close-range.c', import.meta.url)), '-ldl']);
    nodeHash = sha256(process.execPath);
    copyHash = sha256(nodeCopy);
    // The classic CVE-2019-5736 payload, for node: keep /proc/self/exe open in a
    // child that outlives us, and write through it once no process runs the file.
    const evil = [
      '#!/proc/self/exe',
      `console.log('${ran}');`,
      "const fd = require('fs').openSync('/proc/self/exe', 'r');",
      `require('child_process').spawn('/bin/sh', ['-c', 'for i in $(seq 40); do echo ${pwned} >> /proc/self/fd/3 2>/dev/null && exit 0; sleep 0.1; done'], { stdio: ['ignore', 'ignore', 'ignore', fd], detached: true }).unref();`,
      '',
    ].join('\n');
    image = await pushBusybox({ Cmd: ['sh'] }, [
      {
        entries: [
          { path: 'bin/probe', content: probeBinary(), mode: 0o755 },
          ...nodeLibraries(),
          { path: 'evil', content: evil, mode: 0o755 },
          // One more step of indirection: a script whose interpreter is the script above.
          { path: 'evil2', content: '#!/evil\n', mode: 0o755 },
          // An ELF whose dynamic loader (PT_INTERP) is /proc/self/exe: the kernel would map node as its interpreter.
          { path: 'evil-elf', content: elfWithInterpreter('/proc/self/exe'), mode: 0o755 },
          // The same at the kernel's deepest level, and its control with an interpreter that only prints.
          { path: 'interp', content: markerInterpreter(interpRan), mode: 0o755 },
          { path: 'elf-interp', content: elfWithInterpreter('/interp'), mode: 0o755 },
          ...scriptChain('deep', 'deep/elf'),
          { path: 'deep/elf', content: elfWithInterpreter('/interp'), mode: 0o755 },
          ...scriptChain('deep-evil', 'deep-evil/elf'),
          { path: 'deep-evil/elf', content: elfWithInterpreter('/proc/self/exe'), mode: 0o755 },
          // Its interpreter will be a file the container holds a lease on: the exec stops there.
          { path: 'hold-elf', content: elfWithInterpreter('/tmp/held-interp'), mode: 0o755 },
        ],
      },
    ]);
    expect((await root.hull(['pull', image])).code).toBe(0);
    const started = await root.hull(['run', '-d', '--name', name, image, 'sleep', '600']);
    expect(started.code).toBe(0);
  });

  afterAll(async () => {
    await root.hull(['rm', '-f', name]);
    await waitFor(() => root.supervisorPid() === undefined, 15_000, 'the supervisor to exit');
    expect(root.containers()).toEqual([]);
    expect(root.mounts()).toEqual([]);
    root.dispose();
    expect(leftovers(before)).toEqual({});
    rmSync(work, { recursive: true, force: true });
    expect(descendants()).toEqual([]);
  });

  /** Nothing of the host changed: the secret, the file, the directory's entries. */
  function hostUntouched(): void {
    expect(readFileSync(join(hostDir, 'secret'), 'utf8')).toBe(`${secret}\n`);
    expect(readdirSync(hostDir)).toEqual(['secret']);
    expect(readFileSync(hostFile, 'utf8')).toBe(fileText);
  }

  it('hull run: PID 1 holds 0, 1, 2 only, whatever fds hull inherited', async () => {
    const r = await leaked((fds) => hull(['run', '--rm', image, 'probe', 'fds'], fds));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0 1 2 \n');
    const ls = await leaked((fds) => hull(['run', '--rm', image, 'ls', '/proc/self/fd'], fds));
    expect(ls.stdout.split(/\s+/).filter(Boolean).sort()).toEqual(['0', '1', '2', '3']); // 3: ls's own directory
  });

  it('hull exec: the joining process holds 0, 1, 2 only', async () => {
    const r = await leaked((fds) => hull(['exec', name, 'probe', 'fds'], fds));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0 1 2 \n');
    const ls = await leaked((fds) => hull(['exec', name, 'ls', '/proc/self/fd'], fds));
    expect(ls.stdout.split(/\s+/).filter(Boolean).sort()).toEqual(['0', '1', '2', '3']);
  });

  // What stands between `hull run -w /proc/self/fd/N` and the host, in order:
  //   0. not hull's: node marks its inherited fds 0..15 close-on-exec at startup (libuv's
  //      uv_disable_stdio_inheritance), so fds 5 and 7 never pass an execve; 40 and 41 do;
  //   1. the native helper marks every unlisted fd close-on-exec (close_range): 41 never reaches the init stage;
  //   2. the init stage walks the working directory with openat2(RESOLVE_NO_MAGICLINKS): no magic link is followed;
  //   3. after it, getcwd must start with "/" (a post-condition that 2 leaves nothing to catch).
  // The first test pins layer 1, the second turns layer 1 off and pins layer 2.
  it('hull run -w /proc/self/fd/41: the host directory hull inherited on fd 41 never reaches the init stage', async () => {
    const r = await leaked((fds) => hull(['run', '--rm', '-w', '/proc/self/fd/41', image, 'sh', '-c', 'cat secret; touch escaped; echo ran'], fds));
    expect([r.code, r.stdout, r.stderr.trim().split('\n')]).toEqual([125, '', ['hull: working directory /proc/self/fd/41: no such file or directory']]);
    hostUntouched();
    // The init stage's own fds, whatever they are, are magic links too, and refused as such.
    for (const fd of [3, 4, 5, 6, 7, 8, 9]) {
      const other = await leaked((fds) => hull(['run', '--rm', '-w', `/proc/self/fd/${fd}`, image, 'sh', '-c', 'cat secret; ls /; echo ran'], fds));
      expect([other.code, other.stdout]).toEqual([125, '']);
      expect(other.stderr).toBe(`hull: working directory /proc/self/fd/${fd}: it goes through a /proc magic link (or a symlink loop)\n`);
    }
    hostUntouched();
  });

  it('hull run -w /proc/self/fd/41 with layer 1 off (LD_PRELOAD: no close_range in the native helper): no magic link is followed, nothing is made on the host', async () => {
    const env = { LD_PRELOAD: noCloseRange };
    for (const workdir of ['/proc/self/fd/41', '/proc/self/fd/41/made-by-container', '/proc/self/fd/40']) {
      const r = await leaked((fds) => hull(['run', '--rm', '-w', workdir, image, 'sh', '-c', 'cat secret; touch escaped; echo ran'], fds, 'node', env));
      // ELOOP, not ENOENT as above: the fd is there now, and the walk refuses to go through it.
      expect([r.code, r.stdout, r.stderr.trim().split('\n')]).toEqual([125, '', [`hull: working directory ${workdir}: it goes through a /proc magic link (or a symlink loop)`]]);
    }
    hostUntouched();
    // A working directory that is only missing is still made, as docker does.
    const made = `/made-${randomToken(6)}/sub`;
    const ok = await hull(['run', '--rm', '-w', made, image, 'pwd'], {}, 'node', env);
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, `${made}\n`, '']);
  });

  // hull exec's joining process is a clone of the CLI: the fds are all still open when it chdirs
  // (close-on-exec acts only at execve), so the getcwd check after chdir is the layer that stops this.
  it('hull exec -w /proc/self/fd/N (7 and 41, both host directories there) is refused (exit 126); the host is untouched', async () => {
    for (const fd of [7, 41]) {
      const r = await leaked((fds) => hull(['exec', '-w', `/proc/self/fd/${fd}`, name, 'sh', '-c', 'cat secret; touch escaped; echo ran'], fds));
      expect([r.code, r.stdout, r.stderr.trim().split('\n')]).toEqual([126, '', [`hull: exec: working directory /proc/self/fd/${fd}: outside the container's root filesystem`]]);
    }
    hostUntouched();
  });

  it('hull exec: held inside execve, the joining process is still hull, and the container can read neither its environ nor its fds (non-dumpable)', async () => {
    // The container holds a write lease on the ELF interpreter of /hold-elf. The joining process opens
    // that interpreter inside execve, after the hardening (the container's uid and capabilities) and
    // before the point of no return: it waits there, still a copy of hull's node, with hull's memory
    // and fds (the leaked host file and directory too). Only PR_SET_DUMPABLE then stands between it
    // and the container: same uid, same capabilities, same user namespace.
    expect((await hull(['exec', name, 'cp', '/interp', '/tmp/held-interp'])).code).toBe(0);
    const observer = spawn('node', [BIN, 'exec', name, 'probe', 'lease', '/tmp/held-interp'], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1', HULL_ROOT: root.dir, HULL_BRIDGE: root.bridge, HULL_SUBNET: root.subnet },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seen = collect(observer, { timeoutMs: 120_000 });
    let out = '';
    observer.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => out.startsWith('leased\n') || observer.exitCode !== null, 60_000, 'the lease');
    expect(out).toBe('leased\n');
    const joined = await leaked((fds) => hull(['exec', name, '/hold-elf'], fds));
    const report = await seen;
    expect(report.stderr).toBe('');
    expect(report.code).toBe(0);
    // It went on once the lease was gone, into the program it was asked for.
    expect([joined.code, joined.stdout, joined.stderr]).toEqual([0, `${interpRan}\n`, '']);
    const procs = report.stdout.split('\n').filter((l) => l.startsWith('pid='));
    // Control: the container's PID 1 (sleep, dumpable, the same uid and capabilities) is open to the observer.
    expect(procs.find((l) => l.startsWith('pid=1 '))).toMatch(/^pid=1 comm=sleep environ=readable:.*PATH=.* fds=0:[^,]+,/);
    const held = procs.filter((l) => !l.startsWith('pid=1 '));
    expect(held).toHaveLength(1);
    expect(held[0]).toMatch(/^pid=\d+ comm=\S+ environ=EACCES fds=(EACCES|(\d+:EACCES,)*)$/);
    expect(report.stdout).not.toContain(canary);
    expect(report.stdout).not.toContain(hostDir);
    expect(report.stdout).not.toContain(hostFile);
    hostUntouched();
  });

  it('a #!/proc/self/exe program never runs node, through run or exec; node and its copy stay byte-for-byte', async () => {
    // hull on the copy: the copy is what /proc/self/exe would reach.
    for (const cmd of ['/evil', '/evil2', '/evil-elf']) {
      const r = await hull(['run', '--rm', image, cmd], {}, nodeCopy);
      expect(r.stdout).not.toContain(ran);
      expect(r.code).toBe(126);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: exec "${cmd}": refused: it would run hull's own node binary (/proc/self/exe)`]);
    }
    for (const cmd of [['/evil'], ['/evil2'], ['/evil-elf'], ['/proc/self/exe', '-e', `console.log('${ran}')`]]) {
      const r = await hull(['exec', name, ...cmd], {}, nodeCopy);
      expect(r.stdout).not.toContain(ran);
      expect(r.code).toBe(126);
      expect(r.stderr.trim().split('\n')).toEqual([`hull: exec "${cmd[0]}": refused: it would run hull's own node binary (/proc/self/exe)`]);
    }
    // The payload would write within 4 s of hull exec's end; give it the time.
    await new Promise((r) => setTimeout(r, 5000));
    expect(sha256(nodeCopy)).toBe(copyHash);
    expect(sha256(process.execPath)).toBe(nodeHash);
    // A normal command still runs, and a script with a normal interpreter too.
    const ok = await hull(['exec', name, 'sh', '-c', 'echo fine'], {}, nodeCopy);
    expect(ok.stdout).toBe('fine\n');
  });

  it('an ELF interpreter is followed at every depth the kernel runs, five "#!" deep too (controls: /interp runs there)', async () => {
    // Controls: the kernel runs our PT_INTERP, alone and at the end of the deepest script chain.
    // Without them, a refusal below could be a chain the kernel would not run anyway.
    for (const cmd of ['/elf-interp', '/deep/d0']) {
      const run = await hull(['run', '--rm', image, cmd], {}, nodeCopy);
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe(`${interpRan}\n`);
      const exec = await hull(['exec', name, cmd], {}, nodeCopy);
      expect(exec.stderr).toBe('');
      expect(exec.stdout).toBe(`${interpRan}\n`);
    }
    // The same chain ending in an ELF whose PT_INTERP is /proc/self/exe: node would be mapped and entered.
    const refused = `hull: exec "/deep-evil/d0": refused: it would run hull's own node binary (/proc/self/exe)`;
    const run = await hull(['run', '--rm', image, '/deep-evil/d0'], {}, nodeCopy);
    expect([run.code, run.stdout, run.stderr.trim().split('\n')]).toEqual([126, '', [refused]]);
    const exec = await hull(['exec', name, '/deep-evil/d0'], {}, nodeCopy);
    expect([exec.code, exec.stdout, exec.stderr.trim().split('\n')]).toEqual([126, '', [refused]]);
    expect(sha256(nodeCopy)).toBe(copyHash);
  });

  it('the init stage runs node through a read-only bind of itself (chapter 02, which shares the host files, shows it)', async () => {
    // Chapter 02's step on the copy of node (first in PATH, so npx and tsx run it): its PID 1 execs sh, which keeps the mount namespace.
    const r = await runStep('02-pid-mount', ['--', 'sh', '-c', `grep " ${nodeCopy} " /proc/self/mountinfo`], { env: { PATH: `${work}:${process.env.PATH ?? ''}` } });
    expect(r.stderr).toBe('');
    const line = r.stdout.trim();
    expect(line.split(' ')[4]).toBe(nodeCopy);
    expect(line.split(' ')[5]!.split(',')).toContain('ro');
    expect(sha256(nodeCopy)).toBe(copyHash);
  });
});
