// From `hull run` flags and the image config to one ContainerConfig, with
// docker's override rules:
//   argv = Entrypoint ++ Cmd; CMD words after the image replace Cmd;
//   --entrypoint replaces Entrypoint AND drops the image's Cmd;
//   Env = image Env, then --env-file, then -e, later keys win;
//   -w replaces WorkingDir (default "/"), -u replaces User (default root).
import { readFileSync } from 'node:fs';
import { ContainerError } from '@hull/01-uts';
import { hostnameProblem } from '@hull/01-uts';
import { DEFAULT_PATH } from '@hull/03-chroot-proc';

/** The parts of an OCI image config (`config` object) that decide how the container runs. */
export interface ImageRunConfig {
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface RunFlags {
  entrypoint?: string;
  command: string[];
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty: boolean;
}

export function commandOf(image: ImageRunConfig, flags: RunFlags): string[] {
  const entrypoint = flags.entrypoint !== undefined ? (flags.entrypoint === '' ? [] : [flags.entrypoint]) : (image.Entrypoint ?? []);
  const cmd = flags.command.length > 0 ? flags.command : flags.entrypoint !== undefined ? [] : (image.Cmd ?? []);
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new ContainerError('no command specified: the image has no Entrypoint or Cmd, give one after the image');
  return argv;
}

/** KEY=VALUE as given; a bare KEY takes the host's value, or is dropped when the host has none (docker's rule). */
function envEntry(entry: string, where: string): string | undefined {
  const eq = entry.indexOf('=');
  const key = eq >= 0 ? entry.slice(0, eq) : entry;
  if (key === '' || /\s/.test(key)) throw new ContainerError(`invalid environment variable "${entry}" in ${where}`);
  if (eq >= 0) return entry;
  const host = process.env[key];
  return host === undefined ? undefined : `${key}=${host}`;
}

/** docker's env-file: one KEY=VALUE or KEY per line, '#' comments, blank lines; no quoting, no expansion. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ContainerError(`--env-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').replace(/^\s+/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Merge by key, later wins, order of first appearance kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) for (const e of list) map.set(e.split('=', 1)[0]!, e);
  return [...map.values()];
}

/** `-e` values as docker reads them (a bare KEY takes the host's value), for `run` and `exec`. */
export function flagEnv(entries: string[]): string[] {
  return entries.flatMap((e) => envEntry(e, '-e') ?? []);
}

export function environmentOf(image: ImageRunConfig, flags: RunFlags, hostname: string): string[] {
  const fromFiles = flags.envFiles.flatMap((f) => readEnvFile(f).flatMap((e) => envEntry(e, f) ?? []));
  const fromFlags = flagEnv(flags.env);
  const defaults = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, ...(flags.tty ? ['TERM=xterm'] : [])];
  // The image's PATH beats our default; the user's beats both.
  return mergeEnv(defaults, image.Env ?? [], fromFiles, fromFlags);
}

export function workdirOf(image: ImageRunConfig, flags: RunFlags): string {
  const dir = flags.workdir ?? (image.WorkingDir || '/');
  if (!dir.startsWith('/')) throw new ContainerError(`the working directory '${dir}' is invalid, it needs to be an absolute path`);
  return dir;
}

export function hostnameOf(flags: RunFlags, id: string): string {
  const hostname = flags.hostname ?? id.slice(0, 12);
  const problem = hostnameProblem(hostname);
  if (problem) throw new ContainerError(`invalid hostname "${hostname}": ${problem}`);
  return hostname;
}
