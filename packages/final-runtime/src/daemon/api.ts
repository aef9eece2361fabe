// The Engine API's conventions, shared by every endpoint: errors are
// {"message": ...} with docker's status codes (the CLI prints "Error response
// from daemon: <message>"), bodies are JSON read with a size bound, and the
// path may carry a version prefix (/v1.41/containers/json).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContainerError } from '@hull/01-uts';

/** docker CLI 20.10 (Debian's docker.io) speaks 1.41 and negotiates down to what _ping says. */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

/** A request the daemon refuses; `status` is the HTTP status docker uses for it. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const badParameter = (message: string) => new ApiError(400, message);
export const notFound = (message: string) => new ApiError(404, message);
export const conflict = (message: string) => new ApiError(409, message);

/** A create/config body is a few KB; anything past this is not one (and must not fill our memory). */
const MAX_BODY = 1 << 20;

export async function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ApiError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A JSON object body (empty counts as {}), or a 400 naming what is wrong with it. */
export function parseJsonObject(body: Buffer, what: string): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badParameter(`${what}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badParameter(`${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Api-Version': API_VERSION });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Api-Version': API_VERSION });
  res.end();
}

/**
 * What a thrown error becomes on the wire. hull's own errors keep their
 * message; docker's codes follow from what the error says (a missing
 * container or image is 404, a name in use 409, a bad value 400).
 */
export function errorStatus(err: unknown): [number, string] {
  if (err instanceof ApiError) return [err.status, err.message];
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ContainerError || (err instanceof Error && err.name === 'UsageError')) {
    if (/^no such (container|image)/i.test(message)) return [404, message];
    if (/already in use|is running|is not running|already started|uses it/.test(message)) return [409, message];
    if (err.name === 'UsageError' || /^invalid |: invalid |needs |must be |: use /.test(message)) return [400, message];
    // 126/127: docker's CLI turns "not found"/"permission denied" in a start error into those exit codes.
    if (err instanceof ContainerError && (err.exitCode === 126 || err.exitCode === 127)) return [400, message];
  }
  return [500, message];
}

export function sendError(res: ServerResponse, err: unknown): void {
  const [status, message] = errorStatus(err);
  if (res.headersSent) {
    // A streamed reply (pull progress, logs) already said 200: end it, the stream carries the error.
    res.end();
    return;
  }
  // hull's own exit code, for `hull run -d` (supervisor-client.ts); docker's clients ignore it.
  if (err instanceof ContainerError) res.setHeader('X-Hull-Exit-Code', String(err.exitCode));
  sendJson(res, status, { message });
}

/** Query flags as docker's clients send them: 1/true/True are true. */
export function queryBool(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v !== null && ['1', 'true', 'True', 'TRUE'].includes(v);
}

export function queryInt(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badParameter(`${name}: invalid integer ${JSON.stringify(v)}`);
  return Number(v);
}

/** /v1.41/x -> ["1.41", "/x"]; an unversioned path has no version. */
export function splitVersion(pathname: string): [string | undefined, string] {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(pathname);
  return m ? [m[1], m[2]!] : [undefined, pathname];
}
