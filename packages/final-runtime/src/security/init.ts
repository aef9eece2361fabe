// The hardened init stage: chapter 03's root filesystem, then the security
// layers, then the command. final-runtime's own init stage makes the same
// applySecurity() call after its setup.
import { runStage } from '@hull/01-uts';
import { type RootfsSpec, setupRootfs } from '@hull/03-chroot-proc';
import { linux } from '@hull/sys';
import { applySecurity, linuxSecurity, type SecuritySpec } from './harden.js';

export interface HardenedSpec extends RootfsSpec {
  security: SecuritySpec;
}

runStage<HardenedSpec>((spec) => {
  setupRootfs(linux, spec);
  applySecurity(linuxSecurity, spec.security);
});
