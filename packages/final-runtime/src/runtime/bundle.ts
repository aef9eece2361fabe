// A bundle is hostile input: a directory with config.json and a root
// filesystem (runtime.md "Bundle"). Everything the runtime acts on is checked
// here, before anything is created, so a bad config.json costs one line and
// leaves nothing behind. Unknown properties are ignored, as the spec says.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { RuntimeSpec, SpecNamespaceType } from '@hull/sys';
import { RuntimeError } from './state.js';

/** A config.json is a few KiB; 4 MiB bounds what a hostile one can make us parse. */
const MAX_CONFIG_BYTES = 4 << 20;

const NAMESPACE_TYPES: readonly SpecNamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

export interface Bundle {
  /** Absolute path of the bundle directory. */
  dir: string;
  spec: RuntimeSpec;
  /** The raw config.json, kept so `delete` can run poststop hooks after the bundle is gone. */
  text: string;
  /** Absolute path of the root filesystem on the host. */
  rootfs: string;
}

function fail(what: string): never {
  throw new RuntimeError(`config.json: ${what}`);
}

function readBounded(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RuntimeError(code === 'ENOENT' ? `JSON specification file config.json not found (in ${path.slice(0, -'/config.json'.length)})` : `open ${path}: ${code}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RuntimeError(`${path}: not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw new RuntimeError(`${path}: ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a config.json may have`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function checkStrings(where: string, v: unknown): void {
  if (v !== undefined && !isStringArray(v)) fail(`${where} must be an array of strings`);
}

/** Parse and check a config.json's text; `bundleDir` resolves a relative root.path. */
export function parseSpec(text: string, bundleDir: string): { spec: RuntimeSpec; rootfs: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(`not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) fail('must be a JSON object');
  const spec = json as unknown as RuntimeSpec;
  if (typeof spec.ociVersion !== 'string' || !/^1\.\d+\.\d+/.test(spec.ociVersion)) fail(`ociVersion ${JSON.stringify(spec.ociVersion)}: hull-runtime implements runtime-spec 1.x`);
  if (!isObject(spec.root) || typeof spec.root.path !== 'string' || spec.root.path === '') fail('root.path is required');
  if (spec.hostname !== undefined && (typeof spec.hostname !== 'string' || spec.hostname.length > 64)) fail('hostname must be a string of at most 64 bytes');
  if (spec.domainname !== undefined && (typeof spec.domainname !== 'string' || spec.domainname.length > 64)) fail('domainname must be a string of at most 64 bytes');
  checkProcess(spec);
  checkMounts(spec);
  checkLinux(spec);
  checkHooks(spec);
  if (spec.annotations !== undefined && (!isObject(spec.annotations) || !Object.values(spec.annotations).every((v) => typeof v === 'string'))) fail('annotations must map strings to strings');
  const rootfs = isAbsolute(spec.root.path) ? spec.root.path : resolve(bundleDir, spec.root.path);
  return { spec, rootfs };
}

function checkProcess(spec: RuntimeSpec): void {
  const p = spec.process;
  if (p === undefined) return; // `create` needs one; checked there (a bundle for `spec` or `state` need not)
  if (!isObject(p)) fail('process must be an object');
  if (!isStringArray(p.args) || p.args.length === 0) fail('process.args must be a non-empty array of strings');
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) fail(`process.cwd ${JSON.stringify(p.cwd)} must be an absolute path`);
  if (!isObject(p.user) || !isUint32(p.user.uid) || !isUint32(p.user.gid)) fail('process.user needs numeric uid and gid');
  if (p.user.additionalGids !== undefined && !(Array.isArray(p.user.additionalGids) && p.user.additionalGids.every(isUint32) && p.user.additionalGids.length <= 65536)) fail('process.user.additionalGids must be gids');
  if (p.user.umask !== undefined && !(isUint32(p.user.umask) && p.user.umask <= 0o777)) fail('process.user.umask must be at most 0777');
  checkStrings('process.env', p.env);
  if (p.env?.some((e) => !e.includes('='))) fail('process.env entries must be KEY=VALUE');
  if (p.terminal !== undefined && typeof p.terminal !== 'boolean') fail('process.terminal must be a boolean');
  if (p.noNewPrivileges !== undefined && typeof p.noNewPrivileges !== 'boolean') fail('process.noNewPrivileges must be a boolean');
  if (p.consoleSize !== undefined && !(isObject(p.consoleSize) && isUint32(p.consoleSize.height) && isUint32(p.consoleSize.width))) fail('process.consoleSize needs height and width');
  if (p.capabilities !== undefined) {
    if (!isObject(p.capabilities)) fail('process.capabilities must be an object');
    for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) checkStrings(`process.capabilities.${set}`, p.capabilities[set]);
  }
  if (p.rlimits !== undefined) {
    if (!Array.isArray(p.rlimits)) fail('process.rlimits must be an array');
    for (const r of p.rlimits) if (!isObject(r) || typeof r.type !== 'string' || !Number.isSafeInteger(r.hard) || !Number.isSafeInteger(r.soft)) fail('process.rlimits entries need type, soft and hard');
  }
  if (p.oomScoreAdj !== undefined && !(Number.isInteger(p.oomScoreAdj) && p.oomScoreAdj >= -1000 && p.oomScoreAdj <= 1000)) fail('process.oomScoreAdj must be between -1000 and 1000');
}

function checkMounts(spec: RuntimeSpec): void {
  if (spec.mounts === undefined) return;
  if (!Array.isArray(spec.mounts)) fail('mounts must be an array');
  for (const [i, m] of spec.mounts.entries()) {
    if (!isObject(m) || typeof m.destination !== 'string' || m.destination === '') fail(`mounts[${i}] needs a destination`);
    // runc accepts a relative destination as relative to "/", with a warning; so do we.
    if (m.source !== undefined && typeof m.source !== 'string') fail(`mounts[${i}].source must be a string`);
    if (m.type !== undefined && typeof m.type !== 'string') fail(`mounts[${i}].type must be a string`);
    checkStrings(`mounts[${i}].options`, m.options);
    if (m.uidMappings !== undefined || m.gidMappings !== undefined) fail(`mounts[${i}]: idmapped mounts (uidMappings/gidMappings) are not supported by hull-runtime yet`);
  }
}

function checkLinux(spec: RuntimeSpec): void {
  const l = spec.linux;
  if (l === undefined) return;
  if (!isObject(l)) fail('linux must be an object');
  if (l.namespaces !== undefined) {
    if (!Array.isArray(l.namespaces)) fail('linux.namespaces must be an array');
    const seen = new Set<string>();
    for (const entry of l.namespaces as unknown[]) {
      if (!isObject(entry) || !NAMESPACE_TYPES.includes(entry.type as SpecNamespaceType)) fail(`linux.namespaces: unknown type ${JSON.stringify(isObject(entry) ? entry.type : entry)}`);
      const ns = entry as { type: SpecNamespaceType; path?: unknown };
      if (seen.has(ns.type)) fail(`linux.namespaces: duplicate ${ns.type} namespace`);
      seen.add(ns.type);
      if (ns.path !== undefined && (typeof ns.path !== 'string' || !ns.path.startsWith('/'))) fail(`linux.namespaces: the ${ns.type} namespace path must be absolute`);
    }
  }
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    const maps = l[key];
    if (maps === undefined) continue;
    if (!Array.isArray(maps) || !maps.every((m) => isObject(m) && isUint32(m.containerID) && isUint32(m.hostID) && isUint32(m.size))) fail(`linux.${key} entries need containerID, hostID and size`);
  }
  if (l.cgroupsPath !== undefined && typeof l.cgroupsPath !== 'string') fail('linux.cgroupsPath must be a string');
  if (l.sysctl !== undefined && (!isObject(l.sysctl) || !Object.values(l.sysctl).every((v) => typeof v === 'string'))) fail('linux.sysctl must map names to strings');
  checkStrings('linux.maskedPaths', l.maskedPaths);
  checkStrings('linux.readonlyPaths', l.readonlyPaths);
  if (l.devices !== undefined) {
    if (!Array.isArray(l.devices)) fail('linux.devices must be an array');
    for (const entry of l.devices as unknown[]) {
      if (!isObject(entry) || typeof entry.path !== 'string' || !entry.path.startsWith('/dev/') || !['c', 'b', 'u', 'p'].includes(entry.type as string)) fail('linux.devices entries need a type (c, b, u, p) and a path under /dev');
      const d = entry as { path: string; type: string; major?: unknown; minor?: unknown };
      if (d.type !== 'p' && !(isUint32(d.major) && isUint32(d.minor))) fail(`linux.devices ${d.path}: needs major and minor`);
    }
  }
  if (l.rootfsPropagation !== undefined && !['private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable'].includes(l.rootfsPropagation as string)) {
    fail(`linux.rootfsPropagation ${JSON.stringify(l.rootfsPropagation)} is not a propagation type`);
  }
}

function checkHooks(spec: RuntimeSpec): void {
  const h = spec.hooks;
  if (h === undefined) return;
  if (!isObject(h)) fail('hooks must be an object');
  for (const [kind, hooks] of Object.entries(h)) {
    if (!Array.isArray(hooks)) fail(`hooks.${kind} must be an array`);
    for (const hook of hooks as unknown[]) {
      if (!isObject(hook) || typeof hook.path !== 'string' || !hook.path.startsWith('/')) fail(`hooks.${kind}: each hook needs an absolute path`);
      checkStrings(`hooks.${kind}[].args`, hook.args);
      checkStrings(`hooks.${kind}[].env`, hook.env);
      if (hook.timeout !== undefined && !(Number.isInteger(hook.timeout) && (hook.timeout as number) > 0)) fail(`hooks.${kind}: timeout must be a positive integer`);
    }
  }
}

/** Read a bundle: its config.json and its root filesystem, which must be a directory. */
export function loadBundle(dir: string): Bundle {
  const abs = resolve(dir);
  const text = readBounded(`${abs}/config.json`);
  const { spec, rootfs } = parseSpec(text, abs);
  let isDir = false;
  try {
    isDir = statSync(rootfs).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new RuntimeError(`rootfs (${rootfs}) does not exist or is not a directory`);
  return { dir: abs, spec, text, rootfs };
}
