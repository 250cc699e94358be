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
  /** GGA's horizontal dilution of precision, when given. */
  hdop?: number;
}

/** Constellations as NMEA 4.10 numbers them (GSA system ID 1-6); SBAS rides on the GPS numbering. */
export type GnssSystem = 'GPS' | 'SBAS' | 'GLONASS' | 'Galileo' | 'BeiDou' | 'QZSS' | 'NavIC';

/** One satellite from GSV, as cgps/gpsmon list them. */
export interface SatelliteInView {
  system: GnssSystem;
  /**
   * The PRN as the receiver sends it (NMEA numbering: GLONASS 65-96 on old receivers, 1-based per system on NMEA 4.10).
   */
  prn: number;
  elevationDeg?: number;
  azimuthDeg?: number;
  /** Carrier-to-noise density (dB-Hz); absent when the satellite is not tracked. */
  snrDbHz?: number;
  /** Listed in GSA as used in the navigation solution. */
  used: boolean;
}

/** GSA's fix mode; "fix" when only GGA says there is one (2D or 3D unknown). */
export type FixMode = 'no fix' | '2D' | '3D' | 'fix';

/** The receiver's view of the sky (GSV, GSA, GGA): JSON-safe, for status and monitors. */
export interface GpsSky {
  fixMode?: FixMode;
  hdop?: number;
  pdop?: number;
  vdop?: number;
  /** Satellites in view (GSV); undefined when the receiver sends no GSV. */
  inView?: number;
  /** Satellites used in the fix (GSA, else GGA's count). */
  used?: number;
  satellites: SatelliteInView[];
}

export interface GpsSink {
  onFix(fix: GpsTimeFix): void;
  onContext?(ctx: GpsContext): void;
  /** The sky changed (a GSV cycle, GSA burst or GGA completed): fix mode, satellites, DOP. */
  onSky?(sky: GpsSky): void;
  /** A state change worth one log line (port opened, lost, reopened). */
  onStatus?(message: string): void;
}

export interface GpsCounters {
  sentences: number;
  badChecksum: number;
  garbage: number;
  unsupported: number;
}
