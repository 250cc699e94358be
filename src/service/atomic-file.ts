/** Moved to src/util/files.ts (a layer below all others); re-exported so existing imports keep working. */
export { writeFileAtomic } from '../util/files.js';
