// Masked and read-only paths: /proc and /sys are the kernel's own windows,
// and a few of their files leak host state (kernel memory, every keyring,
// timers of every process) or change the host (sysrq-trigger, /proc/sys).
// runc's defaults, which docker passes in its OCI spec.
//
// Runs in the init stage AFTER pivot_root, on the container's own paths:
// the /dev/null we bind is the container's, and a path cannot escape
// through a symlink in the rootfs into the host's tree (there is none left).
// It must still run BEFORE the capabilities are dropped (mount needs
// CAP_SYS_ADMIN) and before seccomp (which denies mount).
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, SyscallError, type Syscalls } from '@hull/sys';

export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof SyscallError && codes.includes(err.code);
}

/**
 * Hide a file behind /dev/null (reads give nothing, writes vanish). A
 * directory cannot take a file bind (ENOTDIR): it gets an empty read-only
 * tmpfs instead. A path this kernel does not have is skipped.
 */
export function maskPath(sys: Pick<Syscalls, 'mount'>, path: string): void {
  try {
    sys.mount('/dev/null', path, null, MS_BIND);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return;
    if (!hasCode(err, 'ENOTDIR')) throw err;
    sys.mount('tmpfs', path, 'tmpfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'size=0,mode=0555');
  }
}

/**
 * Bind a path onto itself, then remount that bind read-only. A bind mount
 * ignores MS_RDONLY on creation, hence two calls. nosuid/nodev/noexec are
 * repeated because /proc has them and a remount may not drop a flag a user
 * namespace's mount was locked with.
 */
export function readonlyPath(sys: Pick<Syscalls, 'mount'>, path: string): void {
  try {
    sys.mount(path, path, null, MS_BIND | MS_REC);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return;
    throw err;
  }
  sys.mount(path, path, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

export function applyPathRules(sys: Pick<Syscalls, 'mount'>, masked: readonly string[], readonly: readonly string[]): void {
  // Read-only first: /proc/sys stays readable, it just cannot be written.
  for (const path of readonly) readonlyPath(sys, path);
  for (const path of masked) maskPath(sys, path);
}
