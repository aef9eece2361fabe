export * from './idmap.js';
export * from './subordinate.js';
export * from './userns.js';
export * from './idmapped.js';
export * from './run.js';
export * from './spec.js';
