// The image config -> runtime config conversion, as the image spec's
// conversion.md defines it ("Conversion to OCI Runtime Configuration"):
//
//   Config.WorkingDir          -> process.cwd                 verbatim
//   Config.Env                 -> process.env                 verbatim; we may add names it lacks, never change its own
//   Config.Entrypoint + Cmd    -> process.args                Cmd appended to Entrypoint
//   Config.User                -> process.user                numbers verbatim, names from the rootfs's /etc/passwd and
//                                                             /etc/group; additionalGids only for a user given by name alone
//   os, architecture, variant, os.version, os.features, author, created, Config.StopSignal
//                              -> annotations org.opencontainers.image.*
//   Config.ExposedPorts        -> annotation org.opencontainers.image.exposedPorts (keys, comma-separated)
//   Config.Labels              -> annotations, and they win over every implicit one
//   Config.Volumes             -> mounts, when the caller says how to provide one (implementation-defined)
//
// The image is hostile input: every field is checked for its type here,
// since parseConfig only checks what pulling needs (the diff_ids).
import { ContainerError } from '@hull/01-uts';
import { DEFAULT_PATH } from '@hull/03-chroot-proc';
import type { SpecMount, SpecProcess } from '@hull/sys';
import type { ImageConfig } from './manifest.js';
import { resolveUser } from './user.js';

export interface ConversionOptions {
  /** The extracted root filesystem: a user or group given by name is looked up in it. */
  rootfs: string;
  /** How to provide a Config.Volumes path (a tmpfs, a named volume...); without it, Volumes make no mounts. */
  volumeMount?: (destination: string) => SpecMount;
}

export interface ImageRuntimeConfig {
  /** user, args, env, cwd; the rest of a process (terminal, capabilities...) is the runtime config's own. */
  process: SpecProcess;
  annotations: Record<string, string>;
  mounts: SpecMount[];
  /** Config.Volumes, in the image's order, made into mounts or not. */
  volumes: string[];
  /** Labels left out, one line each (conversion.md: say so when an annotation is not converted). */
  warnings: string[];
}

const ANNOTATION = 'org.opencontainers.image';

/**
 * Label prefixes a runtime acts on: runc turns org.systemd.property.* into
 * systemd unit properties (with --systemd-cgroup), crun reads run.oci.*
 * (keep_original_groups, seccomp's fail-unknown-syscall, ...), and hull's
 * chapter 06 reads its network settings from org.hull.network.*. An image
 * must not set those for the host: conversion.md lets a converter leave out
 * annotations its security policy finds unsafe, and say so.
 */
export const UNSAFE_LABEL_PREFIXES = ['org.systemd.property.', 'run.oci.', 'org.hull.'] as const;

const bad = (field: string, why: string): never => {
  throw new ContainerError(`image config: ${field}: ${why}`);
};

function stringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return bad(field, 'must be a list of strings');
  return [...v];
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((s) => typeof s === 'string')) return bad(field, 'must be an object of strings');
  return { ...(v as Record<string, string>) };
}

function keysOf(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) return bad(field, 'must be an object');
  return Object.keys(v);
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return bad(field, 'must be a string');
  return v;
}

/** Config.User per conversion.md "Config.User" (resolution reuses resolveUser, which reads the rootfs as the container sees it). */
export function processUser(user: string | undefined, rootfs: string): SpecProcess['user'] {
  // Not defined: implementation-defined; root, as docker and runc.
  if (!user) return { uid: 0, gid: 0 };
  const [name, group] = user.split(':', 2) as [string, string | undefined];
  const resolved = resolveUser(rootfs, user);
  // additionalGids only for a user named without a group: a number or an explicit group leaves them alone.
  const byNameOnly = !/^\d+$/.test(name) && group === undefined;
  return { uid: resolved.uid, gid: resolved.gid, ...(byNameOnly ? { additionalGids: resolved.groups } : {}) };
}

export function runtimeConfigFromImage(image: ImageConfig, opts: ConversionOptions): ImageRuntimeConfig {
  const c = (image.config ?? {}) as Record<string, unknown>;
  if (typeof c !== 'object' || Array.isArray(c)) bad('config', 'must be an object');

  const cwd = optionalString(c.WorkingDir, 'Config.WorkingDir') || '/';
  // A runtime requires an absolute cwd (config.md "process.cwd").
  if (!cwd.startsWith('/')) bad('Config.WorkingDir', `${JSON.stringify(cwd)} is not an absolute path`);
  const args = [...stringList(c.Entrypoint, 'Config.Entrypoint'), ...stringList(c.Cmd, 'Config.Cmd')];
  if (args.length === 0) bad('Config.Entrypoint/Cmd', 'the image names no command');
  const env = stringList(c.Env, 'Config.Env');
  // An addition, not a change: PATH only when the image has none (conversion.md, Verbatim Fields note 1).
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);

  const implicit: Record<string, string | undefined> = {
    [`${ANNOTATION}.os`]: optionalString(image.os, 'os'),
    [`${ANNOTATION}.architecture`]: optionalString(image.architecture, 'architecture'),
    [`${ANNOTATION}.variant`]: optionalString(image.variant, 'variant'),
    [`${ANNOTATION}.os.version`]: optionalString(image['os.version'], 'os.version'),
    [`${ANNOTATION}.os.features`]: image['os.features'] === undefined ? undefined : stringList(image['os.features'], 'os.features').join(','),
    [`${ANNOTATION}.author`]: optionalString(image.author, 'author'),
    [`${ANNOTATION}.created`]: optionalString(image.created, 'created'),
    [`${ANNOTATION}.stopSignal`]: optionalString(c.StopSignal, 'Config.StopSignal'),
  };
  const ports = keysOf(c.ExposedPorts, 'Config.ExposedPorts');
  if (ports.length) implicit[`${ANNOTATION}.exposedPorts`] = ports.join(',');

  const warnings: string[] = [];
  const labels = stringMap(c.Labels, 'Config.Labels');
  for (const key of Object.keys(labels)) {
    const prefix = UNSAFE_LABEL_PREFIXES.find((p) => key.startsWith(p));
    if (prefix) {
      warnings.push(`image label ${key} not converted to an annotation: runtimes act on ${prefix}* annotations`);
      delete labels[key];
    }
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(implicit)) if (v !== undefined && v !== '') annotations[k] = v;
  // Labels take precedence over every implicit annotation (conversion.md, Annotations).
  Object.assign(annotations, labels);

  const volumes = keysOf(c.Volumes, 'Config.Volumes');
  for (const v of volumes) if (!v.startsWith('/')) bad('Config.Volumes', `${JSON.stringify(v)} is not an absolute path`);
  const mounts = opts.volumeMount ? volumes.map((v) => ({ ...opts.volumeMount!(v), destination: v })) : [];

  return {
    process: { user: processUser(optionalString(c.User, 'Config.User'), opts.rootfs), args, env, cwd },
    annotations,
    mounts,
    volumes,
    warnings,
  };
}
