// Host side of a hardened run on a plain rootfs directory: plan the layers,
// make the devices cgroups (v1's devices.allow, and a chapter 04 cgroup
// carrying the eBPF device program), run chapter 03's container with our
// init stage, and remove the cgroups afterwards.
import { extname, randomId } from '@hull/01-uts';
import { type RootfsRunOptions, runInRootfs } from '@hull/03-chroot-proc';
import { type Cgroup, createCgroup } from '@hull/04-cgroups';
import { attachDeviceProgram, DeviceCgroup } from './devices.js';
import { type SecurityFlags, planSecurity, type SecurityPlan } from './plan.js';

export interface HardenedRunOptions extends Omit<RootfsRunOptions, 'stage' | 'specExtra'> {
  /** docker's flags, planned here; or a plan made already (securityFromSpec, from a config.json). */
  security: SecurityFlags | { plan: SecurityPlan };
  /** Names the devices cgroup (hull/<id>); random by default. */
  id?: string;
  /** Where warnings go (default: stderr, as `hull: warning: ...`). */
  warn?: (line: string) => void;
}

export async function runHardened(opts: HardenedRunOptions): Promise<number> {
  const plan = 'plan' in opts.security ? opts.security.plan : planSecurity(opts.security);
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`hull: warning: ${line}\n`));
  for (const w of plan.warnings) warn(w);
  const id = opts.id ?? `sec-${randomId()}`;
  let program: Cgroup | null = null;
  let devices: DeviceCgroup | null = null;
  try {
    if (plan.deviceProgram) {
      program = createCgroup(id, {});
      attachDeviceProgram(program, plan.deviceProgram);
    }
    devices = plan.deviceCgroup ? DeviceCgroup.create(plan.deviceCgroup.mountPoint, id, plan.deviceCgroup.rules) : null;
    return await runInRootfs({
      ...opts,
      stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url),
      specExtra: { security: plan.spec },
      // Before the child is released: the init stage's own mknods already run under the allowlist.
      beforeStart: async (pid) => {
        program?.add(pid);
        devices?.add(pid);
        await opts.beforeStart?.(pid);
      },
    });
  } finally {
    await program?.destroy();
    devices?.remove();
  }
}
