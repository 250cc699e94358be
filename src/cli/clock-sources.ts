import type { SourceReport } from '../time/clock-layer.js';
import { signed } from '../util/format.js';
import { formatErrorBound, type LiveStatus } from '../service/status.js';
import { readLiveStatus, type StatusTarget } from './status.js';

/**
 * `jaudiosync clock sources [--json] [-v]`: every time source of the running service the way
 * `chronyc sources -v` shows them (read from the status socket; ClockLayer.sourcesReport makes the rows).
 */

/** chrony's compact offsets: at most four digits and a unit, "+479ns", "-16µs", "+3215µs", "+12ms". */
export function compactNs(ns: number | null, signed = true): string {
  if (ns === null || !Number.isFinite(ns)) return '-';
  const sign = signed ? (ns < 0 ? '-' : '+') : '';
  const a = Math.abs(ns);
  for (const [unit, scale] of [
    ['ns', 1],
    ['µs', 1e3],
    ['ms', 1e6],
    ['s', 1e9],
  ] as const) {
    if (Math.round(a / scale) < 10_000 || unit === 's') return `${sign}${Math.round(a / scale)}${unit}`;
  }
  return '-';
}

/** Age as chrony's LastRx: seconds up to 999, then minutes, hours, days. */
export function compactAge(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '-';
  const s = Math.max(0, Math.round(sec));
  if (s < 1000) return String(s);
  if (s < 60_000) return `${Math.round(s / 60)}m`;
  if (s < 86_400 * 10) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** The poll as whole seconds ("1s", "64s"), or tenths below 0.95 s. */
const poll = (sec: number | null) => (sec === null ? '-' : sec < 0.95 ? `${sec.toFixed(1)}s` : `${Math.round(sec)}s`);

export const SOURCES_LEGEND = [
  "  .-- Source mode  '#' = local reference clock (GPS+PPS, GPS alone, RTC), '^' = NTP server.",
  " / .- Source state '*' = in use (the clock follows it), '-' = usable, standing by,",
  "| /                '?' = locking (too few samples) or silent, '~' = too poor to be a lock.",
  '||  Reach: the last 8 polls or pulses in octal, latest in the last bit: 377 = all 8 came,',
  '||         376 = the latest is missing, 0 = none.  Poll: the usual spacing of its samples.',
  '||  LastRx: seconds since its last sample.  Last sample: xxxx [ yyyy ] +/- zzzz:',
  '||    xxxx = our clock minus the source at that sample, as we stand now (+ = ours ahead),',
  "||    yyyy = the same when the sample came in, zzzz = that sample's own error bound.",
  "||  Freq ppm ± 1σ: the local clock's frequency against the source (+ = local runs fast).",
  '||',
];

const HEADER = `MS Name      Reach Poll LastRx  ${'Last sample'.padEnd(27)}  Freq ppm    ± 1σ`;

/** The table (with the legend and a sourcestats-like second table when verbose). */
export function formatSources(rows: readonly SourceReport[], o: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  if (o.verbose) lines.push(...SOURCES_LEGEND);
  lines.push(HEADER, '='.repeat(HEADER.length));
  for (const r of rows) {
    const last =
      r.offsetNs === null
        ? ''.padEnd(27)
        : `${compactNs(r.offsetNs).padStart(7)}[${compactNs(r.measuredOffsetNs).padStart(7)}] +/- ${compactNs(r.sampleErrorNs, false).padStart(6)}`;
    const freq = r.freqPpm === null ? '-' : signed(r.freqPpm, 3);
    const sigma = r.freqSigmaPpm === null ? '-' : r.freqSigmaPpm.toFixed(r.freqSigmaPpm < 10 ? 3 : 1);
    lines.push(
      `${r.mode}${r.stateChar} ${r.name.padEnd(9)} ${r.reach.toString(8).padStart(5)} ${poll(r.pollSec).padStart(4)} ${compactAge(r.lastSampleAgeSec).padStart(6)}  ${last}  ${freq.padStart(8)} ${sigma.padStart(7)}`,
    );
  }
  if (!rows.length) lines.push('(no time source has delivered a sample yet)');
  if (o.verbose && rows.length) {
    const h = `Name      State          NP  Used   Span  Std Dev  Error bound now`;
    lines.push('', h, '='.repeat(h.length));
    for (const r of rows) {
      const span = r.spanSec ? compactAge(r.spanSec) + (r.spanSec < 1000 ? 's' : '') : '-';
      const note = r.fromPrior ? '  (frequency from the last run)' : '';
      lines.push(
        `${r.name.padEnd(9)} ${r.state.padEnd(12)} ${String(r.samples).padStart(4)}  ${(r.used === null ? '-' : String(r.used)).padStart(4)}  ${span.padStart(5)}  ${compactNs(r.stdDevNs, false).padStart(7)}  ${r.boundNs === null ? '-' : formatErrorBound(r.boundNs)}${note}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** One line above the table: what the clock follows, from the same status. */
export function formatClockSummary(s: LiveStatus): string {
  const c = s.clock;
  if (!c) return `jaudiosync pid ${s.pid}: no clock yet`;
  const bound = c.errorBoundUs === null ? 'unknown' : formatErrorBound(c.errorBoundUs * 1000);
  const sim = c.simulated ? "SIMULATED (twins on this machine's own clock) " : '';
  return `clock ${sim}${c.state} on ${c.source}, error bound ${bound}, frequency ${signed(c.freqPpm, 3)} ppm (jaudiosync pid ${s.pid})`;
}

export async function clockSourcesCommand(o: { json?: boolean; verbose?: boolean } & StatusTarget): Promise<number> {
  const s = await readLiveStatus(
    o,
    "`clock sources` shows the running service's sources; to run the clock layer on its own, use `jaudiosync clock monitor`",
  );
  if (!s) return 1;
  if (!s.sources) {
    process.stderr.write(
      `the running jaudiosync (pid ${s.pid}, version ${s.version}) does not report its sources: restart it with this version (systemctl restart jaudiosync)\n`,
    );
    return 1;
  }
  if (o.json) process.stdout.write(JSON.stringify({ clock: s.clock ?? null, sources: s.sources }, null, 2) + '\n');
  else process.stdout.write(`${formatClockSummary(s)}\n\n${formatSources(s.sources, { verbose: o.verbose })}`);
  return 0;
}
