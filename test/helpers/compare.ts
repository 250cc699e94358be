/**
 * Compares played PCM with what should have been played: the best whole-frame lag within ±2 must
 * be 0 and the samples equal up to sub-frame resampling (the aligner may resample when the clock
 * moves; a frame too early or late, a gap or an overlap fails). Interleaved stereo s16.
 */
export function alignedDiff(
  got: Buffer,
  want: Buffer,
  wantOffsetFrames = 0,
  frames = Math.floor(got.length / 4),
): { lag: number; maxDiff: number } {
  let best = { lag: 0, maxDiff: Infinity };
  for (let lag = -2; lag <= 2; lag++) {
    let d = 0;
    for (let f = 2; f < frames - 2; f++) {
      const w = f + wantOffsetFrames + lag;
      if (w < 0 || (w + 1) * 4 > want.length) continue;
      for (const c of [0, 1])
        d = Math.max(d, Math.abs(got.readInt16LE((f * 2 + c) * 2) - want.readInt16LE((w * 2 + c) * 2)));
    }
    if (d < best.maxDiff) best = { lag, maxDiff: d };
  }
  return best;
}

/** Largest sample difference a half-frame shift makes for a tone of this frequency and amplitude. */
export function halfFrameDiff(freqHz: number, amplitude: number, rate = 48000): number {
  return Math.ceil((amplitude * 32767 * Math.PI * freqHz) / rate) + 2;
}
