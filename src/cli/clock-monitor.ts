import { chooseHardware } from './hardware-choice.js';
import { signed } from '../util/format.js';
import { hrtimeClock, sleepNs } from '../time/clock.js';
import { startTimingChain } from '../service/hardware.js';
import type { Config } from '../service/config.js';
import { createLogger } from '../service/log.js';
import { systemTimeZone, wallClock } from '../service/schedule.js';
import { formatErrorBound } from '../service/status.js';
import type { GpsSky } from '../../drivers/gps/types.js';
import { configIntOption, pathOption, secondsOption } from './options.js';

/**
 * `jaudiosync clock monitor`: the clock layer alone, once a second — what `chronyc tracking` is to
 * chrony. State is "locking" while a source has samples but no estimate yet.
 */

export interface ClockMonitorOptions {
  config: Config;
  gpsPort?: string;
  baud?: string;
  ppsPath?: string;
  rtcBus?: string;
  ntp?: string[];
  duration?: string;
  json?: boolean;
}

/** One row of the monitor (also its --json line). */
export interface MonitorRow {
  utc: string;
  /** Wall-clock time in the schedule's zone, e.g. "21:00:01 CEST". */
  local: string;
  state: string;
  source: string;
  /** True when any timing part is a simulated twin: what the row says is about this machine's clock, not the world. */
  simulated: boolean;
  systemMinusUtcNs: number;
  errorBoundNs: number | null;
  freqPpm: number;
  samples: number;
  samplesBySource: Record<string, number>;
  nmeaPerSec?: number | null;
  rtcMinusUtcNs?: number;
  rtcRatePpm?: number;
  satellites?: number | null;
  satellitesInView?: number | null;
  fixMode?: string | null;
  ppsPulses?: number;
}

/** The header is repeated this often (rows), as vmstat does, so a scrolled terminal keeps its columns. */
export const HEADER_EVERY_ROWS = 40;

const COLUMNS: Array<[string, number, (r: MonitorRow) => string]> = [
  ['UTC', 24, (r) => r.utc],
  ['Local', 14, (r) => r.local],
  // SIM on every row of twins: a scrolled terminal shows no header line that said so.
  ['State', 18, (r) => `${r.simulated ? 'SIM ' : ''}${r.state}`],
  ['Source', 8, (r) => r.source],
  ['Error bound', 11, (r) => formatErrorBound(r.errorBoundNs ?? Number.POSITIVE_INFINITY)],
  ['Freq ppm', 9, (r) => signed(r.freqPpm, 3)],
  ['System-UTC', 11, (r) => `${signed(r.systemMinusUtcNs / 1e6, 3)} ms`],
  ['Samples', 7, (r) => String(r.samples)],
  ['NMEA/s', 6, (r) => (r.nmeaPerSec == null ? '-' : r.nmeaPerSec.toFixed(1))],
  ['Fix', 6, (r) => r.fixMode ?? '-'],
  [
    'Sats',
    5,
    (r) =>
      r.satellites == null
        ? '-'
        : r.satellitesInView != null
          ? `${r.satellites}/${r.satellitesInView}`
          : String(r.satellites),
  ],
  ['RTC-UTC', 10, (r) => (r.rtcMinusUtcNs === undefined ? '-' : `${(r.rtcMinusUtcNs / 1e3).toFixed(1)} µs`)],
  ['RTC ppm', 8, (r) => (r.rtcRatePpm === undefined ? '-' : signed(r.rtcRatePpm, 3))],
];

/** The columns shown: "Local" only when the schedule's zone is not UTC itself. */
const columnsFor = (local: boolean) => COLUMNS.filter(([name]) => local || name !== 'Local');
/** Text columns are left-aligned, figures right-aligned under their names. */
const LEFT = new Set(['UTC', 'Local', 'State', 'Source']);

/** The header row: column names over the figures, with their units. */
export function monitorHeader(local = true): string {
  return columnsFor(local)
    .map(([name, w]) => (LEFT.has(name) ? name.padEnd(w) : name.padStart(w)))
    .join('  ')
    .trimEnd();
}

export function formatMonitorRow(r: MonitorRow, local = true): string {
  return columnsFor(local)
    .map(([name, w, f]) => (LEFT.has(name) ? f(r).padEnd(w) : f(r).padStart(w)))
    .join('  ')
    .trimEnd();
}

/** "21:00:01 CEST": the time of day in a zone. */
export function localTime(utcMs: number, timeZone: string): string {
  const w = wallClock(utcMs, timeZone);
  const name =
    new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' })
      .formatToParts(new Date(utcMs))
      .find((p) => p.type === 'timeZoneName')?.value ?? '';
  return `${[w.hour, w.minute, w.second].map((n) => String(n).padStart(2, '0')).join(':')} ${name}`.trim();
}

export async function clockMonitor(o: ClockMonitorOptions): Promise<number> {
  // Every option checked before anything starts (a bad one must leave no simulated GPS behind).
  const durationSec = o.duration !== undefined ? secondsOption('--duration', o.duration) : undefined;
  const baud = o.baud !== undefined ? configIntOption('--baud', o.baud, 'gps', 'baud', 'a baud rate') : undefined;
  const rtcBus =
    o.rtcBus !== undefined ? configIntOption('--rtc-bus', o.rtcBus, 'rtc', 'bus', 'an I2C bus number') : undefined;
  const log = createLogger(o.json ? process.stderr : process.stdout, false);
  const over = {
    gpsPort: o.gpsPort,
    baud,
    ppsPath: o.ppsPath !== undefined ? pathOption(o.ppsPath) : undefined,
    rtcBus,
    ntpServers: o.ntp,
  };
  const chain = await startTimingChain(o.config, log, { ...over, hardware: chooseHardware(o.config, over) });
  log.info(`timing: ${chain.describe}`); // on stderr with --json
  const zone = o.config.schedule.timezone || systemTimeZone();
  const showLocal = !['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT'].includes(zone);
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const endNs = durationSec !== undefined ? hrtimeClock.nowNs() + BigInt(Math.round(durationSec * 1e9)) : undefined;
  let next = hrtimeClock.nowNs() + 1_000_000_000n;
  let rows = 0;
  while (!stopped && (endNs === undefined || hrtimeClock.nowNs() < endNs)) {
    await sleepNs(hrtimeClock, Math.max(0, Number(next - hrtimeClock.nowNs())));
    next += 1_000_000_000n;
    const now = hrtimeClock.nowNs();
    const ts = chain.clock.timescale();
    const counts = chain.clock.sampleCounts();
    const samples = Object.values(counts).reduce((a, b) => a + b, 0);
    const utcMs = Number(ts.utcAt(now) / 1_000_000n);
    const gps = chain.gpsSource?.status;
    const sky: GpsSky | undefined = gps?.sky;
    const nmeaPerSec = chain.health().nmeaPerSec;
    const row: MonitorRow = {
      utc: new Date(utcMs).toISOString(),
      local: localTime(utcMs, zone),
      state: ts.state === 'unsynchronized' && samples > 0 ? 'locking' : ts.state,
      source: ts.source,
      simulated: chain.simulated,
      systemMinusUtcNs: chain.systemMinusUtcNs(),
      errorBoundNs: Number.isFinite(ts.errorBoundAt(now)) ? Math.round(ts.errorBoundAt(now)) : null,
      freqPpm: Number(ts.freqPpm.toFixed(4)),
      samples,
      samplesBySource: counts,
      ...(chain.gpsSource ? { nmeaPerSec: nmeaPerSec === undefined ? null : Number(nmeaPerSec.toFixed(2)) } : {}),
      ...(chain.rtcSource?.drift
        ? {
            rtcMinusUtcNs: Math.round(chain.rtcSource.drift.offsetNs),
            rtcRatePpm: Number(chain.rtcSource.drift.ratePpm.toFixed(4)),
          }
        : {}),
      ...(gps
        ? {
            satellites: sky?.used ?? gps.satellites ?? null,
            satellitesInView: sky?.inView ?? null,
            fixMode: sky?.fixMode ?? null,
            ppsPulses: gps.pulses,
          }
        : {}),
    };
    if (o.json) process.stdout.write(JSON.stringify(row) + '\n');
    else {
      if (rows++ % HEADER_EVERY_ROWS === 0) process.stdout.write(`${monitorHeader(showLocal)}\n`);
      process.stdout.write(`${formatMonitorRow(row, showLocal)}\n`);
    }
  }
  await chain.stop();
  return 0;
}
