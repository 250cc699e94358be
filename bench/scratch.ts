/**
 * A scratch folder for a bench's files (WAV output can be hundreds of MB), removed when the bench
 * exits (JAS_KEEP_TMP=1 keeps it): the tests' own helper, one implementation for both.
 */
export { tempDir as scratchDir } from '../test/helpers/tmp.js';
