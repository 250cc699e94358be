import type { SourceName } from './timescale.js';

/** One measurement of UTC against the local monotonic clock, as every time source produces it. */
export interface TimeSample {
  monoNs: bigint;
  utcNs: bigint;
  /** Estimated error of this one sample (ns, one-sided bound of what the source can know). */
  errorNs: number;
  source: SourceName;
  /**
   * The local timestamp can only be late (userspace GPIO edges: event-loop delay with a heavy tail),
   * so the truth is the lower envelope of the delays, not their mean.
   */
  lateOnly?: boolean;
  /** The source's timescale changed under it (a confirmed relabel): earlier samples no longer apply. */
  restart?: boolean;
}

/** The narrow sink through which sources hand samples upward. */
export interface SampleSink {
  addSample(sample: TimeSample): void;
}
