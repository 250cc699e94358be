/**
 * Fractional resampling for drift correction: cubic Hermite (Catmull-Rom) interpolation of
 * interleaved s16 PCM. Reads source positions pos, pos + r, pos + 2r ...; `src` holds the frames
 * from `srcStartFrame` on and must cover floor(pos) - 1 ... floor(last) + 2. Pure, no allocation
 * besides the output.
 */
export function resampleCubic(
  src: Int16Array,
  srcStartFrame: number,
  channels: number,
  pos: number,
  ratio: number,
  count: number,
  out: Int16Array,
): void {
  for (let i = 0; i < count; i++) {
    const x = pos + i * ratio - srcStartFrame;
    const k = Math.floor(x);
    const t = x - k;
    const t2 = t * t,
      t3 = t2 * t;
    // Catmull-Rom weights for samples k-1, k, k+1, k+2.
    const w0 = -0.5 * t3 + t2 - 0.5 * t;
    const w1 = 1.5 * t3 - 2.5 * t2 + 1;
    const w2 = -1.5 * t3 + 2 * t2 + 0.5 * t;
    const w3 = 0.5 * t3 - 0.5 * t2;
    for (let c = 0; c < channels; c++) {
      const s = (j: number) => src[(k + j) * channels + c] ?? 0;
      const v = w0 * s(-1) + w1 * s(0) + w2 * s(1) + w3 * s(2);
      out[i * channels + c] = v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
    }
  }
}
