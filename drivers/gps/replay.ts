import { FixGate, parseNmeaLine, type NmeaOptions } from './nmea.js';
import type { GpsTimeFix } from './types.js';

/**
 * Replays a capture (raw NMEA, `#` comment lines, binary noise) through the same parser and fix
 * gate as the live driver. The week-rollover floor is the caller's, else the capture's own
 * `# Date:` header, so that a genuine 2005 capture keeps its 2005 dates.
 */

export interface ReplayStats {
  lines: number;
  sentences: number;
  badChecksum: number;
  garbage: number;
}

export interface ReplayedFix extends GpsTimeFix {
  /** 1-based line in the capture. */
  line: number;
  /** Satellites in use from the latest GGA, if any. */
  satellites?: number;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * A calendar date as people write it, as UTC ms at 00:00: 2019-03-14, 2019-3-14, 2019/3/14,
 * 2019.03.14, 20190314, "14 Mar 2019", "Mar 14, 2019", each optionally followed by a time (ignored).
 * Undefined when it is not a real date (2019-02-30 is not).
 */
export function parseLenientDateMs(s: string): number | undefined {
  const v = s.trim().toLowerCase();
  let y: number, m: number, d: number;
  let r: RegExpExecArray | null;
  if ((r = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[t\s])/.exec(v)))
    [y, m, d] = [Number(r[1]), Number(r[2]), Number(r[3])];
  else if ((r = /^(\d{4})(\d{2})(\d{2})(?:$|[t\s])/.exec(v))) [y, m, d] = [Number(r[1]), Number(r[2]), Number(r[3])];
  else if ((r = /^(\d{1,2})\s+([a-z]{3})[a-z]*\.?,?\s+(\d{4})(?:$|\s)/.exec(v)))
    [y, m, d] = [Number(r[3]), MONTHS.indexOf(r[2]!) + 1, Number(r[1])];
  else if ((r = /^([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})(?:$|\s)/.exec(v)))
    [y, m, d] = [Number(r[3]), MONTHS.indexOf(r[1]!) + 1, Number(r[2])];
  else return undefined;
  if (m < 1 || m > 12 || d < 1) return undefined;
  const ms = Date.UTC(y, m - 1, d);
  // Date.UTC rolls 30 February over into March: a real date survives the round trip.
  return new Date(ms).getUTCDate() === d ? ms : undefined;
}

/** The capture's `# Date: ...` (or `# Date = ...`) header, read leniently, as UTC ns at 00:00. */
export function captureDate(text: string): { utcNs?: bigint; problem?: string } {
  const m = /^#\s*Date\s*[:=]\s*(.*)$/im.exec(text);
  if (!m) return {};
  const ms = parseLenientDateMs(m[1]!);
  return ms === undefined
    ? {
        problem: `the capture's "# Date:" header "${m[1]!.trim()}" is not a date (write e.g. 2019-03-14): no week-rollover floor from it`,
      }
    : { utcNs: BigInt(ms) * 1_000_000n };
}

/** The capture's `# Date:` header as UTC ns at 00:00, if present and a date. */
export function captureDateNs(text: string): bigint | undefined {
  return captureDate(text).utcNs;
}

export function replayCapture(
  text: string,
  opts: NmeaOptions = {},
): { fixes: ReplayedFix[]; stats: ReplayStats; floorUtcNs?: bigint; problem?: string } {
  const header = opts.floorUtcNs === undefined ? captureDate(text) : {};
  const floorUtcNs = opts.floorUtcNs ?? header.utcNs;
  const gate = new FixGate();
  const stats: ReplayStats = { lines: 0, sentences: 0, badChecksum: 0, garbage: 0 };
  const fixes: ReplayedFix[] = [];
  let satellites: number | undefined;
  text.split('\n').forEach((line, i) => {
    stats.lines++;
    if (line.startsWith('#')) return;
    const r = gate.pass(parseNmeaLine(line, 0n, { ...opts, floorUtcNs }));
    switch (r.kind) {
      case 'garbage':
        if (line.trim()) stats.garbage++;
        return;
      case 'bad-checksum':
        stats.badChecksum++;
        return;
      case 'context':
        stats.sentences++;
        satellites = r.context.satellites;
        return;
      case 'other':
        stats.sentences++;
        return;
      case 'fix':
        stats.sentences++;
        fixes.push({ ...r.fix, line: i + 1, satellites });
    }
  });
  return { fixes, stats, floorUtcNs, ...(header.problem ? { problem: header.problem } : {}) };
}
