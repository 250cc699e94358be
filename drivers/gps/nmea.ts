import nmea from 'nmea-simple';
import type { GpsContext, GpsTimeFix, TimeSentence } from './types.js';

/**
 * NMEA line -> time fix. Time and date fields are parsed here with integer arithmetic (".020" is
 * exactly 20 ms; nmea-simple reads 3-digit fractions of RMC as 0 ms and fills GGA/GLL dates from
 * the system clock), and only RMC (status A) and ZDA carry a date we trust. nmea-simple serves the
 * context fields of GGA.
 */

const NS_PER_SEC = 1_000_000_000n;
const DAY_NS = 86_400n * NS_PER_SEC;
/** 1024 GPS weeks: what a receiver with the week-rollover bug is behind by. */
export const ROLLOVER_NS = 1024n * 7n * DAY_NS;
/**
 * Dates up to this far before the floor are taken as genuine: a capture's "# Date:" header or an
 * RTC can be months later than the data. A rollover victim is 19.6 years behind, far beyond it.
 */
export const FLOOR_SLACK_NS = 366n * DAY_NS;
/** Talkers we take time from: GPS, multi-GNSS, GLONASS, Galileo, BeiDou (two spellings). */
const TIME_TALKERS = new Set(['GP', 'GN', 'GL', 'GA', 'GB', 'BD']);
/** No NMEA 0183 sentence is longer than 82 characters; allow slack for vendor extensions. */
const MAX_SENTENCE_CHARS = 120;

export type RolloverPolicy = 'correct' | 'reject';

export interface NmeaOptions {
  /** No true date can be earlier than this (build date, RTC date, or a capture's date). */
  floorUtcNs?: bigint;
  rollover?: RolloverPolicy;
}

export type NmeaResult =
  | { kind: 'fix'; fix: GpsTimeFix }
  | { kind: 'context'; context: GpsContext; todNs?: bigint }
  | { kind: 'other'; talker: string; sentence: string }
  | { kind: 'bad-checksum' }
  | { kind: 'garbage' };

/** Verifies "$...*HH" and returns the body between $ and *, or undefined. */
export function checkSentence(line: string): { body: string } | 'bad-checksum' | undefined {
  const start = line.lastIndexOf('$'); // binary noise may precede the sentence on the same line
  if (start < 0) return undefined;
  const text = line.slice(start).trimEnd();
  const star = text.lastIndexOf('*');
  if (star < 0 || star !== text.length - 3 || text.length > MAX_SENTENCE_CHARS) return undefined;
  const body = text.slice(1, star);
  if (!/^[\x20-\x7e]+$/.test(body)) return undefined;
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  const given = parseInt(text.slice(star + 1), 16);
  if (!/^[0-9A-Fa-f]{2}$/.test(text.slice(star + 1)) || given !== sum) return 'bad-checksum';
  return { body };
}

/** "hhmmss[.f...]" -> ns since midnight, exactly; undefined when malformed. */
export function parseTimeOfDay(field: string): bigint | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(field);
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (h > 23 || mi > 59 || s > 60) return undefined; // 60: a leap second
  const fracNs = m[4] ? BigInt(m[4].padEnd(9, '0')) : 0n;
  return BigInt(h * 3600 + mi * 60 + s) * NS_PER_SEC + fracNs;
}

function dayNs(year: number, month: number, day: number): bigint | undefined {
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  const ms = Date.UTC(year, month - 1, day);
  const d = new Date(ms);
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month - 1) return undefined; // e.g. 31 Feb
  return BigInt(ms) * 1_000_000n;
}

export function parseNmeaLine(line: string, monoNs: bigint, opts: NmeaOptions = {}): NmeaResult {
  const checked = checkSentence(line);
  if (checked === undefined) return { kind: 'garbage' };
  if (checked === 'bad-checksum') return { kind: 'bad-checksum' };
  const fields = checked.body.split(',');
  const address = fields[0]!;
  const talker = address.slice(0, 2);
  const sentence = address.slice(2);
  if (address.length !== 5 || !TIME_TALKERS.has(talker)) return { kind: 'other', talker, sentence };
  switch (sentence) {
    case 'RMC': return rmc(fields, talker, monoNs, opts);
    case 'ZDA': return zda(fields, talker, monoNs, opts);
    case 'GGA': return gga(line, fields, talker, monoNs);
    default: return { kind: 'other', talker, sentence };
  }
}

function invalid(sentence: TimeSentence, talker: string, monoNs: bigint, reason: string, utcNs: bigint | null = null): NmeaResult {
  return { kind: 'fix', fix: { monoNs, utcNs, valid: false, reason, talker, sentence } };
}

function rmc(f: string[], talker: string, monoNs: bigint, opts: NmeaOptions): NmeaResult {
  const tod = parseTimeOfDay(f[1] ?? '');
  const date = /^(\d{2})(\d{2})(\d{2})$/.exec(f[9] ?? '');
  if (tod === undefined) return invalid('RMC', talker, monoNs, 'no time of day');
  if (!date) return invalid('RMC', talker, monoNs, 'no date');
  const yy = Number(date[3]);
  // Two-digit years: GPS time starts in 1980, so 80-99 are the 1900s.
  const day = dayNs(yy >= 80 ? 1900 + yy : 2000 + yy, Number(date[2]), Number(date[1]));
  if (day === undefined) return invalid('RMC', talker, monoNs, `impossible date ${f[9]}`);
  const status = f[2];
  if (status !== 'A') return invalid('RMC', talker, monoNs, `no fix (RMC status ${status || 'empty'})`, day + tod);
  return dated('RMC', talker, monoNs, day + tod, opts);
}

function zda(f: string[], talker: string, monoNs: bigint, opts: NmeaOptions): NmeaResult {
  const tod = parseTimeOfDay(f[1] ?? '');
  if (tod === undefined) return invalid('ZDA', talker, monoNs, 'no time of day');
  if (!/^\d{2}$/.test(f[2] ?? '') || !/^\d{2}$/.test(f[3] ?? '') || !/^\d{4}$/.test(f[4] ?? '')) {
    return invalid('ZDA', talker, monoNs, 'no date');
  }
  const day = dayNs(Number(f[4]), Number(f[3]), Number(f[2]));
  if (day === undefined) return invalid('ZDA', talker, monoNs, `impossible date ${f[2]}.${f[3]}.${f[4]}`);
  return dated('ZDA', talker, monoNs, day + tod, opts);
}

function dated(sentence: TimeSentence, talker: string, monoNs: bigint, utcNs: bigint, opts: NmeaOptions): NmeaResult {
  const floor = opts.floorUtcNs;
  if (floor !== undefined && utcNs < floor - FLOOR_SLACK_NS) {
    const corrected = utcNs + ROLLOVER_NS;
    if ((opts.rollover ?? 'correct') === 'correct' && corrected >= floor - FLOOR_SLACK_NS) {
      return { kind: 'fix', fix: { monoNs, utcNs: corrected, valid: true, talker, sentence, rolloverCorrected: true } };
    }
    return invalid(sentence, talker, monoNs, 'date before the floor: GPS week-rollover bug', utcNs);
  }
  return { kind: 'fix', fix: { monoNs, utcNs, valid: true, talker, sentence } };
}

const QUALITY: Record<string, number> = { none: 0, fix: 1, delta: 2, pps: 3, rtk: 4, frtk: 5, estimated: 6, manual: 7, simulation: 8 };

function gga(line: string, f: string[], talker: string, monoNs: bigint): NmeaResult {
  const todNs = parseTimeOfDay(f[1] ?? '');
  try {
    const p = nmea.parseNmeaSentence(line.slice(line.lastIndexOf('$')).trim());
    if (p.sentenceId === 'GGA') {
      return { kind: 'context', context: { monoNs, quality: QUALITY[p.fixType] ?? 0, satellites: p.satellitesInView }, todNs };
    }
  } catch {
    // nmea-simple is stricter about empty fields than receivers are; fall back to the raw fields.
  }
  return { kind: 'context', context: { monoNs, quality: Number(f[6]) || 0, satellites: Number(f[7]) || 0 }, todNs };
}

/** A status older than this (s of the receiver's own time) says nothing about a ZDA. */
const FIX_STATUS_MAX_AGE_NS = 2_000_000_000n;

/**
 * ZDA carries a date but no fix status, and receivers send it from their own clock before they have
 * a fix. The gate remembers the latest fix status (RMC A/V, GGA quality) and lets a ZDA count only
 * while the receiver says it has a fix. Stateful: one per receiver.
 */
export class FixGate {
  private status?: { ok: boolean; todNs: bigint };

  /** Feeds a parse result; returns it, with ZDA fixes invalidated when no fix is known. */
  pass(r: NmeaResult): NmeaResult {
    if (r.kind === 'context') {
      if (r.todNs !== undefined) this.status = { ok: r.context.quality > 0, todNs: r.todNs };
      return r;
    }
    if (r.kind !== 'fix') return r;
    const tod = r.fix.utcNs !== null ? ((r.fix.utcNs % DAY_NS) + DAY_NS) % DAY_NS : undefined;
    if (r.fix.sentence === 'RMC') {
      if (tod !== undefined) this.status = { ok: r.fix.valid || r.fix.reason?.includes('rollover') === true, todNs: tod };
      return r;
    }
    if (r.fix.sentence === 'ZDA' && r.fix.valid) {
      const s = this.status;
      const fresh = s && tod !== undefined && absDiffTod(tod, s.todNs) <= FIX_STATUS_MAX_AGE_NS;
      if (!s || !fresh) return { kind: 'fix', fix: { ...r.fix, valid: false, reason: 'ZDA without a fix status from RMC or GGA: the receiver may have no fix' } };
      if (!s.ok) return { kind: 'fix', fix: { ...r.fix, valid: false, reason: 'no fix (ZDA while RMC/GGA report none)' } };
    }
    return r;
  }
}

function absDiffTod(a: bigint, b: bigint): bigint {
  const d = a > b ? a - b : b - a;
  return d > DAY_NS / 2n ? DAY_NS - d : d;
}
