import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { phoneName } from '../report/html.js';
import { Progress } from './progress.js';
import { defaultEvents, simulateRide, type GpsMode, type RideEvent, type RideResult } from '../sim/ride.js';
import { whyNotWritable } from '../util/files.js';
import { deviceTable, formatUs, PHONE_WIDTH, rideChart, rideHtml } from './ride-report.js';

/** `jaudiosync simulate ride`: the ride simulator's CLI (src/sim/ride.ts does the work). */

export interface SimulateOptions {
  devices: string;
  hours: string;
  gps: string;
  pps: string;
  calibrated: string;
  events: string;
  seed: string;
  json?: boolean;
  svg?: string;
  html?: string;
}

function readEvents(spec: string, devices: number, hours: number): RideEvent[] {
  if (spec === 'default') return defaultEvents(devices, hours);
  if (spec === 'none') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw new Error(
      `--events ${spec}: ${(e as Error).message} (expected "default", "none" or a JSON file: [{"kind":"gps-outage","device":"all","atSec":600,"durationSec":120}, ...])`,
    );
  }
  if (!Array.isArray(parsed)) throw new Error(`--events ${spec}: expected a JSON array of events`);
  const kinds = ['gps-outage', 'late-boot', 'crash', 'rtc-lost-power', 'missing-file'];
  parsed.forEach((e: RideEvent, i) => {
    if (!kinds.includes(e.kind))
      throw new Error(`--events ${spec}: event ${i + 1} has kind "${e.kind}", expected one of ${kinds.join(', ')}`);
    if (!(e.device === 'all' || (Number.isInteger(e.device) && e.device >= 0 && e.device < devices)))
      throw new Error(`--events ${spec}: event ${i + 1}: device must be "all" or 0 to ${devices - 1}`);
    if (!(typeof e.atSec === 'number' && e.atSec >= 0))
      throw new Error(`--events ${spec}: event ${i + 1}: atSec must be a number of seconds into the ride`);
  });
  return parsed as RideEvent[];
}

export { formatUs };
const us = formatUs;

export function formatRide(r: RideResult): string {
  const o = r.options;
  const lines = [
    `ride: ${o.devices} devices, ${o.hours} h, GPS ${o.gps}, PPS ${o.pps}, RTC ${o.calibrated ? 'calibrated' : 'uncalibrated'}, seed ${o.seed}; simulated in ${(r.wallMs / 1000).toFixed(1)} s`,
    `events: ${o.events.length ? o.events.map((e) => `${e.label ?? e.kind} (${e.device === 'all' ? 'all' : `pi-${Number(e.device) + 1}`}) at ${e.atSec} s${e.durationSec ? ` for ${e.durationSec} s` : ''}`).join('; ') : 'none'}`,
    '',
    `inter-device sync error (spread of the true instants one frame is played): p50 ${us(r.syncErrorUs.p50)}, p99 ${us(r.syncErrorUs.p99)}, max ${us(r.syncErrorUs.max)}`,
    ...Object.entries(r.phases).map(
      ([k, v]) =>
        `  ${k.padEnd(28)} ${String(v.seconds).padStart(6)} s   p50 ${us(v.p50).padStart(9)}   p99 ${us(v.p99).padStart(9)}   max ${us(v.max).padStart(9)}`,
    ),
    '',
    ...deviceTable(r),
  ];
  return lines.join('\n') + '\n';
}

export async function simulateCommand(o: SimulateOptions): Promise<number> {
  const devices = Number(o.devices),
    hours = Number(o.hours),
    seed = Number(o.seed);
  if (!(Number.isInteger(devices) && devices >= 1 && devices <= 64))
    throw new Error(`--devices "${o.devices}": expected 1 to 64`);
  if (!(hours > 0 && hours <= 48)) throw new Error(`--hours "${o.hours}": expected more than 0, at most 48`);
  if (!Number.isInteger(seed)) throw new Error(`--seed "${o.seed}": expected an integer`);
  // Refuse an unwritable output before simulating for minutes.
  for (const [opt, file] of [
    ['--svg', o.svg],
    ['--html', o.html],
  ] as const) {
    const why = file !== undefined ? await whyNotWritable(resolve(file)) : undefined;
    if (why) throw new Error(`${opt} ${file}: ${why}`);
  }
  let progress: Progress | undefined;
  const r = await simulateRide({
    devices,
    hours,
    gps: o.gps as GpsMode,
    pps: o.pps as 'kernel' | 'gpio',
    calibrated: o.calibrated === 'yes',
    events: readEvents(o.events, devices, hours),
    seed,
    onProgress: (done, total) =>
      (progress ??= new Progress({
        label: 'simulate ride',
        total,
        unit: 'simulated device-hours',
        amount: (v) => (v / 3600).toFixed(1),
      })).update(done),
  });
  progress?.finish();
  if (o.json) {
    const { spreadUs: _s, playedErrorUs: _p, ...rest } = r;
    process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
  } else {
    process.stdout.write(formatRide(r));
  }
  if (o.svg) {
    const svg = resolve(o.svg);
    await writeFile(svg, rideChart(r));
    process.stderr.write(`plot: ${svg}\n`);
  }
  if (o.html) {
    // The page's plot beside it, at desktop and phone widths.
    const html = resolve(o.html);
    const svgName = `${basename(html).replace(/\.html?$/, '')}.svg`;
    await writeFile(join(dirname(html), svgName), rideChart(r));
    await writeFile(join(dirname(html), phoneName(svgName)), rideChart(r, PHONE_WIDTH));
    await writeFile(html, rideHtml(r, svgName, phoneName(svgName)));
    process.stderr.write(`report: ${html} (with ${svgName})\n`);
  }
  return 0;
}
