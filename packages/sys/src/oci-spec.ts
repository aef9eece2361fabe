// The OCI runtime spec (runtime-spec 1.1): the one container description
// that hull's chapters, `hull run`, `hull-runtime` and the daemon share.
// Written from the spec's config.md, config-linux.md, runtime.md and its JSON
// schema (schema/config-schema.json, config-linux.json, defs.json): no npm
// package ships these types. Only the Linux platform is described; fields of
// other platforms (windows, solaris, vm, zos) are not modelled, and a
// runtime ignores them as the spec says ("MUST ignore" unknown properties).
//
// Every field a config.json may leave out is optional here, as in the schema.
// Validation (a bundle is hostile input) lives with the runtime, not here.

export const OCI_VERSION = '1.1.0';

/** config.md "Root". */
export interface SpecRoot {
  /** The bundle-relative or absolute path of the container's root filesystem. */
  path: string;
  readonly?: boolean;
}

/** config.md "Mounts". `options` are mount(8)'s, e.g. "nosuid", "ro", "rbind", "mode=755". */
export interface SpecMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  uidMappings?: SpecIdMapping[];
  gidMappings?: SpecIdMapping[];
}

/** config.md "Console size". */
export interface SpecConsoleSize {
  height: number;
  width: number;
}

/** config.md "User" for POSIX platforms. */
export interface SpecUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

/** config.md "Linux process": capability names are "CAP_" + the lowercase name uppercased, e.g. CAP_NET_BIND_SERVICE. */
export interface SpecCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** config.md "POSIX process": type is RLIMIT_NOFILE, RLIMIT_NPROC, ... */
export interface SpecRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface SpecIoPriority {
  class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
  priority: number;
}

export interface SpecScheduler {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

/** config.md "Process". */
export interface SpecProcess {
  terminal?: boolean;
  consoleSize?: SpecConsoleSize;
  user: SpecUser;
  /** argv; args[0] is looked up in the container's PATH when it holds no "/". */
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: SpecCapabilities;
  rlimits?: SpecRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: SpecIoPriority;
  scheduler?: SpecScheduler;
}

/** config.md "POSIX-platform Hooks": each runs with the container's state on stdin. */
export interface SpecHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface SpecHooks {
  /** Deprecated in 1.1 in favour of the three below, still called by podman-era tools. */
  prestart?: SpecHook[];
  createRuntime?: SpecHook[];
  createContainer?: SpecHook[];
  startContainer?: SpecHook[];
  poststart?: SpecHook[];
  poststop?: SpecHook[];
}

/** config-linux.md "Namespaces". */
export type SpecNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface SpecNamespace {
  type: SpecNamespaceType;
  /** Join this namespace (e.g. /proc/PID/ns/net, or a bind-mounted netns) instead of creating one. */
  path?: string;
}

/** config-linux.md "User namespace mappings". */
export interface SpecIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** config-linux.md "Devices": nodes to create in the container's /dev. */
export interface SpecDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** config-linux.md "Device allowlist" (linux.resources.devices): applied in order, the last match wins. */
export interface SpecDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number | null;
  minor?: number | null;
  /** Some of "r", "w", "m". */
  access?: string;
}

export interface SpecMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface SpecCpu {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface SpecPids {
  limit: number;
}

export interface SpecBlockIoDevice {
  major: number;
  minor: number;
}

export interface SpecBlockIo {
  weight?: number;
  leafWeight?: number;
  weightDevice?: (SpecBlockIoDevice & { weight?: number; leafWeight?: number })[];
  throttleReadBpsDevice?: (SpecBlockIoDevice & { rate: number })[];
  throttleWriteBpsDevice?: (SpecBlockIoDevice & { rate: number })[];
  throttleReadIOPSDevice?: (SpecBlockIoDevice & { rate: number })[];
  throttleWriteIOPSDevice?: (SpecBlockIoDevice & { rate: number })[];
}

export interface SpecHugepageLimit {
  pageSize: string;
  limit: number;
}

export interface SpecNetworkResources {
  classID?: number;
  priorities?: { name: string; priority: number }[];
}

/** config-linux.md "Control groups": the resources a runtime writes into the container's cgroup. */
export interface SpecResources {
  devices?: SpecDeviceCgroup[];
  memory?: SpecMemory;
  cpu?: SpecCpu;
  pids?: SpecPids;
  blockIO?: SpecBlockIo;
  hugepageLimits?: SpecHugepageLimit[];
  network?: SpecNetworkResources;
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 files written as they are, e.g. {"memory.high": "50M"}. */
  unified?: Record<string, string>;
}

/** config-linux.md "Seccomp". */
export interface SpecSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

export interface SpecSeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SpecSeccompArg[];
}

export interface SpecSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SpecSeccompSyscall[];
}

export interface SpecPersonality {
  domain: 'LINUX' | 'LINUX32';
  flags?: string[];
}

export interface SpecIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

/** config-linux.md: the whole `linux` object. */
export interface SpecLinux {
  namespaces?: SpecNamespace[];
  uidMappings?: SpecIdMapping[];
  gidMappings?: SpecIdMapping[];
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
  devices?: SpecDevice[];
  /** Absolute: from the cgroup root of each hierarchy; relative: from a place the runtime chooses. */
  cgroupsPath?: string;
  resources?: SpecResources;
  rootfsPropagation?: 'private' | 'shared' | 'slave' | 'unbindable' | 'rprivate' | 'rshared' | 'rslave' | 'runbindable';
  seccomp?: SpecSeccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: SpecIntelRdt;
  personality?: SpecPersonality;
}

/** config.md: the whole config.json. */
export interface RuntimeSpec {
  ociVersion: string;
  root?: SpecRoot;
  mounts?: SpecMount[];
  process?: SpecProcess;
  hostname?: string;
  domainname?: string;
  hooks?: SpecHooks;
  annotations?: Record<string, string>;
  linux?: SpecLinux;
}

/** runtime.md "State": what `state` prints (runc adds rootfs, created and owner). */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped';

export interface ContainerState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** Absent (or 0) once the container has stopped. */
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
