import { existsSync } from 'node:fs';
import type { Config } from '../src/service/config.js';
import { startTimingChain, type HardwareFactory } from '../src/service/hardware.js';
import type { Logger } from '../src/service/log.js';
import { formatDuration } from '../src/service/status.js';
import { hrtimeClock, sleepNs } from '../src/time/clock.js';
import { readRecording } from './recording.js';

/**
 * `jaudiosync calibrate record`: runs the timing chain with only the chosen reference and writes
 * every sample, servo and RTC record to one file (the drift log format), with a progress line, its
 * ETA and the live rate. Run again with the same file, it continues (after Ctrl-C or a reboot):
 * the time already recorded counts towards the duration, and the analysis joins the segments.
 */

export type RecordReference = 'gps' | 'ntp' | 'rtc';
export type RecordSubject = 'system' | 'rtc' | 'both';

/** One recording file, whatever its length (6 h at 1 Hz is ~10 MB). */
const RECORDING_MAX_BYTES = 2_000_000_000;
const PROGRESS_EVERY_MS = 1000;
const BAR = 30;

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$/.exec(s.trim());
  if (!m) throw new Error(`--duration "${s}": expected e.g. 90s, 30m, 6h or 2d`);
  const n = Number(m[1]);
  return n * ({ s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2] ?? 's'] ?? 1);
}

export function recordingConfig(base: Config, reference: RecordReference, subject: RecordSubject, out: string): Config {
  if ((subject === 'rtc' || subject === 'both') && reference !== 'gps') {
    throw new Error(`--subject ${subject} needs --reference gps: the RTC is measured against GPS seconds (to measure the system clock with no network at all: --reference rtc --subject system)`);
  }
  if (reference === 'ntp' && base.ntp.servers.length === 0) throw new Error('--reference ntp needs ntp.servers in the config (--config FILE)');
  return {
    ...base,
    gps: { ...base.gps, enabled: reference === 'gps' },
    rtc: { ...base.rtc, enabled: reference === 'rtc' || subject !== 'system' },
    ntp: { ...base.ntp, servers: reference === 'ntp' ? base.ntp.servers : [] },
    clock: { ...base.clock, drift_log: out },
  };
}

export async function record(o: { config: Config; hardware: HardwareFactory; reference: RecordReference; subject: RecordSubject; durationSec: number; out: string; log: Logger; abort: AbortSignal }): Promise<void> {
  const config = recordingConfig(o.config, o.reference, o.subject, o.out);
  let alreadySec = 0;
  if (existsSync(o.out)) {
    const prev = await readRecording([o.out]);
    if (prev.fromUtcNs !== undefined && prev.toUtcNs !== undefined) alreadySec = Number(prev.toUtcNs - prev.fromUtcNs) / 1e9;
    for (const p of prev.problems) o.log.warn(p);
    o.log.info(`${o.out} exists: continuing it (${formatDuration(alreadySec)} of ${formatDuration(o.durationSec)} recorded already)`);
  }
  const chain = await startTimingChain(config, o.log, { hardware: o.hardware, driftLogMaxBytes: RECORDING_MAX_BYTES });
  o.log.info(`recording the ${o.subject === 'both' ? 'system clock and the RTC' : o.subject === 'rtc' ? 'RTC' : 'system clock'} against ${o.reference} into ${o.out}: ${chain.describe}`);
  const t0 = hrtimeClock.nowNs();
  try {
    for (;;) {
      if (o.abort.aborted) { o.log.info(`stopped: run the same command again to continue ${o.out}`); break; }
      const now = hrtimeClock.nowNs();
      const doneSec = alreadySec + Number(now - t0) / 1e9;
      if (doneSec >= o.durationSec) { o.log.info(`done: ${formatDuration(o.durationSec)} recorded in ${o.out}; next: jaudiosync calibrate report ${o.out}`); break; }
      const ts = chain.clock.timescale();
      const frac = Math.min(1, doneSec / o.durationSec);
      const bar = '#'.repeat(Math.round(frac * BAR)).padEnd(BAR, '-');
      const live = ts.state === 'locked' ? `system ${ts.freqPpm >= 0 ? '+' : ''}${ts.freqPpm.toFixed(3)} ppm vs ${ts.source}` : `waiting for ${o.reference} (${ts.state})`;
      const lastLine = `[${bar}] ${(frac * 100).toFixed(1)} % ETA ${formatDuration(o.durationSec - doneSec)} | ${live}`;
      o.log.status(lastLine); // rewritten in place on a TTY, printed every 10 s otherwise
      await sleepNs(hrtimeClock, PROGRESS_EVERY_MS * 1e6);
    }
  } finally {
    await chain.stop();
  }
}
