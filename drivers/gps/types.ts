/** What the GPS driver hands upward. Drivers never import the clock layer or the player. */

export type TimeSentence = 'RMC' | 'ZDA' | 'GGA' | 'GLL';

export interface GpsTimeFix {
  /** Local monotonic ns at which the sentence's last byte (its line end) arrived. */
  monoNs: bigint;
  /** The UTC instant the sentence labels (ns), or null when it carries no usable time. */
  utcNs: bigint | null;
  /** True only for a time fit to discipline a clock (RMC status A or ZDA, with a date). */
  valid: boolean;
  /** Why not valid, e.g. "no fix (RMC status V)". */
  reason?: string;
  talker: string;
  sentence: TimeSentence;
  /** The date was corrected by +1024 weeks (receiver week-rollover bug). */
  rolloverCorrected?: boolean;
}

export interface GpsContext {
  monoNs: bigint;
  /** GGA fix quality (0 = none) and satellites in use. */
  quality: number;
  satellites: number;
}

export interface GpsSink {
  onFix(fix: GpsTimeFix): void;
  onContext?(ctx: GpsContext): void;
  /** A state change worth one log line (port opened, lost, reopened). */
  onStatus?(message: string): void;
}

export interface GpsCounters {
  sentences: number;
  badChecksum: number;
  garbage: number;
  unsupported: number;
}
