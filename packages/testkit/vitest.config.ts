import { hullProject } from '../../tools/vitest.shared.js';

export default hullProject(import.meta.dirname);
