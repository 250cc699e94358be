import type { Config } from '../src/service/config.js';
import { startTimingChain, type HardwareFactory, type TimingChain } from '../src/service/hardware.js';
import type { Logger } from '../src/service/log.js';
import { formatDuration } from '../src/service/status.js';
import { hrtimeClock, sleepNs } from '../src/time/clock.js';
import { readCalibration, updateCalibration } from '../src/time/rtc-calibration.js';
import { fileSize, whyNotWritable } from '../src/util/files.js';
import { readRecording } from './recording.js';

/**
 * `jaudiosync calibrate record`: runs the timing chain with only the chosen reference and writes
 * every sample, servo and RTC record to one file (the drift log format), with a progress line, its
 * ETA and the live rate. Run again with the same file, it continues (after Ctrl-C or a reboot):
 * the time already recorded counts towards the duration, and the analysis joins the segments.
 *
 * The DS3231 under measurement is never set: not by this process (set_on_lock is off), and the
 * service is told through the calibration store (recordingInProgress, see rtcSetHeld) while this
 * runs. A set that happens anyway shows as a step and splits the analysis into segments.
 */

export type RecordReference = 'gps' | 'ntp' | 'rtc';
export type RecordSubject = 'system' | 'rtc' | 'both';

/** One recording file, whatever its length (6 h at 1 Hz is ~10 MB). */
const RECORDING_MAX_BYTES = 2_000_000_000;
const PROGRESS_EVERY_MS = 1000;
const BAR = 30;
/** Longer than a month is a typo (the file would pass RECORDING_MAX_BYTES at 1 Hz in about 6 months, too). */
export const MAX_DURATION_SEC = 31 * 86_400;

/** "90s", "30m", "6h", "2d" (a bare number is seconds): more than 0, at most MAX_DURATION_SEC. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$/.exec(s.trim());
  if (!m) throw new Error(`--duration "${s}": expected a length such as 90s, 30m, 6h or 2d`);
  const sec = Number(m[1]) * ({ s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2] ?? 's'] ?? 1);
  if (!(sec >= 1))
    throw new Error(`--duration "${s}": must be at least 1 s (a drift measurement wants hours: 6h is a good start)`);
  if (sec > MAX_DURATION_SEC) throw new Error(`--duration "${s}": at most 31d`);
  return sec;
}

export function recordingConfig(base: Config, reference: RecordReference, subject: RecordSubject, out: string): Config {
  if ((subject === 'rtc' || subject === 'both') && reference !== 'gps') {
    throw new Error(
      `--subject ${subject} needs --reference gps: the RTC is measured against GPS seconds (to measure the system clock with no network at all: --reference rtc --subject system)`,
    );
  }
  if (reference === 'ntp' && base.ntp.servers.length === 0)
    throw new Error('--reference ntp needs ntp.servers in the config (--config FILE)');
  return {
    ...base,
    gps: { ...base.gps, enabled: reference === 'gps' },
    // Never set the clock under measurement: a set is a jump in the very record being made.
    rtc: { ...base.rtc, enabled: reference === 'rtc' || subject !== 'system', set_on_lock: false },
    ntp: { ...base.ntp, servers: reference === 'ntp' ? base.ntp.servers : [] },
    clock: { ...base.clock, drift_log: out },
  };
}

export async function record(o: {
  config: Config;
  hardware: HardwareFactory;
  reference: RecordReference;
  subject: RecordSubject;
  durationSec: number;
  out: string;
  calibrationPath: string;
  log: Logger;
  abort: AbortSignal;
}): Promise<void> {
  const config = recordingConfig(o.config, o.reference, o.subject, o.out);
  const why = await whyNotWritable(o.out);
  if (why) throw new Error(`cannot record into ${o.out}: ${why}`);
  let alreadySec = 0;
  const sizeBefore = await fileSize(o.out);
  if (sizeBefore > 0) {
    const prev = await readRecording([o.out]);
    if (prev.fromUtcNs !== undefined && prev.toUtcNs !== undefined)
      alreadySec = Number(prev.toUtcNs - prev.fromUtcNs) / 1e9;
    for (const p of prev.problems) o.log.warn(p);
    o.log.info(
      `${o.out} exists: continuing it (${formatDuration(alreadySec)} of ${formatDuration(o.durationSec)} recorded already)`,
    );
  }
  const holdsRtc = config.rtc.enabled && o.subject !== 'system';
  if (holdsRtc) await holdRtc(o.calibrationPath, o.out, o.log);
  try {
    const chain = await startTimingChain(config, o.log, {
      hardware: o.hardware,
      driftLogMaxBytes: RECORDING_MAX_BYTES,
    });
    try {
      // The chain's drift log starts the file with a header saying which sources are twins.
      if (chain.simulated)
        o.log.warn(
          `SIMULATED sources (${chain.describe}): this recording says so, and calibrate apply will not trim a real DS3231 from it`,
        );
      o.log.info(
        `recording the ${o.subject === 'both' ? 'system clock and the RTC' : o.subject === 'rtc' ? 'RTC' : 'system clock'} against ${o.reference} into ${o.out}: ${chain.describe}${holdsRtc ? ' (the DS3231 is not set while this runs)' : ''}`,
      );
      await progress(chain, o, alreadySec);
    } finally {
      await chain.stop();
    }
  } finally {
    if (holdsRtc) await releaseRtc(o.calibrationPath, o.log);
  }
  const grown = (await fileSize(o.out)) - sizeBefore;
  if (grown <= 0) throw new Error(`nothing was written to ${o.out} (see the warnings above): no recording made`);
}

async function progress(
  chain: TimingChain,
  o: { reference: RecordReference; durationSec: number; out: string; log: Logger; abort: AbortSignal },
  alreadySec: number,
): Promise<void> {
  const t0 = hrtimeClock.nowNs();
  for (;;) {
    if (o.abort.aborted) {
      o.log.info(`stopped: run the same command again to continue ${o.out}`);
      return;
    }
    const doneSec = alreadySec + Number(hrtimeClock.nowNs() - t0) / 1e9;
    if (doneSec >= o.durationSec) {
      o.log.info(
        `done: ${formatDuration(o.durationSec)} recorded in ${o.out}; next: jaudiosync calibrate report ${o.out}`,
      );
      return;
    }
    const ts = chain.clock.timescale();
    const frac = Math.min(1, doneSec / o.durationSec);
    const bar = '#'.repeat(Math.round(frac * BAR)).padEnd(BAR, '-');
    const live =
      ts.state === 'locked'
        ? `system ${ts.freqPpm >= 0 ? '+' : ''}${ts.freqPpm.toFixed(3)} ppm vs ${ts.source}`
        : `waiting for ${o.reference} (${ts.state})`;
    // in place on a TTY, every 10 s otherwise
    o.log.status(`[${bar}] ${(frac * 100).toFixed(1)} % ETA ${formatDuration(o.durationSec - doneSec)} | ${live}`);
    await sleepNs(hrtimeClock, PROGRESS_EVERY_MS * 1e6);
  }
}

/** Tells every other writer of the store (the service) not to set the RTC while this process lives. */
async function holdRtc(path: string, out: string, log: Logger): Promise<void> {
  try {
    await updateCalibration(
      path,
      { recordingInProgress: { pid: process.pid, out, since: new Date().toISOString() } },
      log.warn,
    );
  } catch (e) {
    log.warn(
      `cannot mark ${path} (${(e as Error).message}): a running service may set the DS3231 during this recording; stop it (systemctl stop jaudiosync) or the analysis will split at the set`,
    );
  }
}

async function releaseRtc(path: string, log: Logger): Promise<void> {
  try {
    if ((await readCalibration(path)).file?.recordingInProgress?.pid === process.pid)
      await updateCalibration(path, { recordingInProgress: null }, log.warn);
  } catch (e) {
    log.warn(
      `cannot clear the recording mark in ${path}: ${(e as Error).message} (it is ignored once this process has ended)`,
    );
  }
}
