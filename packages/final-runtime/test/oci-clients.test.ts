// Real clients drive hull-runtime (issue 14 §3): podman through conmon and
// containerd through its runc shim, each started privately by the testkit,
// with hull-runtime as their runtime (`podman --runtime`, `ctr run
// --runc-binary`). The same suite runs with Debian's runc in testkit's
// clients.test.ts, so every assertion here is one runc also meets.
import { join } from 'node:path';
import { repoRoot } from '@hull/testkit';
import { clientSuite } from '@hull/testkit/client-suite';

clientSuite(join(repoRoot, 'packages/final-runtime/bin/hull-runtime.js'));
