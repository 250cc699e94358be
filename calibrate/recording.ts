import { createReadStream } from 'node:fs';
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
/** A phase jump beyond this (ns) plus 500 ppm of the spacing is a step (a set), not drift. */
const STEP_NS = 200_000;

export interface Recording {
  subjects: Map<Subject, PhasePoint[]>;
  reference?: Reference;
  problems: string[];
  records: number;
  /** First and last reference instants (UTC ns) seen. */
  fromUtcNs?: bigint;
  toUtcNs?: bigint;
}

interface Raw { mono: bigint; utc: bigint }

/**
 * The lines of a file in batches, read in large chunks and split here: readline's per-line async
 * iteration was half the time of a 24 h report. CRLF and a last line without a newline are lines too.
 */
async function* lineBatches(file: string): AsyncGenerator<string[]> {
  let rest = '';
  const cut = (l: string) => (l.endsWith('\r') ? l.slice(0, -1) : l);
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop()!;
    yield lines.map(cut);
  }
  if (rest) yield [cut(rest)];
}

export async function readRecording(files: readonly string[], want?: Reference): Promise<Recording> {
  const problems: string[] = [];
  const samples = new Map<string, Raw[]>();
  const temps: Array<{ mono: bigint; c: number }> = [];
  const rtc: Array<{ utc: bigint; x: number; c?: number }> = [];
  let records = 0;
  let fromUtcNs: bigint | undefined, toUtcNs: bigint | undefined;
  // Rotated files (FILE.5 ... FILE.1, FILE) are read oldest first by the caller's order; a reboot's
  // monotonic restart is found by the segmenting below, not by file.
  for (const file of files) {
    let lineNo = 0;
    let bad = 0;
    try {
      for await (const batch of lineBatches(file)) for (const line of batch) {
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
          if (utc !== undefined) { fromUtcNs ??= utc; toUtcNs = utc; }
          if (r.kind === 'sample' && mono !== undefined && utc !== undefined && typeof r.source === 'string') {
            (samples.get(r.source) ?? samples.set(r.source, []).get(r.source)!).push({ mono, utc });
          } else if (r.kind === 'servo' && mono !== undefined && typeof r.cpuTempC === 'number') {
            temps.push({ mono, c: r.cpuTempC });
          } else if (r.kind === 'rtc' && utc !== undefined && typeof r.rtcMinusUtcNs === 'number') {
            rtc.push({ utc, x: r.rtcMinusUtcNs, c: typeof r.rtcTempC === 'number' ? r.rtcTempC : undefined });
          }
        } catch {
          if (bad++ < 5) problems.push(`${file} line ${lineNo}: a field is not what the format says, skipped`);
        }
      }
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
    }
    if (bad > 5) problems.push(`${file}: ${bad} bad lines in all`);
  }
  const reference = want ?? REFERENCES.find((s) => (samples.get(s)?.length ?? 0) > 0);
  const subjects = new Map<Subject, PhasePoint[]>();
  const sys = reference ? samples.get(reference) ?? [] : [];
  if (sys.length) subjects.set('system', systemSeries(sys, temps));
  if (rtc.length) subjects.set('rtc', rtcSeries(rtc));
  return { subjects, reference, problems, records, fromUtcNs, toUtcNs };
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
    return { tSec: Number(s.utc - utc0) / 1e9, xNs: Number(s.mono - s.utc - base), tempC: near ? t.c : undefined, segment };
  });
}

function rtcSeries(rows: Array<{ utc: bigint; x: number; c?: number }>): PhasePoint[] {
  const utc0 = rows[0]!.utc;
  let segment = 0;
  return rows.map((r, i) => {
    const prev = rows[i - 1];
    if (prev) {
      const dt = Number(r.utc - prev.utc) / 1e9;
      if (dt > GAP_SEC || Math.abs(r.x - prev.x) > STEP_NS + 500 * 1e-6 * dt * 1e9) segment++;
    }
    return { tSec: Number(r.utc - utc0) / 1e9, xNs: r.x, tempC: r.c, segment };
  });
}
