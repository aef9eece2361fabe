// Chapter 01's part of the OCI runtime spec (config.json): `hostname`, and a
// uts entry in `linux.namespaces`. Every step builds its spec by calling the
// previous chapter's builder and adding its own part, so `--print-spec` shows
// config.json growing chapter by chapter (docs/0N-*.md, "The config.json
// this chapter adds").
import { OCI_VERSION, type RuntimeSpec, type SpecNamespaceType } from '@hull/sys';
import { hostnameFlag } from './hostname.js';
import { type OptionSpecs, type OptionValues, stringOption } from './options.js';
import { hostEnv, type UtsOptions } from './run.js';

/** Chapter 01's flags; every later step has them too. */
export const UTS_FLAGS: OptionSpecs = {
  hostname: { type: 'string', value: 'NAME', help: "The container's hostname (default: 12 random hex digits)" },
};

/** Chapter 01's flags and CMD -> its spec. */
export function utsSpecFromFlags(values: OptionValues, command: string[]): RuntimeSpec {
  return utsSpec({ hostname: hostnameFlag(stringOption(values, 'hostname')), args: command });
}

export interface UtsSpecInput {
  hostname: string;
  /** CMD [ARGS...]: process.args. */
  args: string[];
}

/**
 * Chapters 01 and 02 have no rootfs: the command runs on the host's files,
 * in our directory, as us, with our environment. The spec says exactly that.
 */
export function utsSpec(input: UtsSpecInput): RuntimeSpec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: process.getuid!(), gid: process.getgid!() },
      args: [...input.args],
      env: hostEnv(),
      cwd: process.cwd(),
    },
    hostname: input.hostname,
    linux: { namespaces: [{ type: 'uts' }] },
  };
}

/** A copy of `spec` with these namespaces added (new ones, created by the clone), each once. */
export function withNamespaces(spec: RuntimeSpec, types: readonly SpecNamespaceType[]): RuntimeSpec {
  const namespaces = [...(spec.linux?.namespaces ?? [])];
  for (const type of types) if (!namespaces.some((n) => n.type === type)) namespaces.push({ type });
  return { ...spec, linux: { ...spec.linux, namespaces } };
}

export function hasNamespace(spec: RuntimeSpec, type: SpecNamespaceType): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === type);
}

/** What runInUts needs, read from the spec. */
export function utsOptions(spec: RuntimeSpec): UtsOptions {
  return { hostname: spec.hostname ?? '', argv: [...(spec.process?.args ?? [])], env: [...(spec.process?.env ?? [])] };
}

/** config.md's order of the top-level fields, the order runc spec writes them in. */
const FIELD_ORDER = ['ociVersion', 'root', 'mounts', 'process', 'hostname', 'domainname', 'hooks', 'annotations', 'linux'];

/** config.json as a runtime reads it: pretty JSON, fields in config.md's order. */
export function formatSpec(spec: RuntimeSpec): string {
  const rank = (k: string) => (FIELD_ORDER.includes(k) ? FIELD_ORDER.indexOf(k) : FIELD_ORDER.length);
  const ordered = Object.fromEntries(Object.entries(spec).sort(([a], [b]) => rank(a) - rank(b)));
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

export function printSpec(spec: RuntimeSpec): void {
  process.stdout.write(formatSpec(spec));
}
