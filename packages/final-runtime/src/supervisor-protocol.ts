// What `hull run -d` and the supervisor say to each other: one JSON line each way.
import { join } from 'node:path';

export interface StartRequest {
  op: 'start';
  id: string;
}

export type StartReply = { ok: true; pid: number } | { ok: false; message: string; exitCode: number };

export function socketPath(root: string): string {
  return join(root, 'supervisor.sock');
}

export function pidFile(root: string): string {
  return join(root, 'supervisor.pid');
}
