import test from 'ava';
import { defaultEvents, simulateRide, type RideOptions } from '../../src/sim/ride.js';

/**
 * The ride simulator follows physics: no noise, no error (beyond whole-sample placement); each noise
 * source alone moves the sync error the way it must (PPS jitter: constant; a frequency error: linear
 * in time, tens of ms after 3 h for ±2 ppm RTCs with no GPS); bounds stay honest; same seed, same ride.
 */

const SAMPLE_US = 1e6 / 48_000;
const base: RideOptions = { devices: 3, hours: 0.25, gps: 'all', pps: 'kernel', calibrated: true, events: [], seed: 3 };
const off = { sysPpm: 0, sysTempCoeff: 0, dacPpm: 0, rtcPpm: 0, rtcCalibratedPpm: 0, ppsJitterNs: 0, callbackJitter: 0, tempSwingC: 0 };
const meanOf = (xs: Float64Array, from: number, to: number) => {
  let s = 0, n = 0;
  for (let i = from; i < to; i++) if (Number.isFinite(xs[i]!)) { s += xs[i]!; n++; }
  return s / n;
};

test('the same seed gives the same ride; another seed another', (t) => {
  const a = simulateRide({ ...base, hours: 0.05 });
  const b = simulateRide({ ...base, hours: 0.05 });
  const c = simulateRide({ ...base, hours: 0.05, seed: 4 });
  t.deepEqual(Array.from(a.spreadUs), Array.from(b.spreadUs));
  t.notDeepEqual(Array.from(a.spreadUs), Array.from(c.spreadUs));
});

test('a perfect world: clocks exact, and devices apart by less than one sample (whole-sample placement), not growing', (t) => {
  const r = simulateRide({ ...base, perfect: true });
  for (const d of r.devices) t.true(d.clock.maxUs < 0.01, `${d.name} clock ${d.clock.maxUs} µs off`);
  t.true(r.syncErrorUs.max < SAMPLE_US, `spread ${r.syncErrorUs.max} µs`);
  const early = meanOf(r.spreadUs, 30, 120), late = meanOf(r.spreadUs, 780, 900);
  t.true(Math.abs(late - early) < 0.5, `constant: ${early} then ${late} µs`);
});

test('PPS jitter alone: a small error that does not grow with time', (t) => {
  const r = simulateRide({ ...base, hours: 0.5, noise: { ...off, ppsJitterNs: 1700 } });
  const early = meanOf(r.spreadUs, 60, 300), late = meanOf(r.spreadUs, 1500, 1800);
  t.true(late < 3 * early + SAMPLE_US && r.syncErrorUs.p99 < 100, `constant: ${early.toFixed(1)} then ${late.toFixed(1)} µs, p99 ${r.syncErrorUs.p99}`);
});

test('no GPS, uncalibrated ±2 ppm RTCs: the error grows linearly (since their last set) to tens of milliseconds', (t) => {
  const r = simulateRide({ ...base, hours: 3, gps: 'none', calibrated: false, noise: { ...off, rtcPpm: 2 } });
  const at1h = meanOf(r.spreadUs, 3300, 3900), at3h = meanOf(r.spreadUs, 10_200, 10_800);
  t.log(`spread ~${(at1h / 1000).toFixed(2)} ms after 1 h, ~${(at3h / 1000).toFixed(2)} ms after 3 h`);
  t.true(at3h > 5_000 && at3h < 100_000, `tens of ms, not µs: ${at3h} µs`);
  // Linear in the time since the RTCs were last set, 6 h before the ride: (6 + 3) / (6 + 1).
  const expected = (6 + 3) / (6 + 1);
  t.true(Math.abs(at3h / at1h - expected) < 0.15, `linear: ${at1h} -> ${at3h} µs, ratio ${at3h / at1h} vs ${expected}`);
});

test('the default events with GPS: sync within the goals, bounds honest, late boot and restart rejoin', (t) => {
  const hours = 0.75;
  const r = simulateRide({ ...base, devices: 4, hours, events: defaultEvents(4, hours) });
  t.log(JSON.stringify(r.syncErrorUs), JSON.stringify(r.phases));
  t.true(r.phases['all with GPS']!.p99 <= 100, `p99 with GPS ${r.phases['all with GPS']!.p99} µs`);
  t.true(r.phases['GPS outage']!.max <= 1500, `outage max ${r.phases['GPS outage']!.max} µs`);
  for (const d of r.devices) t.true(d.clock.boundBrokenPct <= 1, `${d.name}: bound broken ${d.clock.boundBrokenPct} % of the time`);
  const late = r.devices[1]!, crashed = r.devices[2]!;
  t.is(late.joins.length, 1);
  t.is(crashed.joins.length, 1);
  t.true(crashed.audible.some((a) => /crash/.test(a)));
  for (const j of [...late.joins, ...crashed.joins]) t.true(j.joinedAfterSec <= 10, `joined ${j.joinedAfterSec} s after (re)start`);
});
