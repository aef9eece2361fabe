// The lifecycle commands, one file each (as youki's commands/ does): ps, logs,
// stop, kill, rm, inspect, prune. They read the store and signal PID 1 by its
// host pid (checked against its start time, so a reused pid is never hit).
// Whoever started the container (the foreground CLI or the supervisor)
// records the exit; these commands wait for that. bin.ts loads each command's
// own file; this index keeps the names importable from one place.
export { inspect, inspectContainer } from './inspect.js';
export { kill } from './kill.js';
export { logs } from './logs.js';
export { prune } from './prune.js';
export { ps, statusText } from './ps.js';
export { rm } from './rm.js';
export { stop } from './stop.js';
