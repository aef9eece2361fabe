// Chapter 05's init stage: chapter 03's setup, with the volumes bound after
// the /etc files. In a user namespace it runs as the namespace's root, which
// the native helper became right after the parent wrote the maps.
import { runStage } from '@hull/01-uts';
import { type RootfsSpec, setupRootfs } from '@hull/03-chroot-proc';
import { linux } from '@hull/sys';
import type { UsernsSpecExtra } from './run.js';

runStage<RootfsSpec & UsernsSpecExtra>((spec) => setupRootfs(linux, { ...spec, binds: [...(spec.binds ?? []), ...spec.volumes] }));
