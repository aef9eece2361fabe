// /_ping, /version, /info: what the CLI asks first. _ping's API-Version header
// is how docker's client negotiates: it then speaks min(its own, ours).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cpus, hostname, release, totalmem } from 'node:os';
import { Store } from '@hull/07-oci-pull';
import { containerIds, observedState } from '../store.js';
import { API_VERSION, MIN_API_VERSION, sendJson } from './api.js';

function hullVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function cgroupVersion(): string {
  try {
    readFileSync('/sys/fs/cgroup/cgroup.controllers');
    return '2';
  } catch {
    return '1';
  }
}

export function ping(req: IncomingMessage, res: ServerResponse): void {
  const headers = { 'API-Version': API_VERSION, OSType: 'linux', 'Docker-Experimental': 'false', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2' };
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : 'OK');
}

export function version(res: ServerResponse): void {
  const v = `hull-${hullVersion()}`;
  sendJson(res, 200, {
    Platform: { Name: 'hull' },
    Components: [{ Name: 'Engine', Version: v, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, Node: process.version } }],
    Version: v,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: '',
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    KernelVersion: release(),
    BuildTime: '',
  });
}

export function info(res: ServerResponse, root: string): void {
  let running = 0;
  let stopped = 0;
  const ids = containerIds(root);
  for (const id of ids) {
    try {
      if (observedState(id, root).status === 'running') running++;
      else stopped++;
    } catch {
      // removed while we counted
    }
  }
  sendJson(res, 200, {
    ID: '',
    Containers: ids.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: stopped,
    Images: Object.keys(new Store(root).images()).length,
    Driver: 'overlay',
    DockerRootDir: root,
    Name: hostname(),
    ServerVersion: `hull-${hullVersion()}`,
    OperatingSystem: 'Linux',
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    KernelVersion: release(),
    NCPU: cpus().length,
    MemTotal: totalmem(),
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    DefaultRuntime: 'hull',
    Runtimes: { hull: { path: 'hull' } },
    LiveRestoreEnabled: false,
    SecurityOptions: ['name=seccomp,profile=default'],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Log: ['json-file'] },
    RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
    Warnings: [],
  });
}
