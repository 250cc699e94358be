/** What a PPS driver hands upward. */

export interface PpsPulse {
  /** Local monotonic ns of the edge. */
  monoNs: bigint;
  /** The timestamp as the kernel gave it (CLOCK_REALTIME ns), when it came from the kernel. */
  realtimeNs?: bigint;
  /** Kernel sequence number (or a running count for GPIO edges). */
  seq: number;
  /** Pulses missed since the previous one reported (by sequence number). */
  missed: number;
  /** Error bound of monoNs as a timestamp of the true edge (ns). */
  errorNs: number;
  via: 'kernel' | 'gpio';
}

export interface PpsSink {
  addPulse(pulse: PpsPulse): void;
  onStatus?(message: string): void;
  /** A fault of the PPS device began (its message) or cleared (undefined): for status, beside the log line. */
  onFault?(message: string | undefined): void;
}
