// The syscall layer as one interface, after youki's Syscall trait: a
// container's setup code calls only these, so a test can swap in a recording
// double and assert "these mounts, in this order" without root.
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as real from './syscalls.js';
import { AT_FDCWD, type MountAttr, mountSetattr } from './mountapi.js';

export interface Syscalls {
  sethostname(name: string): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chdir(path: string): void;
  mkdir(path: string, mode: number): void;
  mknod(path: string, mode: number, dev: number): void;
  symlink(target: string, path: string): void;
  writeFile(path: string, data: string, mode: number): void;
  chmod(path: string, mode: number): void;
  /** mount_setattr(2) on a path; e.g. AT_RECURSIVE + MOUNT_ATTR_RDONLY makes a whole tree read-only. */
  mountSetattr(path: string, flags: number, attr: MountAttr): void;
}

/** The real thing. Sync fs only: the init stage may have moved its main thread into new namespaces. */
export const linux: Syscalls = {
  sethostname: real.sethostname,
  mount: (source, target, fstype, flags, data = null) => real.mount(source, target, fstype, flags, data),
  umount2: real.umount2,
  pivotRoot: real.pivotRoot,
  chdir: real.chdir,
  mkdir: (path, mode) => void mkdirSync(path, { recursive: true, mode }),
  mknod: real.mknod,
  symlink: (target, path) => symlinkSync(target, path),
  writeFile: (path, data, mode) => writeFileSync(path, data, { mode }),
  chmod: (path, mode) => chmodSync(path, mode),
  mountSetattr: (path, flags, attr) => mountSetattr(AT_FDCWD, path, flags, attr),
};

export interface RecordedCall {
  call: keyof Syscalls;
  args: unknown[];
}

/** A double that records every call and does nothing, for unit tests without root. */
export class RecordingSyscalls implements Syscalls {
  readonly calls: RecordedCall[] = [];
  private record(call: keyof Syscalls, args: unknown[]): void {
    this.calls.push({ call, args });
  }
  sethostname(name: string): void {
    this.record('sethostname', [name]);
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
    this.record('mount', [source, target, fstype, flags, data]);
  }
  umount2(target: string, flags: number): void {
    this.record('umount2', [target, flags]);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.record('pivotRoot', [newRoot, putOld]);
  }
  chdir(path: string): void {
    this.record('chdir', [path]);
  }
  mkdir(path: string, mode: number): void {
    this.record('mkdir', [path, mode]);
  }
  mknod(path: string, mode: number, dev: number): void {
    this.record('mknod', [path, mode, dev]);
  }
  symlink(target: string, path: string): void {
    this.record('symlink', [target, path]);
  }
  writeFile(path: string, data: string, mode: number): void {
    this.record('writeFile', [path, data, mode]);
  }
  chmod(path: string, mode: number): void {
    this.record('chmod', [path, mode]);
  }
  mountSetattr(path: string, flags: number, attr: MountAttr): void {
    this.record('mountSetattr', [path, flags, attr]);
  }
  /** The recorded calls of one kind, e.g. every mount target in order. */
  of(call: keyof Syscalls): unknown[][] {
    return this.calls.filter((c) => c.call === call).map((c) => c.args);
  }
}
