export * from './reference.js';
export * from './manifest.js';
export * from './store.js';
export * from './progress.js';
export * from './pull.js';
export * from './user.js';
