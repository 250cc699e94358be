import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../service/atomic-file.js';
import type { RtcCalibration } from './sources/rtc.js';

/**
 * The RTC calibration file: its rate against GPS and when it was last set on the second, so that a
 * device booting without GPS knows how far its RTC has drifted since. JSON, written atomically;
 * calibrate/ (a later issue) adds a temperature model beside these fields.
 */

export interface RtcCalibrationFile {
  v: 1;
  ratePpm: number;
  rateUncertaintyPpm: number;
  /** ISO 8601 UTC instant of the last set on the second, and how far off that set may be (ns). */
  setAt?: string;
  setErrorNs?: number;
  measuredAt?: string;
}

/** Reads it; undefined when there is none; a broken file is reported through `warn` and ignored. */
export async function readRtcCalibration(path: string, warn: (m: string) => void): Promise<RtcCalibration | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const f = JSON.parse(text) as RtcCalibrationFile;
    if (typeof f.ratePpm !== 'number' || typeof f.rateUncertaintyPpm !== 'number') throw new Error('ratePpm and rateUncertaintyPpm must be numbers');
    const setMs = f.setAt ? Date.parse(f.setAt) : NaN;
    return {
      ratePpm: f.ratePpm, rateUncertaintyPpm: f.rateUncertaintyPpm,
      setAtUtcNs: Number.isFinite(setMs) ? BigInt(setMs) * 1_000_000n : undefined, setErrorNs: f.setErrorNs,
    };
  } catch (e) {
    warn(`RTC calibration file ${path} is not usable (${(e as Error).message}); ignoring it. Delete it, or let the next GPS lock rewrite it.`);
    return undefined;
  }
}

export async function writeRtcCalibration(path: string, c: RtcCalibration, measuredAtUtcNs?: bigint): Promise<void> {
  const f: RtcCalibrationFile = {
    v: 1, ratePpm: Number(c.ratePpm.toFixed(4)), rateUncertaintyPpm: Number(c.rateUncertaintyPpm.toFixed(4)),
    ...(c.setAtUtcNs !== undefined ? { setAt: new Date(Number(c.setAtUtcNs / 1_000_000n)).toISOString(), setErrorNs: c.setErrorNs } : {}),
    ...(measuredAtUtcNs !== undefined ? { measuredAt: new Date(Number(measuredAtUtcNs / 1_000_000n)).toISOString() } : {}),
  };
  // Keep what calibrate apply wrote beside these fields (aging history, temperature models).
  const previous = await readFile(path, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>).catch(() => ({}));
  await writeFileAtomic(path, JSON.stringify({ ...previous, ...f }, null, 2) + '\n');
}
