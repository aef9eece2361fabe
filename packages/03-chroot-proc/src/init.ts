// Chapter 03's init stage: PID 1 of the new namespaces, still on the host's
// files. It builds the container's "/" and becomes the command.
import { runStage } from '@hull/01-uts';
import { linux } from '@hull/sys';
import { type RootfsSpec, setupRootfs } from './rootfs.js';

runStage<RootfsSpec>((spec) => setupRootfs(linux, spec));
