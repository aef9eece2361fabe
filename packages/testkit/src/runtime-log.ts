// The runtime as a real client sees it: a wrapper named like the runtime
// (podman keys some features on the basename, e.g. "runc" supports JSON
// errors) that records every argv the client passes, then execs the real
// binary. The transcript is what docs/oci-runtime.md shows and what
// `hull-runtime` must accept.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { shellQuote } from './process.js';

/** One call of the runtime: who called it (the parent's comm, e.g. "conmon") and its argv without argv[0]. */
export interface RuntimeCall {
  caller: string;
  args: string[];
}

export interface RuntimeLog {
  /** The wrapper to give the client as its runtime, e.g. DIR/bin/runc. */
  wrapper: string;
  /** The real runtime it execs. */
  runtime: string;
  /** The state directory it uses when the client passes no --root. */
  stateRoot: string;
  calls(): RuntimeCall[];
}

/**
 * Write the wrapper into `dir`/bin. The log is NUL-separated records (count,
 * caller, args...), written under flock(1): podman and the shim may call the
 * runtime concurrently, and a record must never interleave with another.
 *
 * When the caller passes no `--root`, the wrapper adds `--root stateRoot`:
 * podman 4.3 drops `--runtime-flag` from conmon's exit command, so its
 * `container cleanup` would run `delete --force` against the host's default
 * root (/run/runc), never ours.
 */
export function writeRuntimeWrapper(dir: string, runtime: string, stateRoot: string): RuntimeLog {
  if (!existsSync(runtime)) throw new Error(`runtime wrapper: ${runtime}: no such file`);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(stateRoot, { recursive: true });
  const wrapper = join(bin, basename(runtime));
  const log = join(dir, 'runtime-argv.log');
  writeFileSync(log, '');
  const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    wrapper,
    [
      '#!/bin/bash',
      '# Written by @hull/testkit (runtime-log.ts): log argv, then exec the runtime.',
      `exec 9>>${q(log)}`,
      'flock 9',
      `printf '%s\\0' "$#" "$(cat /proc/$PPID/comm 2>/dev/null)" "$@" >&9`,
      'exec 9>&-',
      'for a in "$@"; do',
      '  case $a in --root|--root=*) exec ' + q(runtime) + ' "$@" ;; esac',
      'done',
      `exec ${q(runtime)} --root ${q(stateRoot)} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  return { wrapper, runtime, stateRoot, calls: () => parseRuntimeLog(readFileSync(log, 'utf8')) };
}

export function parseRuntimeLog(text: string): RuntimeCall[] {
  const fields = text.split('\0');
  const calls: RuntimeCall[] = [];
  let i = 0;
  while (i + 1 < fields.length) {
    const n = Number(fields[i]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`runtime log: bad record at field ${i}: ${JSON.stringify(fields[i])}`);
    calls.push({ caller: fields[i + 1]!, args: fields.slice(i + 2, i + 2 + n) });
    i += 2 + n;
  }
  return calls;
}

/** A call as a shell line, `caller: runc ARGS`, with `replace` pairs (long ids, our temp paths) turned into short names for reading. */
export function formatRuntimeCall(call: RuntimeCall, replace: Array<[string, string]> = []): string {
  const word = (s: string): string => {
    let out = shellQuote(s);
    for (const [from, to] of replace) out = out.split(from).join(to);
    return out;
  };
  return `${call.caller}: runtime ${call.args.map(word).join(' ')}`;
}

/** The subcommand of a call: the first argument that is not a global flag or its value. */
export function runtimeSubcommand(args: readonly string[]): string | undefined {
  const withValue = new Set(['--root', '--log', '--log-format', '--criu']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (withValue.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}
