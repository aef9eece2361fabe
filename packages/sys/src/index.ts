export * from './errors.js';
export * from './flags.js';
export * from './syscalls.js';
export * from './spawn.js';
export * from './io.js';
export * from './interface.js';
export * from './at.js';
export * from './mountapi.js';
