import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, writeSvgs } from '../calibrate/report.js';
import { formatRide } from '../src/cli/simulate.js';
import { formatUs, rideChart, rideHtml } from '../src/cli/ride-report.js';
import { phoneName, PHONE_WIDTH } from '../src/report/html.js';
import { chart, TEXT_EM_WIDTH, type Series } from '../src/report/svg.js';
import { driftRecordingLines } from '../src/sim/drift-recording.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { simulateRide, type RideResult } from '../src/sim/ride.js';
import { probe } from './helpers/chromium.js';
import { tempDir } from './helpers/tmp.js';

/**
 * Every plot is rendered from seeded data and its structure checked: the series it must have, its
 * axes, no NaN, and no label over another (bounding boxes estimated here from the text, measured in
 * Chromium below); the HTML reports are opened in headless Chromium at phone and desktop widths.
 */

interface TextBox {
  text: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Text elements of an SVG with estimated boxes (rotated ones left out: the y axis title, alone on its side). */
function textBoxes(svg: string): TextBox[] {
  const out: TextBox[] = [];
  for (const m of svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)) {
    const attrs = m[1]!,
      text = m[2]!
        .replace(/&amp;/g, '&')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"');
    if (/transform=/.test(attrs) || !text.trim()) continue;
    const num = (k: string, d: number) => Number(new RegExp(`\\b${k}="([^"]+)"`).exec(attrs)?.[1] ?? d);
    const size = num('font-size', 13),
      x = num('x', 0),
      y = num('y', 0);
    const w = [...text].length * TEXT_EM_WIDTH * size;
    const anchor = /text-anchor="(\w+)"/.exec(attrs)?.[1] ?? 'start';
    const x0 = anchor === 'middle' ? x - w / 2 : anchor === 'end' ? x - w : x;
    out.push({ text, x0, x1: x0 + w, y0: y - 0.8 * size, y1: y + 0.25 * size });
  }
  return out;
}

function overlapping(boxes: readonly TextBox[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i]!,
        b = boxes[j]!;
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) out.push(`"${a.text}" / "${b.text}"`);
    }
  }
  return out;
}

const attrCount = (svg: string, re: RegExp) => (svg.match(re) ?? []).length;

function assertSound(t: import('ava').ExecutionContext, svg: string, what: string): void {
  t.false(/NaN|Infinity|undefined/.test(svg), `${what}: NaN, Infinity or undefined in the SVG`);
  t.deepEqual(overlapping(textBoxes(svg)), [], `${what}: labels overlap`);
  const w = Number(/viewBox="0 0 (\d+)/.exec(svg)![1]);
  for (const b of textBoxes(svg))
    t.true(
      b.x0 >= -1 && b.x1 <= w + 1,
      `${what}: "${b.text}" leaves the drawing (${b.x0.toFixed(0)}..${b.x1.toFixed(0)} of ${w})`,
    );
}

function walk(seed: number, n: number, stepX = 1): Array<[number, number]> {
  const rnd = seededRandom(seed);
  let y = 0;
  return Array.from({ length: n }, (_, i) => {
    y += rnd() - 0.5;
    return [i * stepX, Math.abs(y)] as [number, number];
  });
}

test('chart: one path per series, gaps kept, spans and markers labelled in lanes without overlap, axis from 0, 200k points thinned, no NaN', (t) => {
  const long = walk(1, 200_000, 1 / 3600);
  for (let i = 50_000; i < 60_000; i++) long[i]![1] = NaN; // a silent stretch
  const series: Series[] = [
    { label: 'pi-1', points: long },
    {
      label: 'pi-2',
      points: walk(2, 500, 200_000 / 3600 / 500),
      errorBars: [
        [10, 1, 3],
        [20, 2, 5],
      ],
    },
    {
      label: 'pi-3 with a rather long legend label that has to wrap onto a row of its own',
      points: [],
      note: 'silent',
    },
  ];
  const spans = [
    [5, 9, 'GPS outage: underpass (1.5 min)'],
    [6, 30, 'GPS outage: tunnel (5 min)'],
    [6.1, 6.2, 'pi-3: crash, systemd restart'],
    [0, 7, 'pi-2: booted late, silent until it joins'],
    [40, 41, 'pi-5: song missing'],
    [54, 56, 'right edge span with a label that must be pulled inside'],
  ] as const;
  const svg = chart(series, {
    title: 'sync over the ride: a title',
    xLabel: 'hours',
    yLabel: 'µs',
    yFromZero: true,
    spans: spans.map(([x0, x1, label]) => ({ x0, x1, label })),
    markers: [
      [6, 'pi-4: RTC never set'],
      [6.05, 'pi-1: something else here'],
    ],
  });
  assertSound(t, svg, 'chart');
  t.is(attrCount(svg, /<path class="series"/g), 2, 'the silent series draws no line');
  t.regex(svg, /data-label="pi-1"/);
  t.regex(
    svg,
    />pi-3 with a rather long legend label that has to wrap onto a row of its own/,
    'a silent series is in the legend',
  );
  t.regex(svg, /\(silent\)<\/text>/, 'marked silent');
  t.is(attrCount(svg, /<rect class="span"/g), spans.length);
  t.is(attrCount(svg, /class="span-label"/g), spans.length + 2);
  t.is(attrCount(svg, /<path class="error-bars"/g), 1);
  const pi1 = /data-label="pi-1" d="([^"]+)"/.exec(svg)![1]!;
  t.true(attrCount(pi1, /M/g) >= 2, 'the gap breaks the line');
  t.true(attrCount(pi1, /[ML]/g) < 8000, `200k points drawn as ${attrCount(pi1, /[ML]/g)}`);
  // The y axis starts at 0: the lowest y tick label reads 0.
  const ticks = [...svg.matchAll(/<text class="tick" x="[\d.]+" y="([\d.]+)" text-anchor="end">([^<]+)</g)].map(
    (m) => ({ y: Number(m[1]), v: m[2] }),
  );
  t.is(ticks.sort((a, b) => b.y - a.y)[0]!.v, '0');
});

test('chart: log-log with error bars and reference slopes; an empty chart says so', (t) => {
  const allan = Array.from({ length: 20 }, (_, i) => {
    const tau = 10 ** (i / 5);
    return [tau, 1e-8 / Math.sqrt(tau)] as [number, number];
  });
  const svg = chart(
    [{ label: 'pi-a', points: allan, errorBars: allan.map(([x, y]) => [x, y * 0.9, y * 1.1] as const) }],
    {
      title: 'Allan',
      xLabel: 'τ (s)',
      yLabel: 'σ',
      log: true,
      width: 380,
      guides: [
        [-1, 'τ^−1 PM'],
        [-0.5, 'τ^−1/2 white FM'],
        [0, 'τ^0 flicker FM'],
        [0.5, 'τ^+1/2 RW FM'],
        [1, 'τ^+1 drift'],
      ].map(([slope, label]) => ({ slope: slope as number, label: label as string, through: allan[0]! })),
    },
  );
  assertSound(t, svg, 'allan');
  t.is(attrCount(svg, /<g class="guides"/g), 1);
  t.true(attrCount(svg, /class="guide-label"/g) >= 2, 'reference slopes labelled');
  t.regex(svg, />10⁻⁹</);
  t.regex(chart([{ label: 'x', points: [] }], { title: 'nothing', xLabel: 'x', yLabel: 'y' }), /no data to plot/);
});

/** A ride result made by hand: 3 devices, the third silent for the whole ride. */
function handRide(): RideResult {
  const rideSec = 1800,
    stepSec = 1;
  const env = (seed: number, scale: number) => Float64Array.from(walk(seed, rideSec), ([, y]) => 20 + y * scale);
  const devices = [0, 1, 2].map((i) => ({
    name: `pi-${i + 1}`,
    gps: i === 0,
    clock:
      i === 2
        ? { p50Us: 259199997810, p99Us: 259199997810, maxUs: 259199997810, boundBrokenPct: 0 }
        : { p50Us: 12, p99Us: 40, maxUs: 45, boundBrokenPct: 0 },
    playedUs: { mean: 10, sd: 3 },
    truth: { sysPpm: 0, dacPpm: 0, rtcPpm: 0 },
    joins: [],
    audible: [],
    content: { checkedSec: i === 2 ? 0 : rideSec, silentSec: 0, wrongSec: 0 },
  }));
  const played = [env(1, 1), env(2, 400), new Float64Array(rideSec).fill(NaN)];
  return {
    options: {
      devices: 3,
      hours: 0.5,
      gps: 'some',
      pps: 'kernel',
      calibrated: true,
      seed: 1,
      events: [
        { kind: 'gps-outage', device: 'all', atSec: 300, durationSec: 600, label: 'tunnel' },
        { kind: 'rtc-lost-power', device: 2, atSec: 0, label: 'RTC never set' },
      ],
    },
    syncErrorUs: { p50: 900, p99: 2100, max: 2500 },
    phases: {
      'GPS on one, RTC on the rest': { seconds: 1200, p50: 900, p99: 2000, max: 2100 },
      'GPS outage': { seconds: 600, p50: 1000, p99: 2400, max: 2500 },
    },
    devices,
    spreadUs: Float64Array.from({ length: rideSec }, (_, s) => Math.abs(played[1]![s]! - played[0]![s]!)),
    playedErrorUs: { stepSec, devices: played },
    songFrames: [48_000 * 600, 48_000 * 1800],
    wallMs: 1,
  };
}

test('ride plot (hand-made result): a line per device plus the spread, the outage shaded, a silent device in the legend, y from 0 in ms; its table keeps columns', (t) => {
  const r = handRide();
  const svg = rideChart(r);
  assertSound(t, svg, 'ride');
  t.is(attrCount(svg, /<path class="series"/g), 3, 'two devices that played and the spread');
  t.regex(svg, />pi-3 \(silent: never played\)</);
  t.regex(svg, />GPS outage: tunnel \(10 min\)</);
  t.regex(svg, /\|played − true\| \(ms\)/);
  assertSound(t, rideChart(r, PHONE_WIDTH), 'ride (phone)');
  t.is(formatUs(259199997810), '3.0 d');
  const text = formatRide(r);
  t.notRegex(text, /\d{6,}\.\d+ ms/, 'no absurd milliseconds');
  const rows = text.split('\n').filter((l) => /^pi-\d/.test(l));
  t.is(
    new Set(rows.map((l) => l.indexOf(l.split(/\s{2,}/)[2]!))).size,
    1,
    `the third column starts at one place:\n${rows.join('\n')}`,
  );
  t.regex(rows[2]!, /never played .*3\.0 d \/ 3\.0 d \/ 3\.0 d .*silent for the whole ride/);
});

test('ride plot and report from a seeded short ride (3 devices, 0.2 h, one silent throughout), and both reports in Chromium at phone and desktop widths: no horizontal overflow, no label over another', async (t) => {
  const dir = tempDir('jas-reports-');
  const r = await simulateRide({
    devices: 3,
    hours: 0.2,
    gps: 'all',
    pps: 'kernel',
    calibrated: true,
    seed: 3,
    threads: 1,
    events: [
      { kind: 'gps-outage', device: 'all', atSec: 240, durationSec: 120, label: 'underpass' },
      { kind: 'late-boot', device: 1, atSec: 100, label: 'booted late' },
      { kind: 'crash', device: 2, atSec: 0, durationSec: 100_000, label: 'dead battery' },
    ],
  });
  t.is(r.playedErrorUs.devices.length, 3);
  const svg = rideChart(r);
  assertSound(t, svg, 'seeded ride');
  t.is(attrCount(svg, /<path class="series"/g), 3, 'pi-1, pi-2 and the spread (pi-3 never played)');
  t.regex(svg, />pi-3 \(silent: never played\)</);
  t.regex(svg, />GPS outage: underpass \(2 min\)</);
  t.regex(svg, />pi-2: booted late, silent until it joins</);
  writeFileSync(join(dir, 'ride.svg'), svg);
  writeFileSync(join(dir, phoneName('ride.svg')), rideChart(r, PHONE_WIDTH));
  writeFileSync(join(dir, 'ride.html'), rideHtml(r, 'ride.svg', phoneName('ride.svg')));
  t.regex(readFileSync(join(dir, 'ride.html'), 'utf8'), /<meta name="viewport"/);
  // A calibrate report of two devices beside it.
  const rec = (name: string, seed: number, ppm: number) => {
    const p = join(dir, name);
    writeFileSync(
      p,
      [
        ...driftRecordingLines({
          seconds: 3 * 3600 + 60,
          seed,
          ppsJitterNs: 1500,
          cpuTempC: (s) => 45 + 10 * Math.sin((2 * Math.PI * s) / 5400),
          rtcTempC: (s) => 30 + 5 * Math.sin(s / 2000),
          system: { ppm, tempCoeffPpmPerC: 0.2 },
          rtc: { ppm: 1.4, whiteFmPpm: 0.01 },
        }),
      ].join('\n'),
    );
    return p;
  };
  const { report, series } = await buildReport([rec('pi-a.jsonl', 1, -30), rec('pi-b.jsonl', 2, 12)]);
  await writeSvgs(join(dir, 'cal'), report, series);
  // A control page wider than a phone: the probe must see that overflow (else it could never fail).
  writeFileSync(
    join(dir, 'wide.html'),
    '<!doctype html><meta name="viewport" content="width=device-width"><body><pre>' + 'x'.repeat(300) + '</pre></body>',
  );
  const svgs = [
    ...readdirSync(join(dir, 'cal'))
      .filter((f) => f.endsWith('.svg'))
      .map((f) => join(dir, 'cal', f)),
    join(dir, 'ride.svg'),
    join(dir, phoneName('ride.svg')),
  ];
  const pages = [390, 1280].flatMap((width) => [
    { file: join(dir, 'ride.html'), width },
    { file: join(dir, 'cal', 'index.html'), width },
  ]);
  const p = await probe(dir, [...pages, { file: join(dir, 'wide.html'), width: 390 }], svgs);
  const control = p.frames.at(-1)!;
  t.true(
    control.scrollWidth > control.innerWidth,
    `the probe sees a too-wide page (${control.scrollWidth} > ${control.innerWidth})`,
  );
  for (const f of p.frames.slice(0, -1)) {
    t.is(f.innerWidth, f.width, `${f.src} laid out at ${f.width} px`);
    t.true(
      f.scrollWidth <= f.innerWidth,
      `${f.src} at ${f.width} px scrolls sideways: ${f.scrollWidth} > ${f.innerWidth}`,
    );
    t.true(
      f.images.length >= 1 && f.images.every((i) => i.naturalWidth > 0 && i.width <= f.width),
      `${f.src} at ${f.width}: ${JSON.stringify(f.images)}`,
    );
    t.true(
      f.images.every((i) => f.width < 600 === i.src.endsWith('-phone.svg')),
      `${f.src} at ${f.width} px shows the drawing for its width: ${f.images.map((i) => i.src).join(', ')}`,
    );
  }
  t.is(p.svgs.length, svgs.length);
  for (const s of p.svgs) {
    t.true(s.texts > 5, `${s.file}: ${s.texts} texts`);
    t.deepEqual(s.overlaps, [], `${s.file}: labels overlap in Chromium`);
    t.deepEqual(s.outside, [], `${s.file}: labels outside the drawing`);
  }
});
