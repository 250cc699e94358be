import { fitLine } from './regress.js';

/**
 * PPS jitter as a monitor shows it: the RMS of the pulse stamps around a straight line through the
 * last minute of them (the line takes out the local clock's rate, so only the noise of each stamp
 * is left: what gpsmon and chronyc sourcestats call the Std Dev). Pure: stamps in, figure out.
 */

/** A minute of 1 PPS: long enough for a steady figure, short enough to follow a changed load. */
export const PPS_JITTER_PULSES = 60;
/** Fewer pulses than this leave too few degrees of freedom after fitting a line for a figure worth showing. */
const MIN_PULSES = 5;

export class PpsJitter {
  private pulses: Array<{ seq: number; monoNs: bigint }> = [];

  constructor(private readonly keep = PPS_JITTER_PULSES) {}

  /** A pulse by its sequence number (missed pulses leave gaps in seq); a restarted count starts over. */
  add(seq: number, monoNs: bigint): void {
    const last = this.pulses.at(-1);
    if (last && (seq <= last.seq || monoNs <= last.monoNs)) this.pulses = [];
    this.pulses.push({ seq, monoNs });
    if (this.pulses.length > this.keep) this.pulses.shift();
  }

  get count(): number {
    return this.pulses.length;
  }

  /** RMS of the stamps around the fitted line (ns); undefined with fewer than MIN_PULSES. */
  jitterNs(): number | undefined {
    if (this.pulses.length < MIN_PULSES) return undefined;
    const p0 = this.pulses[0]!;
    const xs = this.pulses.map((p) => p.seq - p0.seq);
    // Relative to a nominal second per pulse, so the doubles stay small and exact.
    const ys = this.pulses.map((p, i) => Number(p.monoNs - p0.monoNs) - xs[i]! * 1e9);
    return fitLine(xs, ys).rms;
  }
}
