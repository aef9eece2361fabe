export * from './process.js';
export * from './host.js';
export * from './random.js';
export * from './busybox.js';
export * from './oci-image.js';
export * from './registry.js';
export * from './udp-reply.js';
export * from './users.js';
