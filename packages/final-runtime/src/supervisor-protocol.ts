// What `hull run -d` and the supervisor say to each other: one JSON line each way.
// The supervisor runs as root and starts what a request names, so a request
// is parsed as hostile input: any other shape is refused, never acted on.
import { join } from 'node:path';
import { isContainerId } from './store.js';

export interface StartRequest {
  op: 'start';
  id: string;
}

export type StartReply = { ok: true; pid: number } | { ok: false; message: string; exitCode: number };

/** The request on one line, or why it is not one (invalid JSON, unknown op, an id that is not 64 hex digits). */
export function parseRequest(line: string): StartRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const op: unknown = Reflect.get(value, 'op');
  const id: unknown = Reflect.get(value, 'id');
  if (op !== 'start') return `unknown op ${JSON.stringify(op) ?? 'undefined'}`;
  if (typeof id !== 'string' || !isContainerId(id)) return `invalid container id ${JSON.stringify(id) ?? 'undefined'}: not 64 hex digits`;
  return { op, id };
}

export function socketPath(root: string): string {
  return join(root, 'supervisor.sock');
}

export function pidFile(root: string): string {
  return join(root, 'supervisor.pid');
}

/**
 * Where a running `hull daemon` says it serves this root: {"pid":N,"socket":PATH}.
 * `hull run -d` then asks the daemon to start the container, so one process
 * monitors every detached container (the daemon), not two.
 */
export function daemonFile(root: string): string {
  return join(root, 'daemon.json');
}

export interface DaemonRecord {
  pid: number;
  socket: string;
}
