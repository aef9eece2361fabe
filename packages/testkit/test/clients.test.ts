// The client suite (src/client-suite.ts) with Debian's runc: proves the
// harness itself. final-runtime's oci-clients.test.ts runs it with hull-runtime.
import { execFileSync } from 'node:child_process';
import { clientSuite } from '../src/client-suite.ts';

clientSuite(execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim());
