/**
 * The product of the clock layer: an immutable mapping local monotonic ns -> UTC ns with an
 * error bound. Everything downstream asks a Timescale and nothing else about "what time is it".
 */

export type ClockState = 'unsynchronized' | 'locked' | 'holdover';
export type SourceName = 'gps+pps' | 'gps' | 'rtc' | 'ntp' | 'system';

export interface TimescaleInit {
  /** Reference point: local monotonic ns and the UTC ns it maps to. */
  refMonoNs: bigint;
  refUtcNs: bigint;
  /** Rate of the local monotonic clock against UTC; positive = local clock runs FAST. */
  freqPpm: number;
  /** Error bound at the reference point (ns). */
  errorBoundNs: number;
  /** Growth of the error bound with time since the reference (ns per s): frequency uncertainty. */
  errorGrowthNsPerSec: number;
  source: SourceName;
  state: ClockState;
  /** Local monotonic ns of the last sample the estimate used. */
  lastSampleMonoNs: bigint;
  /**
   * A correction being slewed in (ns, output minus estimate at slewStartMonoNs): the output leaves
   * the estimate by this much and closes the gap at slewRatePpm, so a change of source or a relock
   * never steps the timescale.
   */
  slewNs?: number;
  slewStartMonoNs?: bigint;
  slewRatePpm?: number;
}

export class Timescale {
  readonly refMonoNs: bigint;
  readonly refUtcNs: bigint;
  readonly freqPpm: number;
  readonly errorBoundNs: number;
  readonly errorGrowthNsPerSec: number;
  readonly source: SourceName;
  readonly state: ClockState;
  readonly lastSampleMonoNs: bigint;
  readonly slewNs: number;
  readonly slewStartMonoNs: bigint;
  readonly slewRatePpm: number;

  constructor(init: TimescaleInit) {
    this.refMonoNs = init.refMonoNs;
    this.refUtcNs = init.refUtcNs;
    this.freqPpm = init.freqPpm;
    this.errorBoundNs = init.errorBoundNs;
    this.errorGrowthNsPerSec = init.errorGrowthNsPerSec;
    this.source = init.source;
    this.state = init.state;
    this.lastSampleMonoNs = init.lastSampleMonoNs;
    this.slewNs = init.slewNs ?? 0;
    this.slewStartMonoNs = init.slewStartMonoNs ?? init.refMonoNs;
    this.slewRatePpm = init.slewRatePpm ?? 0;
    Object.freeze(this);
  }

  /** The part of the slew still to go at a local instant (ns). */
  slewRemainingAt(monoNs: bigint): number {
    if (this.slewNs === 0) return 0;
    const elapsedNs = Math.max(0, Number(monoNs - this.slewStartMonoNs));
    const left = Math.max(0, Math.abs(this.slewNs) - elapsedNs * this.slewRatePpm * 1e-6);
    return Math.sign(this.slewNs) * left;
  }

  /** UTC ns at a local monotonic instant. */
  utcAt(monoNs: bigint): bigint {
    const dMono = Number(monoNs - this.refMonoNs);
    return this.refUtcNs + BigInt(Math.round(dMono / (1 + this.freqPpm * 1e-6) + this.slewRemainingAt(monoNs)));
  }

  /** Local monotonic ns at which UTC reaches utcNs. */
  monoAt(utcNs: bigint): bigint {
    const linear = (u: number) => this.refMonoNs + BigInt(Math.round(u * (1 + this.freqPpm * 1e-6)));
    const dUtc = Number(utcNs - this.refUtcNs);
    let m = linear(dUtc);
    // The slew moves at most slewRatePpm: each pass shrinks the error by that factor.
    for (let i = 0; i < 3 && this.slewNs !== 0; i++) m = linear(dUtc - this.slewRemainingAt(m));
    return m;
  }

  /** Error bound (ns) of utcAt(monoNs): grows with distance from the last sample, plus any slew left. */
  errorBoundAt(monoNs: bigint): number {
    const ageSec = Math.abs(Number(monoNs - this.lastSampleMonoNs)) / 1e9;
    return this.errorBoundNs + this.errorGrowthNsPerSec * ageSec + Math.abs(this.slewRemainingAt(monoNs));
  }

  /** Seconds since the last sample the estimate used. */
  ageSec(monoNs: bigint): number {
    return Number(monoNs - this.lastSampleMonoNs) / 1e9;
  }

  with(changes: Partial<TimescaleInit>): Timescale {
    return new Timescale({ ...this, ...changes });
  }
}

export const NS_PER_SEC = 1_000_000_000n;

export function isoFromUtcNs(utcNs: bigint, fractionDigits = 3): string {
  const ms = Number(utcNs / 1_000_000n);
  const iso = new Date(ms).toISOString();
  if (fractionDigits === 3) return iso;
  const frac = (((utcNs % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac.slice(0, fractionDigits)}Z`;
}
