// hull login -u USER --password-stdin HOST / hull logout HOST.
// Credentials are checked against the registry first (GET /v2/, answering
// its Basic or Bearer challenge with chapter 07's client), then stored where
// chapter 07 reads them and docker writes them: REGISTRY_AUTH_FILE, else
// $DOCKER_CONFIG/config.json (~/.docker/config.json), as {"auths": {HOST: {"auth": base64(user:password)}}}.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ContainerError, UsageError } from '@hull/01-uts';
import { writeFileAtomic } from '@hull/06-network';
import { authFiles, parseReference, RegistryClient } from '@hull/07-oci-pull';
import { type OptionSpecs, parseOptions, stringOption, boolOption } from '../args.js';
import { EXIT_ERROR } from '../names.js';

interface AuthFile {
  auths?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

function authFile(): string {
  return authFiles()[0]!;
}

function readAuthFile(path: string): AuthFile {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as AuthFile;
  } catch {
    throw new ContainerError(`${path}: not valid JSON; fix or remove it`, EXIT_ERROR);
  }
}

function writeAuthFile(path: string, content: AuthFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // 0600 from the temp file's first byte (writeFileAtomic): it holds a password.
  writeFileAtomic(path, `${JSON.stringify(content, null, 2)}\n`);
}

/** A registry host as a reference would name it: "127.0.0.1:5000", "docker.io". */
function registryOf(host: string): string {
  return parseReference(`${host}/probe/probe`).registry;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Ask on the terminal. The password is read in raw mode and never echoed;
 * Ctrl-C gives up (exit 130, like a shell), Backspace edits.
 */
function prompt(question: string, echo: boolean): Promise<string> {
  process.stdout.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stdout.write('\n');
          resolve(text);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stdout.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') {
          if (text.length > 0) {
            text = text.slice(0, -1);
            if (echo) process.stdout.write('\b \b');
          }
          continue;
        }
        text += ch;
        if (echo) process.stdout.write(ch);
      }
    };
    stdin.on('data', onData);
  });
}

const LOGIN: OptionSpecs = { username: { type: 'string', short: 'u' }, 'password-stdin': { type: 'boolean' } };

export async function login(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull login [-u USER] HOST (asks on the terminal)\n       echo PASSWORD | hull login -u USER --password-stdin HOST\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, LOGIN);
  if (positionals.length !== 1) throw new UsageError('"hull login" requires exactly 1 argument: HOST');
  // Never a password flag: it would sit in `ps` and the shell history. stdin, or a prompt on a terminal.
  let username = stringOption(values, 'username');
  let password: string;
  if (boolOption(values, 'password-stdin')) {
    if (!username) throw new UsageError('--password-stdin needs -u USER');
    password = await readStdin();
    if (!password) throw new UsageError('--password-stdin: stdin was empty');
  } else {
    if (!process.stdin.isTTY) throw new UsageError('no terminal to ask on: give -u USER and the password with --password-stdin');
    username ??= await prompt('Username: ', true);
    password = await prompt('Password: ', false);
    if (!username || !password) throw new UsageError('a username and a password are needed');
  }
  const registry = registryOf(positionals[0]!);
  const client = new RegistryClient({
    registry,
    credentials: { username, password },
    insecure: (process.env.HULL_INSECURE_REGISTRIES ?? '').split(',').filter(Boolean),
  });
  const res = await client.get('/v2/', '');
  await res.body?.cancel();
  if (!res.ok) throw new ContainerError(`login to ${registry}: the registry answered HTTP ${res.status}`, EXIT_ERROR);
  const path = authFile();
  const content = readAuthFile(path);
  content.auths = { ...content.auths, [registry]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } };
  writeAuthFile(path, content);
  process.stdout.write('Login Succeeded\n');
  return 0;
}

export async function logout(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull logout HOST\n');
    return 0;
  }
  const { positionals } = parseOptions(args, {});
  if (positionals.length !== 1) throw new UsageError('"hull logout" requires exactly 1 argument: HOST');
  const registry = registryOf(positionals[0]!);
  const path = authFile();
  const content = readAuthFile(path);
  if (!content.auths?.[registry]) {
    process.stdout.write(`Not logged in to ${registry}\n`);
    return 0;
  }
  delete content.auths[registry];
  writeAuthFile(path, content);
  process.stdout.write(`Removing login credentials for ${registry}\n`);
  return 0;
}
