// The device program in the real kernel: a container cgroup of this host
// (on our hybrid machines, hull/<id> in the controller-less cgroup2 tree at
// /sys/fs/cgroup/unified; on a pure v2 host, the cgroup itself) gets the
// program through the one Cgroup interface, a test child is moved in, and
// its opens and mknods are allowed or refused by the program alone (the
// child's v1 devices cgroup is the host's root one, which allows all).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, bpfProgLoad, bpfProgQuery, close, O_DIRECTORY, O_RDONLY, open } from '@hull/sys';
import { hostSnapshot, randomToken, requireRoot, type HostSnapshot, settledLeftovers } from '@hull/testkit';
import { compileDeviceProgram, createCgroup, detectLayout, parseDeviceRule } from '../src/index.js';

const RULES = ['c *:* m', 'c 1:3 rwm', 'c 1:5 r', 'c 1:9 rwm'];

/** Run `script` in a shell that first waits on stdin, so it can be moved into the cgroup before it opens anything. */
async function inCgroup(add: (pid: number) => void, script: string): Promise<string> {
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  add(child.pid!);
  child.stdin.end('go\n');
  await exited;
  return out;
}

const layout = detectLayout();

describe.skipIf(!requireRoot('04-cgroups device program'))('the device program in the kernel', () => {
  let before: HostSnapshot;
  let dir: string;
  beforeAll(() => {
    before = hostSnapshot();
    dir = mkdtempSync(join(tmpdir(), 'hull-devprog-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    expect(await settledLeftovers(before)).toEqual({});
  });

  it('has a v2 directory to attach to on this host (hybrid: the unified tree; v2: the cgroup)', () => {
    const cg = createCgroup(`dp-${randomToken(10)}`, {}, { layout });
    return cg.destroy().then(() => {
      expect(cg.deviceProgramDir).not.toBeNull();
      expect(cg.dirs).toContain(cg.deviceProgramDir);
      if (layout.version === 1) expect(cg.deviceProgramDir).toMatch(/^\/sys\/fs\/cgroup\/unified\/hull\/dp-/);
    });
  });

  it('a child moved into the cgroup opens and mknods only what the rules allow', async () => {
    const cg = createCgroup(`dp-${randomToken(10)}`, {}, { layout });
    try {
      cg.limitDevices(RULES);
      // The kernel shows one program attached directly, with the flag that keeps nested ones from widening it.
      const fd = open(cg.deviceProgramDir!, O_RDONLY | O_DIRECTORY);
      try {
        const q = bpfProgQuery(fd, BPF_CGROUP_DEVICE);
        expect(q.progIds).toHaveLength(1);
        expect(q.attachFlags).toBe(BPF_F_ALLOW_MULTI);
      } finally {
        close(fd);
      }
      const node = join(dir, `mem-${randomToken(6)}`);
      const out = await inCgroup(
        (pid) => cg.add(pid),
        [
          'grep "^0::" /proc/self/cgroup',
          '(: > /dev/null) 2>/dev/null && echo null-rw=ok || echo null-rw=denied',
          '(head -c1 /dev/zero > /dev/null) 2>/dev/null && echo zero-r=ok || echo zero-r=denied',
          '(: > /dev/zero) 2>/dev/null && echo zero-w=ok || echo zero-w=denied',
          '(head -c1 /dev/urandom > /dev/null) 2>/dev/null && echo urandom=ok || echo urandom=denied',
          '(head -c1 /dev/full > /dev/null) 2>/dev/null && echo full=ok || echo full=denied',
          // c 1:1 is /dev/mem: mknod is allowed ("c *:* m"), opening the node is not.
          `mknod ${node} c 1 1 && echo mknod-c=ok || echo mknod-c=denied`,
          `(head -c1 ${node} > /dev/null) 2>/dev/null && echo mem=ok || echo mem=denied`,
          `mknod ${node}-b b 7 0 && echo mknod-b=ok || echo mknod-b=denied`,
        ].join('; '),
      );
      if (layout.version === 1) expect(out).toMatch(new RegExp(`^0::/${cg.name}$`, 'm'));
      expect(out).toContain('null-rw=ok');
      expect(out).toContain('zero-r=ok');
      expect(out).toContain('zero-w=denied');
      expect(out).toContain('urandom=ok');
      expect(out).toContain('full=denied');
      expect(out).toContain('mknod-c=ok');
      expect(out).toContain('mem=denied');
      expect(out).toContain('mknod-b=denied');
    } finally {
      await cg.destroy();
    }
  });

  it('the same child outside the cgroup is not limited (the program, not something else, refused)', async () => {
    const out = await inCgroup(() => undefined, '(head -c1 /dev/full > /dev/null) 2>/dev/null && echo full=ok || echo full=denied');
    expect(out).toContain('full=ok');
  });

  it('a program the verifier refuses fails with the verifier\'s reason', () => {
    const program = compileDeviceProgram(RULES.map(parseDeviceRule));
    // Read past struct bpf_cgroup_dev_ctx (12 bytes).
    const bad = [{ code: 0x61, dst: 2, src: 1, off: 12, imm: 0 }, ...program.slice(1)];
    expect(() => bpfProgLoad({ type: BPF_PROG_TYPE_CGROUP_DEVICE, insns: bad, license: 'GPL', log: Buffer.alloc(1 << 16) })).toThrow(
      /^bpf\("BPF_PROG_LOAD", .*\): EACCES \(.*; verifier: .*invalid bpf_context access off=12/,
    );
  });
});
