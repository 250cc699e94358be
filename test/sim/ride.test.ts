import test from 'ava';
import { defaultEvents, NO_NOISE, simulateRide, type RideOptions } from '../../src/sim/ride.js';

/**
 * The ride simulator follows physics: no noise, no error (beyond whole-sample placement); each noise
 * source alone moves the sync error the way it must (PPS jitter: constant; a frequency error: linear
 * in time, tens of ms after 3 h for ±2 ppm RTCs with no GPS; the RTC's white FM: √t); bounds stay
 * honest; same seed, same ride; a song missing on one device is silence for exactly its slot.
 */

const SAMPLE_US = 1e6 / 48_000;
const base: RideOptions = { devices: 3, hours: 0.25, gps: 'all', pps: 'kernel', calibrated: true, events: [], seed: 3 };
const off = NO_NOISE;
const meanOf = (xs: Float64Array, from: number, to: number) => {
  let s = 0,
    n = 0;
  for (let i = from; i < to; i++)
    if (Number.isFinite(xs[i]!)) {
      s += xs[i]!;
      n++;
    }
  return s / n;
};

test('the same seed gives the same ride; another seed another', async (t) => {
  const a = await simulateRide({ ...base, hours: 0.05 });
  const b = await simulateRide({ ...base, hours: 0.05 });
  const c = await simulateRide({ ...base, hours: 0.05, seed: 4 });
  t.deepEqual(Array.from(a.spreadUs), Array.from(b.spreadUs));
  t.notDeepEqual(Array.from(a.spreadUs), Array.from(c.spreadUs));
});

test('devices in worker threads give the very ride they give in one thread', async (t) => {
  const one = await simulateRide({ ...base, hours: 0.05, threads: 1 });
  const two = await simulateRide({ ...base, hours: 0.05, threads: 2 });
  t.deepEqual(Array.from(two.spreadUs), Array.from(one.spreadUs));
  t.deepEqual(
    two.devices.map((d) => d.truth),
    one.devices.map((d) => d.truth),
  );
  t.true(Array.from(one.spreadUs).some(Number.isFinite), 'the devices played');
});

test('a perfect world: clocks exact, and devices apart by less than one sample (whole-sample placement), not growing', async (t) => {
  const r = await simulateRide({ ...base, perfect: true });
  for (const d of r.devices) t.true(d.clock.maxUs < 0.01, `${d.name} clock ${d.clock.maxUs} µs off`);
  t.true(r.syncErrorUs.max < SAMPLE_US, `spread ${r.syncErrorUs.max} µs`);
  const early = meanOf(r.spreadUs, 30, 120),
    late = meanOf(r.spreadUs, 780, 900);
  t.true(Math.abs(late - early) < 0.5, `constant: ${early} then ${late} µs`);
});

test('PPS jitter alone: a small error that does not grow with time', async (t) => {
  const r = await simulateRide({ ...base, hours: 0.5, noise: { ...off, ppsJitterNs: 1700 } });
  const early = meanOf(r.spreadUs, 60, 300),
    late = meanOf(r.spreadUs, 1500, 1800);
  t.true(
    late < 3 * early + SAMPLE_US && r.syncErrorUs.p99 < 100,
    `constant: ${early.toFixed(1)} then ${late.toFixed(1)} µs, p99 ${r.syncErrorUs.p99}`,
  );
});

test('no GPS, uncalibrated ±2 ppm RTCs: the error grows linearly (since their last set) to tens of milliseconds', async (t) => {
  const r = await simulateRide({ ...base, hours: 3, gps: 'none', calibrated: false, noise: { ...off, rtcPpm: 2 } });
  const at1h = meanOf(r.spreadUs, 3300, 3900),
    at3h = meanOf(r.spreadUs, 10_200, 10_800);
  t.log(`spread ~${(at1h / 1000).toFixed(2)} ms after 1 h, ~${(at3h / 1000).toFixed(2)} ms after 3 h`);
  t.true(at3h > 5_000 && at3h < 100_000, `tens of ms, not µs: ${at3h} µs`);
  // Linear in the time since the RTCs were last set, 6 h before the ride: (6 + 3) / (6 + 1).
  const expected = (6 + 3) / (6 + 1);
  t.true(Math.abs(at3h / at1h - expected) < 0.15, `linear: ${at1h} -> ${at3h} µs, ratio ${at3h / at1h} vs ${expected}`);
});

test('the default events with GPS: sync within the goals, bounds honest, late boot and restart rejoin', async (t) => {
  const hours = 0.75;
  const r = await simulateRide({ ...base, devices: 4, hours, events: defaultEvents(4, hours) });
  t.log(JSON.stringify(r.syncErrorUs), JSON.stringify(r.phases));
  t.true(r.phases['all with GPS']!.p99 <= 100, `p99 with GPS ${r.phases['all with GPS']!.p99} µs`);
  t.true(r.phases['GPS outage']!.max <= 1500, `outage max ${r.phases['GPS outage']!.max} µs`);
  for (const d of r.devices)
    t.true(d.clock.boundBrokenPct <= 1, `${d.name}: bound broken ${d.clock.boundBrokenPct} % of the time`);
  const late = r.devices[1]!,
    crashed = r.devices[2]!;
  t.is(late.joins.length, 1);
  t.is(crashed.joins.length, 1);
  t.true(crashed.audible.some((a) => /crash/.test(a)));
  for (const j of [...late.joins, ...crashed.joins])
    t.true(j.joinedAfterSec <= 5, `joined ${j.joinedAfterSec} s after (re)start`);
});

test("the RTCs' white FM alone, no GPS: the spread grows as √t (not linearly, not constant)", async (t) => {
  // Set at power-up, so the time since the set is the ride's (plus the minute before it).
  const r = await simulateRide({
    ...base,
    devices: 12,
    hours: 2.7,
    gps: 'none',
    calibrated: true,
    rtcSetAgoSec: 0,
    periodFrames: 16_384,
    noise: { ...off, rtcWhiteFmPpm: 2 },
  });
  const [t1, t2] = [600, 9600];
  const at1 = meanOf(r.spreadUs, t1 - 60, t1 + 60),
    at2 = meanOf(r.spreadUs, t2 - 60, t2 + 60);
  const sinceSet = (s: number) => s + 60;
  const sqrtLaw = Math.sqrt(sinceSet(t2) / sinceSet(t1)),
    linear = sinceSet(t2) / sinceSet(t1);
  t.log(
    `spread ${at1.toFixed(0)} µs at ${t1} s, ${at2.toFixed(0)} µs at ${t2} s: ratio ${(at2 / at1).toFixed(2)} (√t: ${sqrtLaw.toFixed(2)}, linear: ${linear.toFixed(1)})`,
  );
  // Between √t and its neighbours in log scale: far from 1 (constant) and from the linear law.
  t.true(at2 / at1 > Math.sqrt(sqrtLaw) && at2 / at1 < Math.sqrt(sqrtLaw * linear), `ratio ${at2 / at1}`);
  // Order of magnitude: each RTC wanders by σ = 2 ppm × 64 s × √(t / 64 s); 12 of them span ~3.3 σ.
  const sigmaUs = (s: number) => 2 * 64 * Math.sqrt(sinceSet(s) / 64);
  t.true(at2 > sigmaUs(t2) && at2 < 6 * sigmaUs(t2), `spread ${at2} µs, σ ${sigmaUs(t2)} µs`);
});

test('a song missing on one device: that device is silent for exactly its slot, then plays on the same frames as the others', async (t) => {
  const hours = 0.4;
  const r = await simulateRide({ ...base, hours, events: [{ kind: 'missing-file', device: 1, atSec: 600 }] });
  const [ok0, missing, ok2] = r.devices;
  t.log(missing!.audible.join(' | '));
  t.true(
    missing!.audible.some((a) => /music file not found/.test(a) && /playing silence/.test(a)),
    'the device says which file and what it does',
  );
  // Its slot: the song playing 600 s into the ride, as long as the manifest says (probes are one a second).
  let start = 0,
    k = 0;
  while (start + r.songFrames[k]! <= 600 * 48_000) start += r.songFrames[k++]!;
  const slotSec = r.songFrames[k]! / 48_000;
  t.true(
    Math.abs(missing!.content.silentSec - slotSec) <= 1,
    `silent ${missing!.content.silentSec} s, the slot is ${slotSec} s`,
  );
  for (const d of [ok0!, missing!, ok2!]) {
    t.is(
      d.content.wrongSec,
      0,
      `${d.name}: every probed frame held the right song's sample (or the silence of the missing one)`,
    );
    t.is(d.content.checkedSec, hours * 3600, d.name);
  }
  t.is(ok0!.content.silentSec + ok2!.content.silentSec, 0);
  t.true(r.syncErrorUs.p99 <= 100, `spread p99 ${r.syncErrorUs.p99} µs: the missing song moves nothing`);
});
