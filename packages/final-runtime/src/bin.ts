#!/usr/bin/env node
// hull: the CLI. This file stays tiny on purpose: `hull ps` must not pay for
// loading the registry client, and `hull version` for any of it, so each
// command's module is imported only when that command runs.
import { readFileSync } from 'node:fs';
// The one UsageError, from a module that imports nothing (no koffi for `hull version`).
import { UsageError } from '@hull/01-uts/usage-error';
import { trace } from './trace.js';

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, [summary: string, load: () => Promise<Command>]> = {
  run: ['Create and run a container from an image', async () => (await import('./commands/run.js')).run],
  ps: ['List containers', async () => (await import('./commands/ps.js')).ps],
  logs: ['Fetch the logs of a container', async () => (await import('./commands/logs.js')).logs],
  stop: ['Stop running containers (SIGTERM, then SIGKILL)', async () => (await import('./commands/stop.js')).stop],
  kill: ['Send a signal to running containers', async () => (await import('./commands/kill.js')).kill],
  exec: ['Run a command in a running container', async () => (await import('./commands/exec.js')).exec],
  rm: ['Remove containers', async () => (await import('./commands/rm.js')).rm],
  stats: ['Show CPU, memory and pids of running containers (--no-stream)', async () => (await import('./commands/stats.js')).stats],
  prune: ['Remove all stopped containers', async () => (await import('./commands/prune.js')).prune],
  inspect: ['Show low-level information on a container or an image (JSON)', async () => (await import('./commands/inspect.js')).inspect],
  pull: ['Download an image from a registry', async () => (await import('./commands/images.js')).pullCommand],
  login: ['Log in to a registry (-u USER --password-stdin)', async () => (await import('./commands/login.js')).login],
  logout: ['Log out from a registry', async () => (await import('./commands/login.js')).logout],
  load: ['Load an image from a docker-archive or oci-archive tarball (-i FILE)', async () => (await import('./commands/load.js')).load],
  images: ['List images', async () => (await import('./commands/images.js')).images],
  rmi: ['Remove images', async () => (await import('./commands/images.js')).rmi],
  // docker parity (issue 19): files and processes, volumes and the system.
  cp: ['Copy files/folders between a container and the local filesystem', async () => (await import('./commands/cp.js')).cp],
  top: ['Display the running processes of a container', async () => (await import('./commands/top.js')).top],
  port: ['List port mappings or a specific mapping for the container', async () => (await import('./commands/port.js')).port],
  rename: ['Rename a container', async () => (await import('./commands/rename.js')).rename],
  diff: ["Inspect changes to files or directories on a container's filesystem", async () => (await import('./commands/diff.js')).diff],
  export: ["Export a container's filesystem as a tar archive", async () => (await import('./commands/export.js')).exportCommand],
  volume: ['Manage volumes (create, ls, rm, inspect, prune)', async () => (await import('./commands/volume.js')).volume],
  system: ['Show disk usage (df) and remove unused data (prune)', async () => (await import('./commands/system.js')).system],
  daemon: ['Serve the Docker Engine API on a unix socket (-H unix:///PATH)', async () => (await import('./commands/daemon.js')).daemon],
  doctor: ['Check what this machine offers hull, with a fix for what is missing', async () => (await import('./commands/doctor.js')).doctor],
  version: ['Show the hull version', async () => version],
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, [summary]]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: hull COMMAND [OPTIONS]\n\nA container runtime in TypeScript.\n\nCommands:\n${lines.join('\n')}\n\nRun 'hull COMMAND --help' for more on a command. HULL_ROOT moves the store (default /var/lib/hull).\n`;
}

async function version(args: string[]): Promise<number> {
  if (args.length) throw new UsageError(`"hull version" accepts no arguments`);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`hull version ${pkg.version} (node ${process.version}, ${process.platform}/${process.arch})\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') return version([]);
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`unknown command "${name}" (see hull --help)`);
  const command = await entry[1]();
  try {
    return await command(args);
  } catch (err) {
    if (err instanceof UsageError) err.message = `${name}: ${err.message} (see hull ${name} --help)`;
    throw err;
  }
}

/**
 * Every failure is one line `hull: <what>: <why>` and docker's exit code:
 * 125 for hull itself and bad usage, 126/127 when the command cannot run,
 * 1 for a lifecycle command that failed. A stack only with HULL_DEBUG=1.
 */
function fail(err: unknown): number {
  if (process.env.HULL_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  const message = err instanceof Error ? err.message : String(err);
  const e = err as { name?: string; exitCode?: unknown; code?: unknown };
  let hint = '';
  if (e.name === 'SyscallError' && e.code === 'EPERM' && process.getuid?.() !== 0) hint = ' (are you root? try sudo)';
  process.stderr.write(`hull: ${message.replace(/^hull: /, '').split('\n')[0]}${hint}\n`);
  if (err instanceof UsageError) return 125;
  return typeof e.exitCode === 'number' ? e.exitCode : 125;
}

trace('node-ready');
// A promise chain, not a top-level await: the same file then bundles as
// CommonJS too (docs/performance.md, "a V8 code cache on Node 20").
void main(process.argv.slice(2))
  .catch(fail)
  .then((code) => {
    // Let stdout drain (a pipe may be slow), then go: pending handles such as a
    // finished container's pidfd poll must not keep us alive.
    process.exitCode = code;
    trace('exit');
    process.stdout.write('', () => process.exit(code));
  });
