export * from './process.js';
export * from './host.js';
export * from './random.js';
