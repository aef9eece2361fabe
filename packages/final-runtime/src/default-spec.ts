// What `hull-runtime spec` writes: a config.json a learner edits, as
// `runc spec` does. It is runc 1.1's template with these changes (each one
// is checked against `runc spec` in test/spec-convert.test.ts):
//   - ociVersion is the spec version hull implements (1.1.0), not runc's "1.0.2-dev";
//   - hostname "hull";
//   - no ambient capabilities: runc lists three with no inheritable ones, and
//     the kernel refuses to raise an ambient capability that is not
//     inheritable (prctl(2) PR_CAP_AMBIENT_RAISE), which runc 1.1 ignores;
//   - a cgroup namespace (runc 1.2 adds it too): the container sees its own
//     cgroup as the root of /sys/fs/cgroup, not the host's tree;
//   - maskedPaths adds /sys/devices/virtual/powercap (CVE-2020-8694: RAPL
//     energy counters leak what other processes compute), as runc 1.2 does.
import { OCI_VERSION, type RuntimeSpec, type SpecMount, type SpecNamespace } from '@hull/sys';
import { DEFAULT_PATH } from '@hull/03-chroot-proc';
import { MASKED_PATHS, READONLY_PATHS } from './security/paths.js';

/** The capabilities of `runc spec`'s process: enough for a shell, nothing that touches the system. */
export const SPEC_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * docker's and runc's default mounts, in runc's order. /dev/pts's gid=5 is
 * the tty group, so a pty belongs to it (mode 0620) as on a host; /sys and
 * the cgroup tree are read-only: their files change the host.
 */
export function defaultMounts(opts: { rootless?: boolean } = {}): SpecMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    // Rootless: gid 5 is not mapped in a one-id user namespace, and devpts refuses an unmapped gid.
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(opts.rootless ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // Rootless: without its own network namespace a new sysfs cannot be mounted (the kernel ties sysfs to the netns), so the host's is bound read-only.
    opts.rootless
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

export interface DefaultSpecOptions {
  /** runc spec --rootless: a user namespace mapping root to the caller, no network namespace, no device cgroup. */
  rootless?: boolean;
  /** The caller's ids for --rootless (default: this process's). */
  uid?: number;
  gid?: number;
}

export function defaultSpec(opts: DefaultSpecOptions = {}): RuntimeSpec {
  const rootless = opts.rootless === true;
  const namespaces: SpecNamespace[] = rootless
    ? [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }]
    : [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const gid = opts.gid ?? process.getgid?.() ?? 0;
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: [`PATH=${DEFAULT_PATH}`, 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...SPEC_CAPABILITIES], effective: [...SPEC_CAPABILITIES], permitted: [...SPEC_CAPABILITIES] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'hull',
    mounts: defaultMounts({ rootless }),
    linux: {
      ...(rootless
        ? { uidMappings: [{ containerID: 0, hostID: uid, size: 1 }], gidMappings: [{ containerID: 0, hostID: gid, size: 1 }] }
        : // Deny every device; the runtime adds the few every container gets (null, zero, tty, ptys, ...).
          { resources: { devices: [{ allow: false, access: 'rwm' }] } }),
      namespaces,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}
