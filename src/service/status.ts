import type { GpsSky } from '../../drivers/gps/types.js';
import type { SourceReport } from '../time/clock-layer.js';
import type { Timescale } from '../time/timescale.js';
import type { HardwareStatus } from './hardware.js';
import { formatDuration, signed } from '../util/format.js';
import { wallClock } from './schedule.js';

/** What a rider wants to see, in one line: clock, countdown, track and position. */

export function formatErrorBound(ns: number): string {
  if (!Number.isFinite(ns)) return 'unknown';
  if (ns < 1_000) return `±${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `±${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `±${(ns / 1e6).toFixed(1)} ms`;
  return `±${(ns / 1e9).toFixed(1)} s`;
}

export function formatClock(ts: Timescale, nowMonoNs: bigint): string {
  const state = ts.state === 'unsynchronized' ? 'UNSYNCHRONIZED' : ts.state;
  return `clock ${state} (${ts.source}, ${formatErrorBound(ts.errorBoundAt(nowMonoNs))})`;
}

const DAY_SEC = 86_400;

export { formatDuration };

const zoneNames = new Map<string, Intl.DateTimeFormat>();

/** The zone's abbreviation at an instant ("CEST", "GMT+2" where ICU has no name). */
function zoneName(utcMs: number, timeZone: string): string {
  let f = zoneNames.get(timeZone);
  if (!f) zoneNames.set(timeZone, (f = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' })));
  return f.formatToParts(new Date(utcMs)).find((p) => p.type === 'timeZoneName')?.value ?? timeZone;
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * An instant in the schedule's zone beside UTC: "2026-06-26 21:00:00 CEST (19:00:00 UTC)"; the UTC
 * date is repeated when it differs. A bad or empty zone shows UTC alone.
 */
export function formatInstant(utc: string | number, timeZone?: string): string {
  const ms = typeof utc === 'number' ? utc : Date.parse(utc);
  if (!Number.isFinite(ms)) return String(utc);
  const iso = new Date(ms).toISOString();
  const utcText = `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  if (!timeZone || timeZone === 'UTC' || timeZone === 'Etc/UTC') return utcText;
  let w;
  try {
    w = wallClock(ms, timeZone);
  } catch {
    return utcText;
  }
  const date = `${w.year}-${two(w.month)}-${two(w.day)}`;
  const local = `${date} ${two(w.hour)}:${two(w.minute)}:${two(w.second)} ${zoneName(ms, timeZone)}`;
  return `${local} (${date === iso.slice(0, 10) ? utcText.slice(11) : utcText})`;
}

/** Everything `jaudiosync status` shows; the service keeps one and the status socket serves it. */
export interface LiveStatus {
  pid: number;
  version: string;
  config: string;
  startedAtUtc: string;
  /** Fleet control, when enabled: broker, ride, the command set's digest, what was accepted and refused. */
  fleet?: import('../fleet/index.js').FleetSnapshot;
  /** The board (the device tree's model on a Pi) and kernel. */
  platform?: { model?: string; isPi: boolean; kernel?: string };
  /** Which timing parts are real, simulated, absent (not configured) or waiting (configured, not found yet). */
  hardware?: HardwareStatus;
  clock?: {
    state: string;
    source: string;
    errorBoundUs: number | null;
    freqPpm: number;
    /** The source is a twin: its "lock" is on this machine's own clock, not on the world. */
    simulated?: boolean;
    /** `satellites` is GGA's count in use; `gps` the receiver's sky (GSA/GSV), when it sends them. */
    rtcTempC?: number;
    cpuTempC?: number;
    satellites?: number;
    ppsPulses?: number;
    ppsLabelled?: number;
    gps?: GpsSky;
  };
  /** timeZone: the schedule's zone (schedule.timezone, else the system's): times are shown in it beside UTC. */
  schedule?: { nextStartUtc?: string; countdownSec?: number; decision?: string; note?: string; timeZone?: string };
  playback?: {
    state: string;
    track?: number;
    tracks?: number;
    title?: string;
    positionSec?: number;
    syncErrorUs?: number;
    ratioPpm?: number;
    reseeks?: number;
    underruns?: number;
    device?: string;
  };
  /** ppsFault: what is wrong with the PPS device now (unreadable, garbage, frozen), with its fix. */
  health?: {
    i2cErrors?: number;
    nmeaPerSec?: number;
    nmeaBad?: number;
    audioDevice?: string;
    ppsFault?: string;
    /** Timing parts configured but not found yet, each with why: retried in the background. */
    waiting?: string[];
    problems: string[];
  };
  /** Every time source as `chronyc sources` shows them (ClockLayer.sourcesReport()). */
  sources?: SourceReport[];
}

/** A small time difference in the unit that fits: "840 ns", "2.1 µs", "3.40 ms", "1.20 s". */
export function formatNs(ns: number, signed = false): string {
  if (!Number.isFinite(ns)) return '-';
  const sign = signed ? (ns < 0 ? '-' : '+') : ns < 0 ? '-' : '';
  const a = Math.abs(ns);
  const body =
    a < 1e3
      ? `${a.toFixed(0)} ns`
      : a < 1e6
        ? `${(a / 1e3).toFixed(1)} µs`
        : a < 1e9
          ? `${(a / 1e6).toFixed(2)} ms`
          : `${(a / 1e9).toFixed(2)} s`;
  return sign + body;
}

/** SNR at or above this (dB-Hz) is a strong signal, as cgps/gpsmon users read it: good timing needs a few. */
export const STRONG_SNR_DBHZ = 30;

const SYSTEM_LETTER: Record<string, string> = {
  GPS: 'G',
  SBAS: 'S',
  GLONASS: 'R',
  Galileo: 'E',
  BeiDou: 'C',
  QZSS: 'J',
  NavIC: 'I',
};

/** "3D fix, 8 of 12 satellites used (6 with SNR ≥ 30 dB-Hz), HDOP 0.9" from the receiver's sky. */
export function formatSky(sky: GpsSky): string {
  const strong = sky.satellites.filter((s) => (s.snrDbHz ?? 0) >= STRONG_SNR_DBHZ).length;
  const mode =
    sky.fixMode === undefined
      ? 'fix mode unknown'
      : sky.fixMode === 'fix'
        ? 'fix (2D/3D not reported)'
        : sky.fixMode === 'no fix'
          ? 'NO FIX'
          : `${sky.fixMode} fix`;
  const sats =
    sky.inView !== undefined
      ? `${sky.used ?? '?'} of ${sky.inView} satellites used (${strong} with SNR ≥ ${STRONG_SNR_DBHZ} dB-Hz)`
      : sky.used !== undefined
        ? `${sky.used} satellites used`
        : 'satellites unknown';
  return `${mode}, ${sats}${sky.hdop !== undefined ? `, HDOP ${sky.hdop.toFixed(1)}` : ''}`;
}

/** Satellites strongest first as cgps lists them, one token each: "G18 39*" (* = used in the fix, - = no signal). */
export function formatSatellites(sky: GpsSky): string[] {
  return [...sky.satellites]
    .sort((a, b) => (b.snrDbHz ?? -1) - (a.snrDbHz ?? -1) || a.system.localeCompare(b.system) || a.prn - b.prn)
    .map(
      (s) =>
        `${SYSTEM_LETTER[s.system] ?? '?'}${String(s.prn).padStart(2, '0')} ${s.snrDbHz === undefined ? ' -' : String(Math.round(s.snrDbHz)).padStart(2)}${s.used ? '*' : ' '}`,
    );
}

/** Tokens joined into lines of at most `width` characters, each line after the first indented. */
export function wrapTokens(tokens: string[], width: number, indent: string): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const t of tokens) {
    if (cur && cur.length + 2 + t.length > width) {
      lines.push(cur);
      cur = indent + t;
    } else cur = cur ? `${cur}  ${t}` : t;
  }
  if (cur) lines.push(cur);
  return lines.map((l) => l.trimEnd());
}

/** "PPS 1234 pulses, jitter 1.3 µs", the jitter being the gps+pps source's residual RMS (its Std Dev). */
export function formatPps(s: LiveStatus): string | undefined {
  const c = s.clock;
  if (c?.ppsPulses === undefined) return undefined;
  const src = s.sources?.find((x) => x.name === 'gps+pps');
  const jitter = src?.stdDevNs != null ? `, jitter ${formatNs(src.stdDevNs)}` : '';
  const age =
    src?.lastSampleAgeSec != null && src.lastSampleAgeSec > 3
      ? `, last labelled ${formatAge(src.lastSampleAgeSec)} ago`
      : '';
  return c.ppsPulses === 0
    ? 'PPS: no pulse seen'
    : `PPS ${c.ppsPulses} pulses${c.ppsLabelled !== undefined ? ` (${c.ppsLabelled} labelled)` : ''}${jitter}${age}`;
}

/** "12 s", "5 min", "3.2 h", "2.0 d": how long ago, compactly. */
export function formatAge(sec: number): string {
  if (!Number.isFinite(sec)) return '-';
  if (sec < 120) return `${Math.max(0, sec).toFixed(0)} s`;
  if (sec < 7200) return `${(sec / 60).toFixed(0)} min`;
  if (sec < 2 * DAY_SEC) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / DAY_SEC).toFixed(1)} d`;
}

/** `jaudiosync status` as text; `columns` wraps the satellite list (80 when not a terminal). */
export function formatStatus(s: LiveStatus, columns = 80): string {
  const c = s.clock,
    sc = s.schedule,
    p = s.playback,
    h = s.health;
  const tz = sc?.timeZone;
  const bound = c?.errorBoundUs == null ? 'unknown' : formatErrorBound(c.errorBoundUs * 1000);
  const indent = ' '.repeat(10);
  const lines = [
    `jaudiosync ${s.version}, pid ${s.pid}, config ${s.config}, up since ${formatInstant(s.startedAtUtc, tz)}${s.platform?.model ? `, on ${s.platform.model}` : ''}`,
    ...(s.hardware
      ? [
          `hardware  ${s.hardware.simulated ? "SIMULATED (twins on this machine's own clock: nothing here is about real time) — " : ''}GPS ${s.hardware.gps}, PPS ${s.hardware.pps}, RTC ${s.hardware.rtc}`,
        ]
      : []),
    `clock     ${c ? `${c.simulated ? 'SIMULATED ' : ''}${c.state} on ${c.source}, error bound ${bound}, frequency ${signed(c.freqPpm, 3)} ppm` : '?'}`,
  ];
  const gpsParts = [
    c?.gps ? formatSky(c.gps) : c?.satellites !== undefined ? `${c.satellites} satellites used` : undefined,
    formatPps(s),
  ].filter(Boolean);
  if (gpsParts.length) lines.push(`gps       ${gpsParts.join('; ')}`);
  if (c?.gps?.satellites.length)
    lines.push(...wrapTokens(formatSatellites(c.gps), columns - 1, indent).map((l, i) => (i ? l : `${indent}${l}`)));
  const temps = [
    c?.rtcTempC !== undefined ? `RTC ${c.rtcTempC.toFixed(2)} °C` : '',
    c?.cpuTempC !== undefined ? `CPU ${c.cpuTempC.toFixed(1)} °C` : '',
  ].filter(Boolean);
  if (temps.length) lines.push(`temps     ${temps.join(', ')}`);
  const countdown = sc?.countdownSec ? `, in ${formatDuration(sc.countdownSec)}` : '';
  lines.push(
    `schedule  ${sc?.nextStartUtc ? `start ${formatInstant(sc.nextStartUtc, tz)}${countdown}` : (sc?.note ?? 'nothing scheduled')}${sc?.decision ? `; ${sc.decision}` : ''}`,
  );
  const sync =
    p?.syncErrorUs !== undefined
      ? `, sync error ${p.syncErrorUs.toFixed(1)} µs, DAC correction ${signed(p.ratioPpm ?? 0, 1)} ppm`
      : '';
  lines.push(
    `playback  ${p ? `${p.state}${p.track ? `: track ${p.track}/${p.tracks} ${p.title ?? ''} at ${formatDuration(p.positionSec ?? 0)}` : ''}${sync}${p.reseeks ? `, ${p.reseeks} re-seeks` : ''}${p.underruns ? `, ${p.underruns} underruns` : ''}${p.device ? ` on ${p.device}` : ''}` : '?'}`,
  );
  const problems = [...(h?.ppsFault ? [h.ppsFault] : []), ...(h?.waiting ?? []), ...(h?.problems ?? [])];
  lines.push(
    `health    I2C errors ${h?.i2cErrors ?? 0}${h?.nmeaPerSec !== undefined ? `, NMEA ${h.nmeaPerSec.toFixed(1)} sentences/s (${h.nmeaBad ?? 0} bad)` : ''}${problems.length ? `\n${indent}${problems.join(`\n${indent}`)}` : ''}`,
  );
  return lines.join('\n') + '\n';
}

/** What the `run` status line shows; every part but the clock is optional. */
export interface StatusLineFields {
  /** simulated: the clock runs on twins (said first, at every width). */
  clock: { state: string; source: string; errorBoundNs: number; simulated?: boolean };
  /** Seconds until the start, while waiting for it. */
  startInSec?: number;
  track?: { number: number; count: number; positionSec: number; lengthSec: number; title: string };
  /** Anything else the session is doing: "waiting for lock (PPS 3, labelled 2)", "finishing". */
  note?: string;
  /** The aligner: sync error against the timeline, the DAC rate correction, re-seeks so far. */
  sync?: { errorUs: number; dacPpm: number; reseeks?: number };
  underruns?: number;
}

/** A title is cut to no fewer than this many characters (and an ellipsis), else left out. */
const MIN_TITLE_CHARS = 8;
const SEP = ' | ';

/** Characters as a terminal counts them (µ, ±, … are one column each; no wide glyphs here). */
const width = (s: string) => [...s].length;

function cut(s: string, room: number): string {
  const chars = [...s];
  return chars.length <= room
    ? s
    : `${chars
        .slice(0, Math.max(0, room - 1))
        .join('')
        .trimEnd()}…`;
}

/** The resampling that follows the DAC, as `status` names it (a bare "DAC" read like the DAC's own rate). */
const DAC_LABEL = ['DAC correction', 'DAC corr'];

/**
 * The `run` status line, fitted to `columns` (a terminal's width): the clock and the sync error
 * always show. Narrower, the labels shorten and the least useful figures go (re-seeks, the track's
 * length, the DAC correction, the position), the title is cut with an ellipsis, and only then left
 * out. Without `columns` (journald, a pipe) the full line. Labels say what each number is.
 */
export function formatStatusLine(f: StatusLineFields, columns?: number): string {
  const unsync = f.clock.state === 'unsynchronized';
  const bound = formatErrorBound(f.clock.errorBoundNs);
  const t = f.track;
  const variants = [0, 1, 2, 3].map((level) => {
    const sim = f.clock.simulated ? (level === 0 ? 'SIMULATED ' : 'SIM ') : '';
    const clock =
      level === 0
        ? `${sim}clock ${unsync ? 'UNSYNCHRONIZED' : f.clock.state} (${f.clock.source}, ${bound})`
        : `${sim}${unsync ? 'UNSYNC' : f.clock.state} ${f.clock.source} ${bound}`;
    const trackText =
      t &&
      [
        `track ${t.number}/${t.count} ${formatDuration(t.positionSec)}/${formatDuration(t.lengthSec)}`,
        `${t.number}/${t.count} ${formatDuration(t.positionSec)}/${formatDuration(t.lengthSec)}`,
        `${t.number}/${t.count} ${formatDuration(t.positionSec)}`,
        `${t.number}/${t.count}`,
      ][level];
    const where = f.startInSec !== undefined ? `start in ${formatDuration(Math.ceil(f.startInSec))}` : trackText;
    const s = f.sync;
    const sync = s
      ? `sync err ${s.errorUs.toFixed(1)} µs${level < 2 ? `, ${DAC_LABEL[level]} ${signed(s.dacPpm, 1)} ppm` : ''}${level === 0 && s.reseeks ? `, ${s.reseeks} re-seeks` : ''}`
      : undefined;
    const under = f.underruns ? `underruns ${f.underruns}` : undefined;
    return { clock, where, sync, under, title: t && f.startInSec === undefined ? t.title : undefined };
  });
  const render = (v: (typeof variants)[number], title?: string) =>
    [v.clock, v.where && title ? `${v.where} ${title}` : v.where, f.note, v.sync, v.under].filter(Boolean).join(SEP);
  if (columns === undefined) return render(variants[0]!, variants[0]!.title);
  const room = Math.max(20, columns - 1); // the last column would make some terminals wrap
  for (const v of variants) {
    if (!v.title) continue;
    const left = room - width(render(v, ' ')) + 1; // what the title may take after its space
    if (left >= Math.min(MIN_TITLE_CHARS, width(v.title))) return render(v, cut(v.title, left));
  }
  for (const v of variants) if (width(render(v)) <= room) return render(v);
  // Narrower than any layout: the clock and the sync error first, then whatever fits.
  const last = variants.at(-1)!;
  return cut([last.clock, last.sync, last.where, f.note, last.under].filter(Boolean).join(SEP), room);
}
