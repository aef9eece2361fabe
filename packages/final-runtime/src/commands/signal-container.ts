// Signalling a container's PID 1 by its host pid, checked against its start
// time so a reused pid is never hit, and waiting for whoever started the
// container (the foreground CLI or the supervisor) to record its exit.
import { kill as sendSignal } from '@hull/sys';
import { type ContainerState, isRunning, isSettled } from '../store.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitSettled(id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!isSettled(id)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** Signal PID 1 if it is still the process we started. */
export function signalContainer(state: ContainerState, signal: string | number): void {
  if (!isRunning(state)) return;
  try {
    sendSignal(state.pid, signal);
  } catch {
    // exited meanwhile
  }
}
