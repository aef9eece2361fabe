export * from './rootfs.js';
export * from './etc.js';
export * from './run.js';
export * from './spec.js';
