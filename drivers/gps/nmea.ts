import nmea from 'nmea-simple';
import type { FixMode, GnssSystem, GpsContext, GpsSky, GpsTimeFix, SatelliteInView, TimeSentence } from './types.js';

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
  /** Any other sentence; GSV and GSA carry their parsed fields in `sky` (for SkyView). */
  | { kind: 'other'; talker: string; sentence: string; sky?: SkyPart }
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
  if (address.length !== 5 || !(TIME_TALKERS.has(talker) || SKY_TALKERS.has(talker)))
    return { kind: 'other', talker, sentence };
  if (!TIME_TALKERS.has(talker) && sentence !== 'GSV' && sentence !== 'GSA') return { kind: 'other', talker, sentence };
  switch (sentence) {
    case 'RMC':
      return rmc(fields, talker, monoNs, opts);
    case 'ZDA':
      return zda(fields, talker, monoNs, opts);
    case 'GGA':
      return gga(line, fields, talker, monoNs);
    case 'GSV':
      return { kind: 'other', talker, sentence, sky: gsv(fields, talker, monoNs) };
    case 'GSA':
      return { kind: 'other', talker, sentence, sky: gsa(fields, talker, monoNs) };
    default:
      return { kind: 'other', talker, sentence };
  }
}

function invalid(
  sentence: TimeSentence,
  talker: string,
  monoNs: bigint,
  reason: string,
  utcNs: bigint | null = null,
): NmeaResult {
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

const QUALITY: Record<string, number> = {
  none: 0,
  fix: 1,
  delta: 2,
  pps: 3,
  rtk: 4,
  frtk: 5,
  estimated: 6,
  manual: 7,
  simulation: 8,
};

function gga(line: string, f: string[], talker: string, monoNs: bigint): NmeaResult {
  const todNs = parseTimeOfDay(f[1] ?? '');
  try {
    const p = nmea.parseNmeaSentence(line.slice(line.lastIndexOf('$')).trim());
    if (p.sentenceId === 'GGA') {
      return {
        kind: 'context',
        context: { monoNs, quality: QUALITY[p.fixType] ?? 0, satellites: p.satellitesInView, ...dop('hdop', f[8]) },
        todNs,
      };
    }
  } catch {
    // nmea-simple is stricter about empty fields than receivers are; fall back to the raw fields.
  }
  return {
    kind: 'context',
    context: { monoNs, quality: Number(f[6]) || 0, satellites: Number(f[7]) || 0, ...dop('hdop', f[8]) },
    todNs,
  };
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
      if (tod !== undefined)
        this.status = { ok: r.fix.valid || r.fix.reason?.includes('rollover') === true, todNs: tod };
      return r;
    }
    if (r.fix.sentence === 'ZDA' && r.fix.valid) {
      const s = this.status;
      const fresh = s && tod !== undefined && absDiffTod(tod, s.todNs) <= FIX_STATUS_MAX_AGE_NS;
      if (!s || !fresh)
        return {
          kind: 'fix',
          fix: {
            ...r.fix,
            valid: false,
            reason: 'ZDA without a fix status from RMC or GGA: the receiver may have no fix',
          },
        };
      if (!s.ok)
        return { kind: 'fix', fix: { ...r.fix, valid: false, reason: 'no fix (ZDA while RMC/GGA report none)' } };
    }
    return r;
  }
}

function absDiffTod(a: bigint, b: bigint): bigint {
  const d = a > b ? a - b : b - a;
  return d > DAY_NS / 2n ? DAY_NS - d : d;
}

// ---- The sky: GSV (satellites in view, SNR) and GSA (fix mode, satellites used, DOP) ----

/** Talkers whose GSV/GSA we read beyond the time talkers: QZSS and NavIC. */
const SKY_TALKERS = new Set(['GQ', 'GI']);
/** NMEA 4.10 GSA system IDs, and the talker each constellation's GSV comes under. */
const SYSTEM_BY_ID: Record<string, GnssSystem> = {
  1: 'GPS',
  2: 'GLONASS',
  3: 'Galileo',
  4: 'BeiDou',
  5: 'QZSS',
  6: 'NavIC',
};
const SYSTEM_BY_TALKER: Record<string, GnssSystem> = {
  GP: 'GPS',
  GL: 'GLONASS',
  GA: 'Galileo',
  GB: 'BeiDou',
  BD: 'BeiDou',
  GQ: 'QZSS',
  GI: 'NavIC',
};
/** DOP values receivers send when they have none. */
const DOP_UNKNOWN = 99;

export type SkyPart =
  | {
      type: 'GSV';
      talker: string;
      monoNs: bigint;
      total: number;
      index: number;
      inView: number;
      signalId?: string;
      satellites: Array<Omit<SatelliteInView, 'used'>>;
    }
  | {
      type: 'GSA';
      talker: string;
      monoNs: bigint;
      mode?: 1 | 2 | 3;
      system?: GnssSystem;
      prns: number[];
      pdop?: number;
      hdop?: number;
      vdop?: number;
    };

/**
 * The constellation of a PRN and its number within it: the NMEA 4.10 system ID or the talker where
 * they say it, else the extended NMEA ranges (GPS 1-32, SBAS 33-64 and 120-158, GLONASS 65-96, QZSS
 * 193-199, BeiDou 201-263 or 401-463, Galileo 301-336). BeiDou and Galileo come back numbered from 1,
 * as their own talkers number them.
 */
function satelliteOf(prn: number, talker: string, explicit?: GnssSystem): { system: GnssSystem; prn: number } {
  const base = explicit ?? SYSTEM_BY_TALKER[talker];
  if (prn >= 401 && prn <= 463) return { system: 'BeiDou', prn: prn - 400 };
  if (prn >= 301 && prn <= 336) return { system: 'Galileo', prn: prn - 300 };
  if (prn >= 201 && prn <= 263 && (base === 'BeiDou' || base === 'GPS' || base === undefined))
    return { system: 'BeiDou', prn: prn - 200 };
  if (base !== 'GPS' && base !== undefined) return { system: base, prn };
  const system: GnssSystem =
    prn >= 65 && prn <= 96
      ? 'GLONASS'
      : (prn >= 33 && prn <= 64) || (prn >= 120 && prn <= 158)
        ? 'SBAS'
        : prn >= 193 && prn <= 199
          ? 'QZSS'
          : 'GPS';
  return { system, prn };
}

/** SBAS satellites are listed under GPS's talker and system ID: they share a key space with GPS. */
const keyOf = (system: GnssSystem, prn: number) => `${system === 'SBAS' ? 'GPS' : system}:${prn}`;

function num(field: string | undefined): number | undefined {
  if (field === undefined || field.trim() === '') return undefined;
  const v = Number(field);
  return Number.isFinite(v) ? v : undefined;
}

function dop(name: 'hdop' | 'pdop' | 'vdop', field: string | undefined): Partial<Record<typeof name, number>> {
  const v = num(field);
  return v !== undefined && v > 0 && v < DOP_UNKNOWN ? { [name]: v } : {};
}

function gsv(f: string[], talker: string, monoNs: bigint): SkyPart | undefined {
  const total = num(f[1]),
    index = num(f[2]),
    inView = num(f[3]);
  if (!total || !index || index > total || inView === undefined) return undefined;
  // Four fields per satellite after the header; NMEA 4.10 appends a signal ID.
  const body = f.slice(4);
  const signalId = body.length % 4 === 1 ? body.pop() : undefined;
  const satellites: Array<Omit<SatelliteInView, 'used'>> = [];
  for (let i = 0; i < body.length; i += 4) {
    const prn = num(body[i]);
    if (!prn) continue;
    const el = num(body[i + 1]),
      az = num(body[i + 2]),
      snr = num(body[i + 3]);
    satellites.push({
      ...satelliteOf(prn, talker),
      ...(el !== undefined ? { elevationDeg: el } : {}),
      ...(az !== undefined ? { azimuthDeg: az } : {}),
      ...(snr !== undefined ? { snrDbHz: snr } : {}),
    });
  }
  return { type: 'GSV', talker, monoNs, total, index, inView, ...(signalId ? { signalId } : {}), satellites };
}

function gsa(f: string[], talker: string, monoNs: bigint): SkyPart | undefined {
  // 12 PRN slots, then PDOP, HDOP, VDOP; NMEA 4.10 adds the system ID (19 fields in all).
  const withSystem = f.length === 19;
  const end = f.length - (withSystem ? 4 : 3);
  if (end < 3) return undefined;
  const m = num(f[2]);
  const system = withSystem ? SYSTEM_BY_ID[f[18]!] : undefined;
  const prns = f
    .slice(3, end)
    .map(num)
    .filter((p): p is number => p !== undefined && p > 0);
  return {
    type: 'GSA',
    talker,
    monoNs,
    ...(m === 1 || m === 2 || m === 3 ? { mode: m } : {}),
    ...(system ? { system } : {}),
    prns,
    ...dop('pdop', f[end]),
    ...dop('hdop', f[end + 1]),
    ...dop('vdop', f[end + 2]),
  };
}

/** A sky older than this (no GSV or GSA) is forgotten: receivers send them every 1-5 s. */
export const SKY_STALE_NS = 15_000_000_000n;
const FIX_MODE: Record<1 | 2 | 3, FixMode> = { 1: 'no fix', 2: '2D', 3: '3D' };

/** What a GSA burst said: the satellites used (by system and PRN), the fix mode, DOP; when (mono ns). */
interface GsaState {
  keys: Set<string>;
  mode?: 1 | 2 | 3;
  pdop?: number;
  hdop?: number;
  vdop?: number;
  monoNs: bigint;
}

/**
 * Assembles the sky as gpsd does: a GSV block (every constellation's multi-part cycle, ended by the
 * first other sentence) replaces the satellites in view; a GSA burst (one per constellation on
 * multi-GNSS receivers) replaces the satellites used, fix mode and DOP; GGA fills in the count used
 * and HDOP for receivers without GSA. Feed it every parse result in order (after FixGate); it
 * returns the new sky when a block, burst or GGA completes. Stateful: one per receiver.
 */
export class SkyView {
  private cycles = new Map<string, { total: number; parts: Array<Omit<SatelliteInView, 'used'>>[] }>();
  private block = new Map<string, Array<Omit<SatelliteInView, 'used'>>>();
  /** When the block's last part came (mono ns): the sky's age, whatever sentence ends the block. */
  private blockMonoNs = 0n;
  private inView?: Array<Omit<SatelliteInView, 'used'>>;
  private gsvMonoNs?: bigint;
  private burst?: GsaState;
  private gsaState?: GsaState;
  private gga?: { quality: number; satellites: number; hdop?: number };
  private lastSky?: GpsSky;
  /** Order of the last GSV block and GSA burst: is the satellite list as new as the used list? */
  private seq = 0;
  private gsvSeq = 0;
  private gsaSeq = 0;

  /** The latest sky (undefined until a GSV, GSA or GGA was seen). */
  get current(): GpsSky | undefined {
    return this.lastSky;
  }

  pass(r: NmeaResult): GpsSky | undefined {
    if (r.kind === 'garbage' || r.kind === 'bad-checksum') return undefined;
    const part = r.kind === 'other' ? r.sky : undefined;
    let changed = false;
    if (part?.type !== 'GSV' && this.block.size) changed = this.endBlock();
    if (part?.type !== 'GSA' && this.burst) changed = this.endBurst();
    if (part?.type === 'GSV') this.addGsv(part);
    else if (part?.type === 'GSA') this.addGsa(part);
    else if (r.kind === 'context') {
      this.gga = { quality: r.context.quality, satellites: r.context.satellites, hdop: r.context.hdop };
      changed = true;
    }
    const now = part?.monoNs ?? monoOf(r);
    if (now !== undefined) changed = this.expire(now) || changed;
    return changed ? (this.lastSky = this.snapshot()) : undefined;
  }

  /** Ends a block or burst the input stopped in (the end of a capture). */
  flush(): GpsSky | undefined {
    const a = this.block.size ? this.endBlock() : false;
    const b = this.burst ? this.endBurst() : false;
    return a || b ? (this.lastSky = this.snapshot()) : undefined;
  }

  private addGsv(p: Extract<SkyPart, { type: 'GSV' }>): void {
    const key = `${p.talker}/${p.signalId ?? ''}`;
    let c = this.cycles.get(key);
    if (p.index === 1 || !c || c.total !== p.total) this.cycles.set(key, (c = { total: p.total, parts: [] }));
    c.parts[p.index - 1] = p.satellites;
    this.blockMonoNs = p.monoNs;
    if (p.index === p.total) {
      this.cycles.delete(key);
      // A cycle with a part missing (a bad checksum) still says what it has.
      this.block.set(key, c.parts.flat().filter(Boolean));
    }
  }

  private endBlock(): boolean {
    const byKey = new Map<string, Omit<SatelliteInView, 'used'>>();
    for (const sats of this.block.values()) {
      for (const s of sats) {
        const k = keyOf(s.system, s.prn);
        const had = byKey.get(k);
        // The same satellite on two signals (L1, L5): keep the stronger.
        if (!had || (s.snrDbHz ?? -1) > (had.snrDbHz ?? -1))
          byKey.set(k, {
            ...had,
            ...s,
            ...(had?.snrDbHz !== undefined && s.snrDbHz === undefined ? { snrDbHz: had.snrDbHz } : {}),
          });
      }
    }
    this.inView = [...byKey.values()];
    this.block.clear();
    this.gsvSeq = ++this.seq;
    this.gsvMonoNs = this.blockMonoNs;
    return true;
  }

  private addGsa(p: Extract<SkyPart, { type: 'GSA' }>): void {
    this.burst ??= { keys: new Set(), monoNs: p.monoNs };
    for (const n of p.prns) {
      const sat = satelliteOf(n, p.talker, p.system);
      this.burst.keys.add(keyOf(sat.system, sat.prn));
    }
    if (p.mode !== undefined) this.burst.mode = Math.max(this.burst.mode ?? 0, p.mode) as 1 | 2 | 3;
    this.burst.pdop = p.pdop ?? this.burst.pdop;
    this.burst.hdop = p.hdop ?? this.burst.hdop;
    this.burst.vdop = p.vdop ?? this.burst.vdop;
    this.burst.monoNs = p.monoNs;
  }

  private endBurst(): boolean {
    this.gsaState = this.burst!;
    this.burst = undefined;
    this.gsaSeq = ++this.seq;
    return true;
  }

  /** Forgets what the receiver stopped sending (SKY_STALE_NS); replays at mono 0 never expire. */
  private expire(nowNs: bigint): boolean {
    let changed = false;
    if (this.gsvMonoNs !== undefined && nowNs - this.gsvMonoNs > SKY_STALE_NS) {
      this.inView = undefined;
      this.gsvMonoNs = undefined;
      changed = true;
    }
    if (this.gsaState && nowNs - this.gsaState.monoNs > SKY_STALE_NS) {
      this.gsaState = undefined;
      changed = true;
    }
    return changed;
  }

  private snapshot(): GpsSky {
    const g = this.gsaState;
    const used = g?.keys;
    // A satellite GSV shows untracked (no SNR) is not used whatever GSA lists (gpsd's rule too),
    // when that GSV is as new as the GSA: an older one says nothing of the satellites used now.
    const sameEpoch = this.gsvSeq > this.gsaSeq;
    const untracked = (s: Omit<SatelliteInView, 'used'>) => sameEpoch && s.snrDbHz === undefined;
    const satellites: SatelliteInView[] = (this.inView ?? []).map((s) => ({
      ...s,
      used: !untracked(s) && (used?.has(keyOf(s.system, s.prn)) ?? false),
    }));
    const untrackedListed = used
      ? (this.inView ?? []).filter((s) => untracked(s) && used.has(keyOf(s.system, s.prn))).length
      : 0;
    const fixMode: FixMode | undefined =
      g?.mode !== undefined ? FIX_MODE[g.mode] : this.gga ? (this.gga.quality > 0 ? 'fix' : 'no fix') : undefined;
    const hdop = g?.hdop ?? this.gga?.hdop;
    return {
      ...(fixMode ? { fixMode } : {}),
      ...(hdop !== undefined ? { hdop } : {}),
      ...(g?.pdop !== undefined ? { pdop: g.pdop } : {}),
      ...(g?.vdop !== undefined ? { vdop: g.vdop } : {}),
      ...(this.inView ? { inView: this.inView.length } : {}),
      ...(used ? { used: used.size - untrackedListed } : this.gga ? { used: this.gga.satellites } : {}),
      satellites,
    };
  }
}

function monoOf(r: NmeaResult): bigint | undefined {
  return r.kind === 'fix' ? r.fix.monoNs : r.kind === 'context' ? r.context.monoNs : undefined;
}
