// @hull/final-runtime as a library: the container store and the flag rules
// the `hull` CLI (bin.ts) is built from.
export * from './args.js';
export * from './container-config.js';
export * from './names.js';
export * from './store.js';
export * from './default-spec.js';
export * from './spec-from-config.js';
