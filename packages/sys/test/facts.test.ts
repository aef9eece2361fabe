// The facts docs/architecture.md is built on, checked on this machine.
import { describe, expect, it } from 'vitest';
import { run } from '@hull/testkit';

describe('the facts behind the design (docs/architecture.md)', () => {
  it('node -e runs more than one thread', async () => {
    const r = await run('node', ['-e', "console.log(require('fs').readdirSync('/proc/self/task').length)"]);
    expect(Number(r.stdout.trim())).toBeGreaterThan(1);
  });

  it('unshare(CLONE_NEWUSER) from Node fails with EINVAL', async () => {
    const r = await run('npx', ['tsx', '-e', "import('@hull/sys').then(s => { try { s.unshare(s.CLONE_NEWUSER) } catch (e) { console.log(String(e)) } })"]);
    expect(r.stdout.trim()).toBe('SyscallError: unshare("0x10000000"): EINVAL (Invalid argument)');
  });
});
