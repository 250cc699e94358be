import type { PcmFormat } from '../decoder.js';
import type { DacRate } from '../dac-clock.js';

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
  /**
   * Periods of silence the device inserted because the queue ran dry (the period numbering moved on
   * by as many: the engine re-places its read position when this changes).
   */
  readonly underrunPeriods: number;
  /** Of those, the ones after the music began (status reports these; default all of them). */
  readonly underrunPeriodsInMusic?: number;
  /**
   * The engine wrote timeline frames (music, or a planned silence) into a period: silence before the
   * first such period moved nothing heard.
   */
  musicPlays?(): void;
  /** Device xruns (the device stopped and restarted at a new phase: its clock is learned again). */
  readonly xruns?: number;
  /**
   * Times the device's periods were found coming later than learned with no xrun reported (a device or
   * sound server that stalled): its clock was learned again, and the engine re-places when this changes.
   */
  readonly gridMoves?: number;
  /**
   * The music plays on from the last placement (true), or is about to be placed anew (false): while
   * it plays on, the sink keeps its estimate of the device's timing from following noise (see DacClock.hold).
   */
  holdPlacement?(on: boolean): void;
  /** How much later the timing estimate in use is than the newest (ns): the music plays that much ahead by it. */
  placementHeldNs?(): number;
  /**
   * The device's measured rate against the monotonic clock (ppm, + = fast) and its uncertainty, to
   * save for the next start: undefined unless it was measured here (not a prior, not at a clamp, not
   * from a faulted run) to DAC_SAVE_MAX_SIGMA_PPM.
   */
  dacRate?(): DacRate | undefined;
  /** Why dacRate has nothing to save, in words for the log (undefined: it has, or this sink keeps none). */
  dacUnsavedWhy?(): string | undefined;
  stop(): Promise<void>;
}

export class NoAudioDeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAudioDeviceError';
  }
}

/**
 * A named output device that is not there (unplugged, renamed) or is held by another program: the
 * message names it and lists the devices there are, so a retry (or the user) can act on it.
 */
export class AudioDeviceUnavailableError extends NoAudioDeviceError {
  constructor(
    readonly device: string,
    readonly reason: 'missing' | 'busy',
    readonly available: string[],
    detail?: string,
  ) {
    super(
      `ALSA output device "${device}" ${reason === 'missing' ? 'not found' : `is busy (another program holds it${detail ? `: ${detail}` : ''})`}; ` +
        `the devices there are: ${available.length ? available.map((n) => `"${n}"`).join(', ') : 'none'} (set audio.device to one of them; "jaudiosync devices" lists them)`,
    );
    this.name = 'AudioDeviceUnavailableError';
  }
}

/** Keep at least this many periods beyond the worst callback lateness seen. */
const QUEUE_MARGIN_PERIODS = 2;

/**
 * Write-ahead sizing from the measured callback lateness: a callback that arrives late (an event-loop
 * stall, a busy machine) has let the queue drain by as much, so the queue grows to the worst lateness
 * seen plus a margin, up to a ceiling. It never shrinks during a stream. The queue changes no
 * placement (period numbers are the device's order), only how long a stall it rides out.
 */
export class QueueSizer {
  private worstNs = 0;
  target: number;

  constructor(
    readonly minPeriods: number,
    readonly maxPeriods: number,
    readonly periodNs: number,
  ) {
    this.target = minPeriods;
  }

  /** A callback came `lateNs` after its period was taken (by the DAC clock's estimate): the queue length wanted now. */
  observe(lateNs: number): number {
    if (lateNs > this.worstNs) {
      this.worstNs = lateNs;
      const want = Math.ceil(lateNs / this.periodNs) + QUEUE_MARGIN_PERIODS;
      this.target = Math.max(this.target, Math.min(this.maxPeriods, want));
    }
    return this.target;
  }
}
