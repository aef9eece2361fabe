// Hardening: the layers that make root in a container much less than root
// on the host. Host side: planSecurity() (flags -> SecuritySpec) and
// DeviceCgroup. Init side: applySecurity() after setupRootfs, right before
// execCommand. docs/hardening.md walks through each layer.
export * from './capabilities.js';
export * from './bpf.js';
export * from './seccomp.js';
export * from './default-profile.js';
export * from './paths.js';
export * from './rlimits.js';
export * from './devices.js';
export * from './harden.js';
export * from './join.js';
export * from './plan.js';
export * from './run.js';
export * from './oci.js';
