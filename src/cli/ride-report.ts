import { DESKTOP_WIDTH, esc, page, PHONE_WIDTH, table } from '../report/html.js';
import { chart, COLORS, timeUnitFor, type Series, type Span } from '../report/svg.js';
import type { RideEvent, RideResult } from '../sim/ride.js';

/**
 * The ride simulator's plot and report: "were my speakers in sync, and where not, and why". One
 * line per device (its worst |played error| against truth in each stretch of the ride) and the
 * spread between them, GPS outages and device events as labelled spans, a y axis from 0 in µs or
 * ms, silent devices named in the legend. Pure: a RideResult in, SVG or HTML text out.
 */

const RATE = 48_000;

/** A time error in µs as µs, ms, s, h or d: short enough for a table column whatever its size. */
export function formatUs(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a < 1000) return `${v.toFixed(1)} µs`;
  if (a < 1e6) return `${(v / 1e3).toFixed(2)} ms`;
  if (a < 3600e6) return `${(v / 1e6).toFixed(2)} s`;
  if (a < 86_400e6) return `${(v / 3600e6).toFixed(1)} h`;
  return `${(v / 86_400e6).toFixed(1)} d`;
}

const name = (e: RideEvent) => (e.device === 'all' ? 'all' : `pi-${Number(e.device) + 1}`);
const mins = (s: number) => (s < 60 ? `${s} s` : `${Number((s / 60).toFixed(1))} min`);

/** Seconds into the ride where the song playing at atSec starts and ends (the manifest's counts). */
function songSpan(r: RideResult, atSec: number): [number, number] {
  let start = 0;
  for (const frames of r.songFrames) {
    const end = start + frames / RATE;
    if (atSec < end) return [start, end];
    start = end;
  }
  return [atSec, atSec + 1];
}

/** The ride's events as spans (outages, crashes, late boots, missing songs) and point markers. */
export function rideSpans(r: RideResult, unitSec: number): { spans: Span[]; markers: Array<[number, string]> } {
  const spans: Span[] = [];
  const markers: Array<[number, string]> = [];
  const rideSec = r.options.hours * 3600;
  for (const e of r.options.events) {
    const who = name(e);
    const what = e.label ?? e.kind;
    if (e.kind === 'gps-outage')
      spans.push({
        x0: e.atSec / unitSec,
        x1: Math.min(rideSec, e.atSec + (e.durationSec ?? 60)) / unitSec,
        label: `GPS outage${who === 'all' ? '' : ` ${who}`}: ${what} (${mins(e.durationSec ?? 60)})`,
        color: '#fde2b5',
      });
    else if (e.kind === 'crash')
      spans.push({
        x0: e.atSec / unitSec,
        x1: (e.atSec + (e.durationSec ?? 5)) / unitSec,
        label: `${who}: ${what}`,
        color: '#f7d4d4',
      });
    else if (e.kind === 'late-boot') {
      const d = r.devices[Number(e.device)];
      const joined = d?.joins.find((j) => j.atSec === e.atSec);
      spans.push({
        x0: 0,
        x1: (e.atSec + (joined?.joinedAfterSec ?? 0)) / unitSec,
        label: `${who}: ${what}, silent until it joins`,
        color: '#e4d9f2',
      });
    } else if (e.kind === 'missing-file') {
      const [a, b] = songSpan(r, e.atSec);
      spans.push({
        x0: a / unitSec,
        x1: Math.min(rideSec, b) / unitSec,
        label: `${who}: ${what} (silence for that song)`,
        color: '#d8f0d2',
      });
    } else markers.push([e.atSec / unitSec, `${who}: ${what}`]);
  }
  return { spans, markers };
}

export function rideChart(r: RideResult, width = DESKTOP_WIDTH): string {
  const rideSec = r.options.hours * 3600;
  const unitSec = rideSec < 2 * 3600 ? 60 : 3600;
  let maxUs = 0;
  for (const v of r.spreadUs) if (v > maxUs) maxUs = v;
  for (const d of r.playedErrorUs.devices) for (const v of d) if (v > maxUs) maxUs = v;
  const u = timeUnitFor(maxUs);
  const step = r.playedErrorUs.stepSec;
  const series: Series[] = r.devices.map((d, i) => {
    const env = r.playedErrorUs.devices[i] ?? new Float64Array();
    const points = Array.from(env, (v, k) => [((k + 0.5) * step) / unitSec, v * u.perUs] as const);
    const silent = !env.some((v) => Number.isFinite(v));
    return {
      label: d.name,
      points,
      color: COLORS[i % COLORS.length],
      note: silent ? 'silent: never played' : d.gps ? undefined : 'no GPS',
    };
  });
  // The spread, on the same buckets (its largest value in each).
  const spread: Array<readonly [number, number]> = [];
  for (let k = 0; k * step < r.spreadUs.length; k++) {
    let m = NaN;
    for (let s = k * step; s < Math.min(r.spreadUs.length, (k + 1) * step); s++)
      if (r.spreadUs[s]! >= 0 && !(m >= r.spreadUs[s]!)) m = r.spreadUs[s]!;
    spread.push([((k + 0.5) * step) / unitSec, m * u.perUs]);
  }
  series.push({ label: 'spread between devices', points: spread, color: '#000000', dashed: true });
  const { spans, markers } = rideSpans(r, unitSec);
  const o = r.options;
  const basePhase = o.gps === 'all' ? 'all with GPS' : o.gps === 'some' ? 'GPS on one, RTC on the rest' : 'RTC only';
  return chart(series, {
    title: `Sync over the ride: ${o.devices} devices, ${basePhase}${spans.some((s) => s.label.startsWith('GPS outage')) ? ', GPS outages shaded' : ''}`,
    xLabel: unitSec === 60 ? 'minutes into the ride' : 'hours into the ride',
    yLabel: `|played − true| (${u.unit})`,
    yFromZero: true,
    spans,
    markers,
    width,
  });
}

function deviceRows(r: RideResult): string[][] {
  return r.devices.map((d) => {
    const silent = d.content.checkedSec === 0;
    return [
      d.name,
      d.gps ? 'yes' : 'no',
      silent ? 'never played' : `${formatUs(d.playedUs.mean)} ± ${formatUs(d.playedUs.sd)}`,
      `${formatUs(d.clock.p50Us)} / ${formatUs(d.clock.p99Us)} / ${formatUs(d.clock.maxUs)}`,
      `${d.clock.boundBrokenPct.toFixed(2)} %`,
      d.joins.map((j) => `+${j.joinedAfterSec} s after ${j.atSec} s`).join(', ') || '-',
      (silent ? ['silent for the whole ride', ...d.audible] : d.audible).join('; ') || '-',
    ];
  });
}

export const DEVICE_HEAD = [
  'device',
  'GPS',
  'played error mean ± sd',
  'clock vs truth p50 / p99 / max',
  'bound broken',
  'joins',
  'audible',
];
export const PHASE_HEAD = ['phase', 'seconds', 'p50', 'p99', 'max'];

export function phaseRows(r: RideResult): string[][] {
  return [
    [
      'whole ride',
      String(Object.values(r.phases).reduce((a, p) => a + p.seconds, 0)),
      formatUs(r.syncErrorUs.p50),
      formatUs(r.syncErrorUs.p99),
      formatUs(r.syncErrorUs.max),
    ],
    ...Object.entries(r.phases).map(([k, v]) => [
      k,
      String(v.seconds),
      formatUs(v.p50),
      formatUs(v.p99),
      formatUs(v.max),
    ]),
  ];
}

/** Text columns padded to their widest cell. */
export function textTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const w = head.map((h, i) => rows.reduce((a, r) => Math.max(a, [...(r[i] ?? '')].length), [...h].length));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export function deviceTable(r: RideResult): string[] {
  return textTable(DEVICE_HEAD, deviceRows(r));
}

export function rideHtml(r: RideResult, svgName: string, phoneSvgName: string): string {
  const o = r.options;
  const events = o.events.length
    ? `<ul>${o.events.map((e) => `<li>${esc(`${e.label ?? e.kind} (${name(e)}) at ${e.atSec} s${e.durationSec ? ` for ${e.durationSec} s` : ''}`)}</li>`).join('')}</ul>`
    : '<p>none</p>';
  const body = `<h1>Ride simulation</h1>
<p class="verdict${r.syncErrorUs.max > 1000 ? ' warn' : ''}">${esc(`${o.devices} devices, ${o.hours} h, GPS ${o.gps}, PPS ${o.pps}, RTC ${o.calibrated ? 'calibrated' : 'uncalibrated'}, seed ${o.seed}: the speakers were ${formatUs(r.syncErrorUs.p99)} apart or closer 99 % of the time, at worst ${formatUs(r.syncErrorUs.max)} (sound travels 34 cm per ms). SIMULATED: twins of every clock, GPS and DAC, in virtual time.`)}</p>
<figure><a href="${esc(svgName)}"><picture><source media="(max-width: 600px)" srcset="${esc(phoneSvgName)}"><img src="${esc(svgName)}" alt="sync error over the ride"></picture></a>
<figcaption>${esc('Each coloured line is one device: the worst |played − true| instant of its audio in each stretch of the ride (0 = the sample left the speaker exactly when the timeline says). The dashed black line is the spread between the devices (how far apart the speakers were). Shaded: GPS outages and device events, named above the plot; a device that never played is marked "silent" in the legend. A line rising in a shaded span is the holdover drifting; a line that stops is a device that is silent there.')}</figcaption></figure>
<h2>Sync error between devices, by phase</h2>${table(PHASE_HEAD, phaseRows(r))}
<h2>Devices</h2>${table(DEVICE_HEAD, deviceRows(r))}
<h2>Events</h2>${events}`;
  return page('jaudiosync ride simulation', body);
}

export { PHONE_WIDTH };
