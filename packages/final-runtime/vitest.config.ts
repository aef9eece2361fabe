import { hullProject } from '../../tools/vitest.shared.js';

// The registries come from chapter 07's globalSetup (real docker-registry on
// 127.0.0.1), reused as is: hull pulls its fixtures from there.
export default hullProject(import.meta.dirname, { globalSetup: ['../07-oci-pull/test/registries.setup.ts'] });
