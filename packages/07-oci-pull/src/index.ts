// Chapter 07 as a library: the distribution client, the content store, pull,
// and running an image. final-runtime builds `hull pull` / `hull run` on these.
export * from './reference.js';
export * from './auth.js';
export * from './client.js';
export * from './manifest.js';
export * from './store.js';
export * from './progress.js';
export * from './pull.js';
export * from './unpack.js';
export * from './in-root.js';
export * from './user.js';
export * from './run.js';
export * from './conversion.js';
export type { ImageSpec } from './init.js';
export * from './extract/index.js';
export * from './image-spec.js';
