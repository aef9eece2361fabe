// Chapter 02's init stage. It is PID 1 of the new PID namespace (the kernel
// gives that number to the first process cloned into it), and execve keeps
// the pid: CMD becomes PID 1.
import { runStage, setHostname } from '@hull/01-uts';
import { linux } from '@hull/sys';
import { CONTAINER_PROPAGATION, setRootPropagation } from './mounts.js';
import type { PidMountSpec } from './run.js';

runStage<PidMountSpec>((spec) => {
  // First, before anything mounts: from here on nothing propagates to the host.
  setRootPropagation(linux, spec.rootfsPropagation ?? CONTAINER_PROPAGATION);
  if (spec.hostname) setHostname(linux, spec.hostname);
});
