export * from './mounts.js';
export * from './run.js';
export * from './spec.js';
