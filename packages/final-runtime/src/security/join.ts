// `hull exec`: the same process-level layers for a process that joins a
// running container later. setns() gives it none of them (capabilities,
// no_new_privs and seccomp belong to a process, not to a namespace), so
// without this it would keep hull's own capabilities. docker exec applies
// the container's; so do we. The mount-level layers (masked paths, the
// devices cgroup) are already there: the process joins the container's mount
// namespace and cgroup.
import type { JoinSecurity } from '@hull/sys';
import { capabilityMask } from './capabilities.js';
import { capabilitySetsFor, filterOf, type SecuritySpec } from './harden.js';

/** From the spec `hull run` computes (planSecurity) to what the native join helper applies. */
export function joinSecurity(spec: SecuritySpec): JoinSecurity {
  return {
    lastCap: spec.lastCap,
    bounding: capabilityMask(spec.capabilities),
    ...capabilitySetsFor(spec),
    noNewPrivs: spec.noNewPrivileges,
    seccomp: filterOf(spec),
  };
}
