import type { OutputSink } from '../player/sinks/sink.js';
import type { MonotonicClock } from '../time/clock.js';
import { DAC_STATE_FILE, saveDacRate } from './clock-state.js';
import type { Logger } from './log.js';

/** The audio device's measured rate is saved this often while playing (a crash keeps the last). */
export const DAC_SAVE_EVERY_MS = 60_000;

export interface DacSaverOptions {
  /** The state folder dac.json lives in, and the device and rate it is saved for. */
  dir: string;
  device: string;
  sampleRate: number;
  /** The sink playing now (undefined before it opened). */
  sink: () => Pick<OutputSink, 'dacRate' | 'dacUnsavedWhy'> | undefined;
  /** UTC now (ms) and the DS3231's temperature (°C) if read: the save's date and temperature. */
  now: () => { utcMs: number; tempC?: number };
  clock: MonotonicClock;
  log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * Saves the DAC's measured rate every DAC_SAVE_EVERY_MS and at the stop, for the next start's first
 * frame; at the stop, a rate that cannot be saved is said with why, and the file keeps what it had.
 */
export function keepDacRate(o: DacSaverOptions): { stop(): Promise<void> } {
  const save = async () => {
    const rate = o.sink()?.dacRate?.();
    if (rate === undefined) return;
    const { utcMs, tempC } = o.now();
    await saveDacRate(o.dir, o.device, o.sampleRate, rate, utcMs, tempC).catch((e: Error) =>
      o.log.warn(`cannot save the audio device's rate in ${o.dir}: ${e.message}`),
    );
  };
  let timer = o.clock.setTimer(DAC_SAVE_EVERY_MS * 1e6, function tick() {
    void save();
    timer = o.clock.setTimer(DAC_SAVE_EVERY_MS * 1e6, tick);
  });
  return {
    stop: async () => {
      timer.cancel();
      // Nothing to save when there is a reason: said instead (save() would find no rate).
      const why = o.sink()?.dacUnsavedWhy?.();
      if (why)
        o.log.info(
          `the audio device's rate is not saved for the next start: ${why}; ${DAC_STATE_FILE} keeps what it had`,
        );
      else await save();
    },
  };
}
