/** Helpers below every layer: atomic files, duration formatting, rates over a moving window. */
export { writeFileAtomic, readTextIfExists, whyNotWritable, fileSize } from './files.js';
export { formatDuration } from './format.js';
export { CounterRate } from './rate.js';
