import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DAC_MAX_PPM, dacPriorFromSaved, isPlausibleDacRate, type DacRate } from '../player/dac-clock.js';
import type { FrequencyPrior } from '../time/sourcestats.js';
import type { Timescale } from '../time/timescale.js';
import { writeFileAtomic } from '../util/files.js';
import { signed } from '../util/format.js';

/**
 * The clock's learned frequency, kept across restarts (chrony's drift file): a service restarted
 * mid-ride, or a Pi rebooted, locks on two PPS pulses instead of a full window and so rejoins the
 * music in about a second. The file is written atomically; a missing, corrupt or stale one is
 * reported and ignored, never fatal.
 */

export const CLOCK_STATE_FILE = 'clock.json';
/** Written this often while locked on a source that measures frequency well. */
export const CLOCK_STATE_EVERY_MS = 60_000;
/**
 * 1σ of a saved frequency: the Pi's crystal moves ~0.25 ppm/°C and a box on a bike swings between
 * 40 and 70 °C, so a restart may find it a few ppm away from the last run's value.
 */
export const PRIOR_SIGMA_PPM = 5;
/** Crystal aging, added to the σ per day since the file was written. */
const AGING_PPM_PER_DAY = 0.01;
/** Older than this, the file tells nothing worth trusting. */
const MAX_AGE_DAYS = 180;
const MS_PER_DAY = 86_400_000;
/** A save up to this far "ahead" of now is clock noise between two boots (days); beyond, its age is unknown. */
const FUTURE_SAVE_SLACK_DAYS = 1;

/** A saved file's age (days, ≥ 0) for the log: hours under a day, else days with a decimal. */
function agoText(ageDays: number): string {
  return ageDays < 1 ? `${(ageDays * 24).toFixed(1)} h ago` : `${ageDays.toFixed(1)} days ago`;
}
/** Only these sources measure the local frequency to far better than PRIOR_SIGMA_PPM. */
const MEASURING_SOURCES = new Set(['gps+pps', 'ntp']);

interface ClockStateFile {
  v: 1;
  freqPpm: number;
  source: string;
  savedAtUtcMs: number;
  /** Measured against simulated sources (which run on this machine's own clock): says nothing of the real crystal. */
  simulated?: boolean;
}

export async function readClockPrior(
  dir: string,
  nowUtcMs: number,
  simulated = false,
): Promise<{ prior?: FrequencyPrior; note: string }> {
  const path = join(dir, CLOCK_STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return {
      note: missing
        ? `no saved clock frequency yet (${path}): locking from scratch`
        : `cannot read ${path}: ${(e as Error).message}; locking from scratch`,
    };
  }
  let s: ClockStateFile;
  try {
    s = JSON.parse(text) as ClockStateFile;
    if (s.v !== 1 || !Number.isFinite(s.freqPpm) || Math.abs(s.freqPpm) > 1000 || !Number.isFinite(s.savedAtUtcMs))
      throw new Error('unexpected content');
  } catch (e) {
    return {
      note: `${path} is not a clock state file (${(e as Error).message}): ignored; it is rewritten once locked`,
    };
  }
  if (Boolean(s.simulated) !== simulated) {
    return {
      note: `${path} was measured on ${s.simulated ? 'SIMULATED' : 'real'} hardware, this run is on ${simulated ? 'SIMULATED' : 'real'}: ignored, locking from scratch`,
    };
  }
  const sinceDays = (nowUtcMs - s.savedAtUtcMs) / MS_PER_DAY;
  if (sinceDays > MAX_AGE_DAYS)
    return { note: `${path} was written ${sinceDays.toFixed(0)} days ago: too old to trust, locking from scratch` };
  if (sinceDays < -FUTURE_SAVE_SLACK_DAYS)
    return {
      note: `${path} is dated ${(-sinceDays).toFixed(1)} days ahead of this clock (this clock or the one that wrote it was wrong): not trusted, locking from scratch`,
    };
  const ageDays = Math.max(0, sinceDays);
  const prior = { freqPpm: s.freqPpm, sigmaPpm: PRIOR_SIGMA_PPM + AGING_PPM_PER_DAY * ageDays };
  return {
    prior,
    note: `clock frequency from the last run: ${s.freqPpm.toFixed(3)} ppm ± ${prior.sigmaPpm.toFixed(1)} (${s.source}, ${agoText(ageDays)})`,
  };
}

/** Saves the frequency when the timescale is locked on a measuring source; says a failure once. */
export class ClockStateWriter {
  private warned = false;

  constructor(
    private readonly dir: string,
    private readonly onError: (m: string) => void,
  ) {}

  async save(ts: Timescale, nowUtcMs: number, simulated = false): Promise<boolean> {
    if (ts.state !== 'locked' || !MEASURING_SOURCES.has(ts.source)) return false;
    const s: ClockStateFile = {
      v: 1,
      freqPpm: ts.freqPpm,
      source: ts.source,
      savedAtUtcMs: nowUtcMs,
      ...(simulated ? { simulated } : {}),
    };
    try {
      await writeFileAtomic(join(this.dir, CLOCK_STATE_FILE), JSON.stringify(s) + '\n', { createDir: true });
      this.warned = false;
      return true;
    } catch (e) {
      if (!this.warned)
        this.onError(
          `cannot save the clock state in ${this.dir}: ${(e as Error).message} (set service.state_dir to a writable folder); a restart will lock from scratch`,
        );
      this.warned = true;
      return false;
    }
  }
}

/**
 * The audio device's rate against the local clock, kept like the clock's frequency: a restart's
 * first frame then lands as well as a long-running stream's (see DacClock). Keyed by device name
 * and sample rate; anything else is ignored.
 */
export const DAC_STATE_FILE = 'dac.json';

interface DacStateFile {
  v: 1;
  device: string;
  sampleRate: number;
  ppm: number;
  /** 1σ of ppm as measured (absent in files from before it was kept: those were known to 1 ppm). */
  sigmaPpm?: number;
  savedAtUtcMs: number;
  /** The DS3231's temperature when saved (°C), when one was read: the crystal's rate follows it. */
  tempC?: number;
}

/** A saved DAC rate, when it was saved and at what temperature. */
export interface SavedDacRate extends DacRate {
  savedAtUtcMs?: number;
  tempC?: number;
}

/** Any real save is later than this: earlier values are a monotonic clock's. */
const UTC_2020_MS = Date.UTC(2020, 0, 1);

/** What a file without sigmaPpm was known to: only rates known to 1 ppm were saved then. */
const DAC_LEGACY_SIGMA_PPM = 1;

/**
 * The DAC rate the last run saved for this device and sample rate; a note when a file is there but
 * not used (broken, another device or rate, beyond any DAC), for the log. No file: neither.
 */
export async function readDacPrior(
  dir: string,
  device: string,
  sampleRate: number,
): Promise<{ saved?: SavedDacRate; note?: string }> {
  const path = join(dir, DAC_STATE_FILE);
  let s: DacStateFile;
  try {
    s = JSON.parse(await readFile(path, 'utf8')) as DacStateFile;
    if (typeof s !== 'object' || s === null) throw new Error('not an object');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}; // none yet: the nominal rate, as on a first start
    return {
      note: `${path} is not a DAC state file (${(e as Error).message}): ignored; the rate is learned afresh and saved again`,
    };
  }
  const ignored = 'ignored, the rate is learned afresh';
  if (s.device !== device || s.sampleRate !== sampleRate)
    return {
      note: `${path} was measured on ${s.device} at ${s.sampleRate} Hz, this run plays to ${device} at ${sampleRate} Hz: ${ignored}`,
    };
  const rate = { ppm: s.ppm, sigmaPpm: s.sigmaPpm ?? DAC_LEGACY_SIGMA_PPM };
  if (s.v !== 1 || !isPlausibleDacRate(rate))
    return {
      note: `${path} holds no usable rate (${JSON.stringify(rate)}; a DAC is within ±${DAC_MAX_PPM} ppm): ${ignored}`,
    };
  // Files from before 2026-12-02 kept the monotonic clock's ms here, not UTC: their age is unknown.
  const dated = Number.isFinite(s.savedAtUtcMs) && s.savedAtUtcMs > UTC_2020_MS;
  return {
    saved: {
      ...rate,
      ...(dated && { savedAtUtcMs: s.savedAtUtcMs }),
      ...(Number.isFinite(s.tempC) && { tempC: s.tempC }),
    },
  };
}

/**
 * A saved DAC rate as this start's prior: its uncertainty grown by what can have moved the crystal
 * since (dacPriorFromSaved), and the log's line saying so. A save dated ahead of now (this clock or
 * that one was wrong) has no known age: its temperature then is not trusted either.
 */
export function dacPriorNow(
  saved: SavedDacRate,
  nowUtcMs: number,
  tempNowC?: number,
): { prior: DacRate; said: string } {
  const sinceDays = saved.savedAtUtcMs === undefined ? undefined : (nowUtcMs - saved.savedAtUtcMs) / MS_PER_DAY;
  const dated = sinceDays !== undefined && sinceDays >= -FUTURE_SAVE_SLACK_DAYS;
  const ageDays = dated ? Math.max(0, sinceDays) : 0;
  const tempThenC = dated ? saved.tempC : undefined;
  const tempDeltaC = tempNowC !== undefined && tempThenC !== undefined ? tempNowC - tempThenC : undefined;
  const prior = dacPriorFromSaved(saved, { ageDays, tempDeltaC });
  const temps =
    tempDeltaC === undefined
      ? 'the temperature then or now unknown'
      : `saved at ${tempThenC!.toFixed(1)} °C, now ${tempNowC!.toFixed(1)} °C`;
  const age = dated ? agoText(ageDays) : 'its age unknown';
  return {
    prior,
    said: `audio device rate from the last run: ${signed(prior.ppm, 2)} ± ${prior.sigmaPpm.toFixed(1)} ppm (measured ± ${saved.sigmaPpm.toFixed(1)}; ${temps}; ${age})`,
  };
}

export async function saveDacRate(
  dir: string,
  device: string,
  sampleRate: number,
  rate: DacRate,
  nowUtcMs: number,
  tempC?: number,
): Promise<void> {
  const s: DacStateFile = {
    v: 1,
    device,
    sampleRate,
    ppm: rate.ppm,
    sigmaPpm: rate.sigmaPpm,
    savedAtUtcMs: nowUtcMs,
    ...(tempC !== undefined && Number.isFinite(tempC) && { tempC }),
  };
  await writeFileAtomic(join(dir, DAC_STATE_FILE), JSON.stringify(s) + '\n', { createDir: true });
}
