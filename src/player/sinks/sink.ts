import type { PcmFormat } from '../decoder.js';

/**
 * An audio output as the player sees it: a stream of fixed-size periods, numbered from 0 in the
 * order the device plays them. The sink pulls each period from the player just in time and says
 * when a period will be heard; every sync decision lives in the player, not here.
 */
export interface OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  /** Human-readable name of the device, for status. */
  readonly description: string;
  /** Opens and starts the stream; `fill(p)` must return exactly one period for stream period p. */
  start(fill: (streamPeriod: number) => Buffer): Promise<void>;
  /** Local monotonic ns at which stream period p starts leaving the DAC, once the sink knows. */
  presentationMonoNs(streamPeriod: number): bigint | undefined;
  /** Periods of silence the device inserted because the queue ran dry. */
  readonly underrunPeriods: number;
  /**
   * The device's measured rate against the monotonic clock (ppm, + = fast) to save for the next
   * start: undefined unless it was measured well here (not a prior, not at a clamp, not from a faulted run).
   */
  dacRatePpm?(): number | undefined;
  stop(): Promise<void>;
}

export class NoAudioDeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAudioDeviceError';
  }
}
