export * from './mounts.js';
export * from './run.js';
