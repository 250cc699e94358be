import { createReadStream } from 'node:fs';
import type { RecordingFingerprint } from '../src/time/rtc-calibration.js';
import type { PhasePoint } from './analysis.js';

/**
 * Reads recordings: the drift log's JSON Lines (docs/drift-log.md), whether `calibrate record` or the
 * service wrote them. Subjects:
 *  - system: the local oscillator (monotonic clock) against the reference source's raw samples
 *    (x = mono - reference, ns), temperature from the nearest servo record's CPU temperature;
 *  - rtc: the DS3231 against UTC from its `rtc` records (x = rtcMinusUtcNs), at its own temperature.
 * A corrupt line is skipped and reported with its file and line number, never fatal. A restart of
 * the monotonic clock (reboot), a gap, or a step (the RTC was set) starts a new segment.
 */

export type Subject = 'system' | 'rtc';
export const REFERENCES = ['gps+pps', 'ntp', 'rtc', 'gps'] as const;
export type Reference = (typeof REFERENCES)[number];

/** Records further apart than this (s) are separate segments: the run was interrupted. */
const GAP_SEC = 30;
/**
 * A phase jump beyond this (ns) plus 500 ppm of the spacing is a step (a set), not drift, unless the
 * measurement noise itself is that large (a polled RTC: sub-ms): then STEP_NOISE_FACTOR times the
 * robust spread of the second-to-second changes.
 */
const STEP_NS = 200_000;
const STEP_NOISE_FACTOR = 8;
/** An event saying the RTC was set (by the service, `rtc set`, anything) splits the RTC's record too. */
const RTC_SET_EVENT = /DS3231 set|RTC set|set the RTC|rtc-set/i;

export interface Recording {
  subjects: Map<Subject, PhasePoint[]>;
  reference?: Reference;
  problems: string[];
  records: number;
  /** First and last reference instants (UTC ns) seen. */
  fromUtcNs?: bigint;
  toUtcNs?: bigint;
  /**
   * What its header records say about the sources: per source, true when any header called it a
   * simulated twin. Undefined when the files have no header (an older drift log): origin unknown.
   */
  simulated?: { gps?: boolean; pps?: boolean; rtc?: boolean; ntp?: boolean };
  /** Steps of the RTC found in it (a set, a power loss): each starts a new segment. */
  rtcSteps: number;
}

interface Raw {
  mono: bigint;
  utc: bigint;
}

/**
 * The lines of a file in batches, read in large chunks and split here: readline's per-line async
 * iteration was half the time of a 24 h report. CRLF and a last line without a newline are lines too.
 */
async function* lineBatches(file: string, onBytes?: (n: number) => void): AsyncGenerator<string[]> {
  let rest = '';
  const cut = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    onBytes?.(Buffer.byteLength(chunk as string));
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop()!;
    yield lines.map(cut);
  }
  if (rest) yield [cut(rest)];
}

/** `onBytes`: bytes read so far, chunk by chunk (for a progress line on large files). */
export async function readRecording(
  files: readonly string[],
  want?: Reference,
  onBytes?: (n: number) => void,
): Promise<Recording> {
  const problems: string[] = [];
  const samples = new Map<string, Raw[]>();
  const temps: Array<{ mono: bigint; c: number }> = [];
  const rtc: Array<{ utc: bigint; x: number; c?: number; setBefore?: boolean }> = [];
  let simulated: Recording['simulated'];
  let setPending = false;
  let records = 0;
  let fromUtcNs: bigint | undefined, toUtcNs: bigint | undefined;
  // Rotated files (FILE.5 ... FILE.1, FILE) are read oldest first by the caller's order; a reboot's
  // monotonic restart is found by the segmenting below, not by file.
  for (const file of files) {
    let lineNo = 0;
    let bad = 0;
    try {
      for await (const batch of lineBatches(file, onBytes))
        for (const line of batch) {
          lineNo++;
          if (!line.trim()) continue;
          let r: Record<string, unknown>;
          try {
            r = JSON.parse(line) as Record<string, unknown>;
            if (typeof r !== 'object' || r === null || typeof r.kind !== 'string') throw new Error('not a record');
          } catch {
            if (bad++ < 5) problems.push(`${file} line ${lineNo}: not a JSON record, skipped`);
            continue;
          }
          records++;
          try {
            const mono = r.monoNs !== undefined ? BigInt(r.monoNs as string) : undefined;
            const utc = r.utcNs !== undefined ? BigInt(r.utcNs as string) : undefined;
            if (utc !== undefined) {
              fromUtcNs ??= utc;
              toUtcNs = utc;
            }
            if (r.kind === 'sample' && mono !== undefined && utc !== undefined && typeof r.source === 'string') {
              (samples.get(r.source) ?? samples.set(r.source, []).get(r.source)!).push({ mono, utc });
            } else if (r.kind === 'servo' && mono !== undefined && typeof r.cpuTempC === 'number') {
              temps.push({ mono, c: r.cpuTempC });
            } else if (r.kind === 'rtc' && utc !== undefined && typeof r.rtcMinusUtcNs === 'number') {
              // The edge's own offset when the writer gives it; else the RTC source's fitted one.
              const x = typeof r.edgeOffsetNs === 'number' ? r.edgeOffsetNs : r.rtcMinusUtcNs;
              rtc.push({
                utc,
                x,
                c: typeof r.rtcTempC === 'number' ? r.rtcTempC : undefined,
                setBefore: setPending || undefined,
              });
              setPending = false;
            } else if (r.kind === 'event' && typeof r.message === 'string' && RTC_SET_EVENT.test(r.message)) {
              setPending = true;
            } else if (r.kind === 'header' && typeof r.simulated === 'object' && r.simulated !== null) {
              simulated ??= {};
              for (const [k, v] of Object.entries(r.simulated as Record<string, unknown>)) {
                if (typeof v === 'boolean')
                  (simulated as Record<string, boolean>)[k] = Boolean((simulated as Record<string, boolean>)[k]) || v;
              }
            }
          } catch {
            if (bad++ < 5) problems.push(`${file} line ${lineNo}: a field is not what the format says, skipped`);
          }
        }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `${file} does not exist`
          : code === 'EACCES'
            ? `${file} is not readable by this user`
            : code === 'EISDIR'
              ? `${file} is a folder, not a recording`
              : `${file}: ${(e as Error).message}`,
      );
    }
    if (bad > 5) problems.push(`${file}: ${bad} bad lines in all`);
  }
  const reference = want ?? REFERENCES.find((s) => (samples.get(s)?.length ?? 0) > 0);
  const subjects = new Map<Subject, PhasePoint[]>();
  const sys = reference ? (samples.get(reference) ?? []) : [];
  if (sys.length) subjects.set('system', systemSeries(sys, temps));
  let rtcSteps = 0;
  if (rtc.length) {
    const r = rtcSeries(rtc);
    subjects.set('rtc', r.points);
    rtcSteps = r.steps;
    if (r.steps)
      problems.push(
        `the RTC was stepped ${r.steps} time${r.steps > 1 ? 's' : ''} during the recording (set by a process, or it lost power): each step starts a new segment, and the rate is fitted within segments`,
      );
  }
  return { subjects, reference, problems, records, fromUtcNs, toUtcNs, simulated, rtcSteps };
}

function systemSeries(raw: Raw[], temps: Array<{ mono: bigint; c: number }>): PhasePoint[] {
  const utc0 = raw[0]!.utc;
  let segment = 0;
  let base = raw[0]!.mono - raw[0]!.utc;
  let k = 0;
  const byMono = [...temps].sort((a, b) => (a.mono < b.mono ? -1 : 1));
  return raw.map((s, i) => {
    const prev = raw[i - 1];
    if (prev && (s.mono <= prev.mono || Number(s.utc - prev.utc) / 1e9 > GAP_SEC)) {
      segment++;
      base = s.mono - s.utc;
      k = 0;
    }
    while (k + 1 < byMono.length && byMono[k + 1]!.mono <= s.mono) k++;
    const t = byMono[k];
    const near = t && (t.mono > s.mono ? t.mono - s.mono : s.mono - t.mono) < 5_000_000_000n;
    return {
      tSec: Number(s.utc - utc0) / 1e9,
      xNs: Number(s.mono - s.utc - base),
      tempC: near ? t.c : undefined,
      segment,
    };
  });
}

/** Median of |Δx| between neighbours (1.4826 × MAD of a zero-mean change): the noise a step must beat. */
function typicalChangeNs(rows: ReadonlyArray<{ x: number }>): number {
  const d: number[] = [];
  for (let i = 1; i < rows.length; i++) d.push(Math.abs(rows[i]!.x - rows[i - 1]!.x));
  if (d.length === 0) return 0;
  d.sort((a, b) => a - b);
  return 1.4826 * d[Math.floor(d.length / 2)]!;
}

function rtcSeries(rows: Array<{ utc: bigint; x: number; c?: number; setBefore?: boolean }>): {
  points: PhasePoint[];
  steps: number;
} {
  const utc0 = rows[0]!.utc;
  const stepNs = Math.max(STEP_NS, STEP_NOISE_FACTOR * typicalChangeNs(rows));
  let segment = 0,
    steps = 0;
  const points = rows.map((r, i) => {
    const prev = rows[i - 1];
    if (prev) {
      const dt = Number(r.utc - prev.utc) / 1e9;
      const jump = Math.abs(r.x - prev.x) > stepNs + 500 * 1e-6 * dt * 1e9;
      if (dt > GAP_SEC || jump || r.setBefore) segment++;
      if (jump || r.setBefore) steps++;
    }
    return { tSec: Number(r.utc - utc0) / 1e9, xNs: r.x, tempC: r.c, segment };
  });
  return { points, steps };
}

/** Which recording this is (its time range and size), as the calibration store keeps it. */
export function fingerprint(
  rec: Pick<Recording, 'fromUtcNs' | 'toUtcNs' | 'records' | 'simulated'>,
  files: readonly string[],
): RecordingFingerprint {
  const iso = (ns?: bigint) => (ns === undefined ? '' : new Date(Number(ns / 1_000_000n)).toISOString());
  return {
    from: iso(rec.fromUtcNs),
    to: iso(rec.toUtcNs),
    records: rec.records,
    files: [...files],
    ...(rec.simulated ? { simulated: Object.values(rec.simulated).some(Boolean) } : {}),
  };
}
