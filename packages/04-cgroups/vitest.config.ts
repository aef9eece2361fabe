import { cgroupVersion, hullProject } from '../../tools/vitest.shared.js';

// v1.test.ts needs v1 hierarchies, v2-kernel.test.ts a real cgroup2 kernel
// (tools/cgroup2/ boots one): each is left out where its kernel is not, so
// neither ever "skips". Everything else runs on both.
export default hullProject(import.meta.dirname, {
  exclude: [cgroupVersion() === 2 ? 'test/v1.test.ts' : 'test/v2-kernel.test.ts'],
});
