export * from './hostname.js';
export * from './random-id.js';
export * from './cli.js';
export * from './stage.js';
export * from './run.js';
export * from './errors.js';
export * from './stdio.js';
export * from './signals.js';
