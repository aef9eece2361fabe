// setupRootfs through the recording double: the exact syscalls, in order, without root.
import { describe, expect, it } from 'vitest';
import {
  AT_RECURSIVE,
  errnoValue,
  makedev,
  MNT_DETACH,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_STRICTATIME,
  RecordingSyscalls,
  S_IFCHR,
  SyscallError,
} from '@hull/sys';
import { ROOTFS_MOUNTS, ROOTFS_NAMESPACES, type RootfsSpec, setupRootfs, TMP_MOUNT } from '../src/index.js';

const R = '/run/rootfs-x';
const spec: RootfsSpec = {
  argv: ['sh'],
  env: [],
  rootfs: R,
  hostname: 'box-1',
  binds: [{ source: '/tmp/hull-run-1/etc', destination: '/etc' }],
  tmp: true,
};
const NO_EXEC = MS_NOSUID | MS_NODEV | MS_NOEXEC;
const DEVICES: [string, number, number][] = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

/** The mounts, device nodes and the root switch as readable one-liners. */
function steps(sys: RecordingSyscalls): string[] {
  return sys.calls.map(({ call, args }) => `${call} ${args.map((a) => JSON.stringify(a)).join(' ')}`);
}

describe('03-chroot-proc: setupRootfs, recorded', () => {
  it('runs the steps in order: private, bind, proc, sys, dev, tmp, /etc, pivot_root, detach, hostname, chdir', () => {
    const sys = new RecordingSyscalls();
    setupRootfs(sys, spec);
    const s = (call: string, ...args: unknown[]) => `${call} ${args.map((a) => JSON.stringify(a)).join(' ')}`;
    expect(steps(sys)).toEqual([
      s('mount', null, '/', null, MS_REC | MS_PRIVATE, null),
      s('mount', R, R, null, MS_BIND | MS_REC, null),
      s('mountSetattr', R, 0, { attrSet: MOUNT_ATTR_NODEV }),
      s('mount', 'proc', `${R}/proc`, 'proc', NO_EXEC, null),
      s('mount', 'sysfs', `${R}/sys`, 'sysfs', MS_RDONLY | NO_EXEC, null),
      s('mount', 'tmpfs', `${R}/dev`, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k'),
      ...DEVICES.flatMap(([name, major, minor]) => [
        s('mknod', `${R}/dev/${name}`, S_IFCHR | 0o666, makedev(major, minor)),
        s('chmod', `${R}/dev/${name}`, 0o666),
      ]),
      s('mkdir', `${R}/dev/pts`, 0o755),
      s('mount', 'devpts', `${R}/dev/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620'),
      s('mkdir', `${R}/dev/shm`, 0o1777),
      s('mount', 'shm', `${R}/dev/shm`, 'tmpfs', NO_EXEC, 'mode=1777,size=65536k'),
      s('symlink', '/proc/self/fd', `${R}/dev/fd`),
      s('symlink', '/proc/self/fd/0', `${R}/dev/stdin`),
      s('symlink', '/proc/self/fd/1', `${R}/dev/stdout`),
      s('symlink', '/proc/self/fd/2', `${R}/dev/stderr`),
      s('symlink', 'pts/ptmx', `${R}/dev/ptmx`),
      s('mount', 'tmpfs', `${R}/tmp`, 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=1777'),
      s('mount', '/tmp/hull-run-1/etc', `${R}/etc`, null, MS_BIND, null),
      s('chdir', R),
      s('pivotRoot', '.', '.'),
      s('umount2', '.', MNT_DETACH),
      s('sethostname', 'box-1'),
      s('chdir', '/'),
    ]);
  });

  it('skips /tmp when the rootfs has none, and mounts per-file binds in order', () => {
    const sys = new RecordingSyscalls();
    setupRootfs(sys, {
      ...spec,
      tmp: false,
      binds: [
        { source: '/r/hostname', destination: '/etc/hostname' },
        { source: '/r/hosts', destination: '/etc/hosts' },
      ],
    });
    const targets = sys.of('mount').map((a) => a[1]);
    expect(targets).not.toContain(`${R}/tmp`);
    expect(targets.slice(-2)).toEqual([`${R}/etc/hostname`, `${R}/etc/hosts`]);
    // Every mount happens before the root switch: afterwards the host paths are gone.
    const pivot = sys.calls.findIndex((c) => c.call === 'pivotRoot');
    expect(sys.calls.slice(pivot).some((c) => c.call === 'mount')).toBe(false);
  });

  it('in a user namespace (mknod and sysfs refused with EPERM): binds the host devices and a read-only /sys', () => {
    const EPERM = errnoValue('EPERM');
    class UserNamespaceSyscalls extends RecordingSyscalls {
      override mknod(path: string, mode: number, dev: number): void {
        super.mknod(path, mode, dev);
        throw new SyscallError('mknod', EPERM, [path]);
      }
      override mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
        super.mount(source, target, fstype, flags, data);
        if (fstype === 'sysfs') throw new SyscallError('mount', EPERM, [source, target, fstype]);
      }
    }
    const sys = new UserNamespaceSyscalls();
    setupRootfs(sys, spec);
    const all = steps(sys);
    const s = (call: string, ...args: unknown[]) => `${call} ${args.map((a) => JSON.stringify(a)).join(' ')}`;
    const sysfs = all.indexOf(s('mount', 'sysfs', `${R}/sys`, 'sysfs', MS_RDONLY | NO_EXEC, null));
    expect(all.slice(sysfs + 1, sysfs + 3)).toEqual([
      s('mount', '/sys', `${R}/sys`, null, MS_BIND | MS_REC, null),
      s('mountSetattr', `${R}/sys`, AT_RECURSIVE, { attrSet: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC }),
    ]);
    for (const [name, major, minor] of DEVICES) {
      const at = all.indexOf(s('mknod', `${R}/dev/${name}`, S_IFCHR | 0o666, makedev(major, minor)));
      expect(at).toBeGreaterThan(0);
      expect(all.slice(at + 1, at + 3)).toEqual([
        s('writeFile', `${R}/dev/${name}`, '', 0o666),
        s('mount', `/dev/${name}`, `${R}/dev/${name}`, null, MS_BIND, null),
      ]);
    }
    expect(sys.of('chmod')).toEqual([]);
  });

  it('lets errors other than EPERM through', () => {
    class Broken extends RecordingSyscalls {
      override mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
        super.mount(source, target, fstype, flags, data);
        if (fstype === 'proc') throw new SyscallError('mount', errnoValue('EBUSY'), [source, target, fstype]);
      }
    }
    const sys = new Broken();
    expect(() => setupRootfs(sys, spec)).toThrow(/mount\("proc", "\/run\/rootfs-x\/proc", "proc"\): EBUSY/);
    expect(sys.of('pivotRoot')).toEqual([]);
  });

  it('gets uts, pid, mnt and ipc namespaces', () => {
    expect([...ROOTFS_NAMESPACES].sort()).toEqual(['ipc', 'mnt', 'pid', 'uts']);
  });

  it("config.json's mounts (ROOTFS_MOUNTS, TMP_MOUNT) are exactly the mounts setupRootfs makes, in its order", () => {
    // mount(8) option names -> mount(2) flags; the rest is the data string.
    const FLAG: Record<string, number> = { nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC, ro: MS_RDONLY, strictatime: MS_STRICTATIME };
    const expected = [...ROOTFS_MOUNTS, TMP_MOUNT].map((m) => {
      const options = m.options ?? [];
      const flags = options.reduce((f, o) => f | (FLAG[o] ?? 0), 0);
      const data = options.filter((o) => FLAG[o] === undefined).join(',') || null;
      return { call: 'mount', args: [m.source, `${R}${m.destination}`, m.type, flags, data] };
    });
    const sys = new RecordingSyscalls();
    setupRootfs(sys, { ...spec, binds: [] });
    // The kernel filesystems: what is mounted with a type, leaving out the private "/" and the rootfs bind.
    expect(sys.calls.filter((c) => c.call === 'mount' && c.args[2] !== null)).toEqual(expected);
  });
});
