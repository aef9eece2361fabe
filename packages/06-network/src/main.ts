// Step 06: a rootfs container with its own network.
//   sudo npx tsx packages/06-network/src/main.ts --rootfs DIR --net bridge|none|host [--ip A.B.C.D]
//        [--publish [IP:]HOSTPORT:CTRPORT[/tcp|/udp]]... [--hostname N] [--print-spec] -- CMD [ARGS...]
// The bridge, subnet and state dir come from HULL_BRIDGE (hull0), HULL_SUBNET
// (10.77.0.0/24) and HULL_ROOT (/var/lib/hull).
import { stepMain } from '@hull/01-uts';
import { runWithNetwork } from './run.js';
import { NETWORK_FLAGS, networkOptions, networkSpecFromFlags } from './spec.js';

await stepMain({
  flags: NETWORK_FLAGS,
  about: "Run CMD in chapter 03's container with a network: a veth on our bridge with NAT (bridge), only lo (none), or the host's (host).",
  spec: networkSpecFromFlags,
  run: (spec) => runWithNetwork(networkOptions(spec)),
});
