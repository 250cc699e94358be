import { readFileSync, writeFileSync } from 'node:fs';
import { chart } from '../report/svg.js';
import { defaultEvents, simulateRide, type GpsMode, type RideEvent, type RideResult } from '../sim/ride.js';

/** `jaudiosync simulate ride`: the ride simulator's CLI (src/sim/ride.ts does the work). */

export interface SimulateOptions {
  devices: string; hours: string; gps: string; pps: string; calibrated: string; events: string; seed: string; json?: boolean; svg?: string;
}

function readEvents(spec: string, devices: number, hours: number): RideEvent[] {
  if (spec === 'default') return defaultEvents(devices, hours);
  if (spec === 'none') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw new Error(`--events ${spec}: ${(e as Error).message} (expected "default", "none" or a JSON file: [{"kind":"gps-outage","device":"all","atSec":600,"durationSec":120}, ...])`);
  }
  if (!Array.isArray(parsed)) throw new Error(`--events ${spec}: expected a JSON array of events`);
  const kinds = ['gps-outage', 'late-boot', 'crash', 'rtc-lost-power', 'missing-file'];
  parsed.forEach((e: RideEvent, i) => {
    if (!kinds.includes(e.kind)) throw new Error(`--events ${spec}: event ${i + 1} has kind "${e.kind}", expected one of ${kinds.join(', ')}`);
    if (!(e.device === 'all' || (Number.isInteger(e.device) && e.device >= 0 && e.device < devices))) throw new Error(`--events ${spec}: event ${i + 1}: device must be "all" or 0 to ${devices - 1}`);
    if (!(typeof e.atSec === 'number' && e.atSec >= 0)) throw new Error(`--events ${spec}: event ${i + 1}: atSec must be a number of seconds into the ride`);
  });
  return parsed as RideEvent[];
}

/** A sync figure in µs, as µs or ms. */
export const formatUs = (v: number) => (!Number.isFinite(v) ? '-' : v < 1000 ? `${v.toFixed(1)} µs` : `${(v / 1000).toFixed(2)} ms`);
const us = formatUs;

export function formatRide(r: RideResult): string {
  const o = r.options;
  const lines = [
    `ride: ${o.devices} devices, ${o.hours} h, GPS ${o.gps}, PPS ${o.pps}, RTC ${o.calibrated ? 'calibrated' : 'uncalibrated'}, seed ${o.seed}; simulated in ${(r.wallMs / 1000).toFixed(1)} s`,
    `events: ${o.events.length ? o.events.map((e) => `${e.label ?? e.kind} (${e.device === 'all' ? 'all' : `pi-${Number(e.device) + 1}`}) at ${e.atSec} s${e.durationSec ? ` for ${e.durationSec} s` : ''}`).join('; ') : 'none'}`,
    '',
    `inter-device sync error (spread of the true instants one frame is played): p50 ${us(r.syncErrorUs.p50)}, p99 ${us(r.syncErrorUs.p99)}, max ${us(r.syncErrorUs.max)}`,
    ...Object.entries(r.phases).map(([k, v]) => `  ${k.padEnd(28)} ${String(v.seconds).padStart(6)} s   p50 ${us(v.p50).padStart(9)}   p99 ${us(v.p99).padStart(9)}   max ${us(v.max).padStart(9)}`),
    '',
    'device   GPS  clock vs truth p50 / p99 / max           bound broken  joins                  audible',
    ...r.devices.map((d) => `${d.name.padEnd(8)} ${d.gps ? 'yes' : 'no '}  ${`${us(d.clock.p50Us)} / ${us(d.clock.p99Us)} / ${us(d.clock.maxUs)}`.padEnd(40)} ${`${d.clock.boundBrokenPct.toFixed(2)} %`.padStart(12)}  ${(d.joins.map((j) => `+${j.joinedAfterSec} s after ${j.atSec} s`).join(', ') || '-').padEnd(22)} ${d.audible.join('; ') || '-'}`),
  ];
  return lines.join('\n') + '\n';
}

export async function simulateCommand(o: SimulateOptions): Promise<number> {
  const devices = Number(o.devices), hours = Number(o.hours), seed = Number(o.seed);
  if (!(Number.isInteger(devices) && devices >= 1 && devices <= 64)) throw new Error(`--devices "${o.devices}": expected 1 to 64`);
  if (!(hours > 0 && hours <= 48)) throw new Error(`--hours "${o.hours}": expected more than 0, at most 48`);
  if (!Number.isInteger(seed)) throw new Error(`--seed "${o.seed}": expected an integer`);
  const r = await simulateRide({ devices, hours, gps: o.gps as GpsMode, pps: o.pps as 'kernel' | 'gpio', calibrated: o.calibrated === 'yes', events: readEvents(o.events, devices, hours), seed });
  if (o.json) {
    const { spreadUs: _s, ...rest } = r;
    process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
  } else {
    process.stdout.write(formatRide(r));
  }
  if (o.svg) {
    const pts: Array<[number, number]> = [];
    r.spreadUs.forEach((v, s) => { if (Number.isFinite(v)) pts.push([s / 3600, v]); });
    writeFileSync(o.svg, chart([{ label: 'spread between devices', points: pts }], {
      title: `sync error over the ride: ${devices} devices, GPS ${o.gps}`, xLabel: 'hours', yLabel: 'µs',
      markers: r.options.events.map((e) => [e.atSec / 3600, e.label ?? e.kind] as [number, string]),
    }));
    process.stderr.write(`plot: ${o.svg}\n`);
  }
  return 0;
}
