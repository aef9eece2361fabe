// Chapter 01's init stage: PID "1" of nothing yet (only the UTS namespace is
// new), it names the host and becomes the command.
import { linux } from '@hull/sys';
import { setHostname } from './hostname.js';
import { type BaseSpec, runStage } from './stage.js';

runStage<BaseSpec>((spec) => {
  if (spec.hostname) setHostname(linux, spec.hostname);
});
