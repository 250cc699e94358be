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

/** The capture's `# Date: YYYY-MM-DD` (or `# Date = ...`) header as UTC ns at 00:00, if present. */
export function captureDateNs(text: string): bigint | undefined {
  const m = /^#\s*Date\s*[:=]\s*(\d{4})-(\d{2})-(\d{2})/m.exec(text);
  return m ? BigInt(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) * 1_000_000n : undefined;
}

export function replayCapture(text: string, opts: NmeaOptions = {}): { fixes: ReplayedFix[]; stats: ReplayStats; floorUtcNs?: bigint } {
  const floorUtcNs = opts.floorUtcNs ?? captureDateNs(text);
  const gate = new FixGate();
  const stats: ReplayStats = { lines: 0, sentences: 0, badChecksum: 0, garbage: 0 };
  const fixes: ReplayedFix[] = [];
  let satellites: number | undefined;
  text.split('\n').forEach((line, i) => {
    stats.lines++;
    if (line.startsWith('#')) return;
    const r = gate.pass(parseNmeaLine(line, 0n, { ...opts, floorUtcNs }));
    switch (r.kind) {
      case 'garbage': if (line.trim()) stats.garbage++; return;
      case 'bad-checksum': stats.badChecksum++; return;
      case 'context': stats.sentences++; satellites = r.context.satellites; return;
      case 'other': stats.sentences++; return;
      case 'fix': stats.sentences++; fixes.push({ ...r.fix, line: i + 1, satellites });
    }
  });
  return { fixes, stats, floorUtcNs };
}
