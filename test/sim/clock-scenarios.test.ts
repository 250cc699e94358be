import test from 'ava';
import { ClockWorld, percentile, type ClockWorldOptions } from '../../src/sim/clock-world.js';

/**
 * Whole clock chains in virtual time (the real parser, fix gate, GPS+PPS source and clock layer on
 * twins). Each scenario fails when its mechanism is broken: label pairing, regression, holdover
 * bound, slewing, the late-only envelope, outlier rejection.
 */

const ride: Partial<ClockWorldOptions> = {
  sysPpm: -43,
  sysRandomWalk: 0.002,
  sysTempCoeffPpmPerC: 0.25,
  temperatureC: (t) => 50 + 5 * Math.sin(t / 600),
};

function honest(t: import('ava').ExecutionContext, w: ClockWorld, label: string): void {
  const judged = w.probes.filter((p) => p.state !== 'unsynchronized');
  const outside = judged.filter((p) => Math.abs(p.errorNs) > p.boundNs).length;
  t.true(judged.length > 0, label);
  t.true(outside / judged.length <= 0.01, `${label}: ${outside}/${judged.length} probes outside the bound`);
}

test('cold start with GPS + kernel PPS: locked, within 100 µs in seconds, µs-class after', (t) => {
  const w = new ClockWorld({ seed: 11, pps: 'kernel', ...ride });
  w.run(600);
  const firstGood = w.probes.findIndex((p) => p.state === 'locked' && Math.abs(p.errorNs) < 100_000);
  t.true(firstGood >= 0 && firstGood < 30, `first within 100 µs at probe ${firstGood}`);
  const steady = w.probes.slice(60).map((p) => Math.abs(p.errorNs));
  t.true(percentile(steady, 99) < 10_000, `p99 ${percentile(steady, 99)} ns`);
  t.deepEqual(
    w.steps.map((s) => s.why),
    ['first lock on gps+pps'],
    'the only step is the first lock',
  );
  honest(t, w, 'cold start');
});

test('30 min GPS outage: holdover with a growing honest bound, then relock by slewing, never a step', (t) => {
  const w = new ClockWorld({ seed: 12, pps: 'kernel', ...ride, outage: (s) => s >= 300 && s < 2100 });
  w.run(2400);
  t.is(w.probes[1000]!.state, 'holdover');
  t.true(w.probes[2000]!.boundNs > w.probes[1000]!.boundNs, 'the bound grows in holdover');
  t.is(w.probes[2399]!.state, 'locked');
  t.is(w.steps.length, 1, 'no step after the first lock');
  // Consecutive probes 1 s apart move by at most the slew rate plus noise.
  for (let i = 2100; i < 2400; i++) {
    const jump = Math.abs(w.probes[i]!.errorNs - w.probes[i - 1]!.errorNs);
    if (jump > 520_000) t.fail(`jump of ${jump} ns at ${i}`);
  }
  t.true(Math.abs(w.probes[2399]!.errorNs) < 10_000);
  honest(t, w, 'outage');
});

test('NMEA only (no PPS): a millisecond-class source that says so', (t) => {
  const w = new ClockWorld({ seed: 13, pps: 'none', ...ride, nmeaJitterMs: 2 });
  w.run(300);
  const last = w.probes.at(-1)!;
  t.is(last.source, 'gps');
  t.true(last.boundNs > 1_000_000, `bound ${last.boundNs} ns is not pretending to be µs`);
  honest(t, w, 'NMEA only');
});

test('userspace GPIO PPS: the late-only envelope keeps p99 near the minimum latency', (t) => {
  const w = new ClockWorld({ seed: 14, pps: 'gpio', ...ride });
  w.run(900);
  const steady = w.probes.slice(120).map((p) => Math.abs(p.errorNs));
  // The twin's minimum delay is 30 µs: a mean-based fit would sit ~65 µs late.
  t.true(percentile(steady, 50) < 45_000, `p50 ${percentile(steady, 50)} ns`);
  honest(t, w, 'GPIO PPS');
});

test('a receiver that labels the wrong second for a while is rejected, not believed', (t) => {
  const w = new ClockWorld({ seed: 15, pps: 'kernel', ...ride, labelErrorSec: (s) => (s >= 200 && s < 230 ? 1 : 0) });
  w.run(400);
  t.true(w.source.status.rejected > 0);
  const during = w.probes.slice(200, 240).map((p) => Math.abs(p.errorNs));
  t.true(Math.max(...during) < 1_000_000, `worst ${Math.max(...during)} ns while the labels lied`);
  honest(t, w, 'lying labels');
});

test('the system clock stepped by +1 h and -1 h mid-run: the timescale does not notice', (t) => {
  const H = 3_600_000_000_000n;
  const w = new ClockWorld({
    seed: 16,
    pps: 'kernel',
    ...ride,
    systemClockSteps: [
      { atSec: 201, stepNs: H },
      { atSec: 401, stepNs: -H },
    ],
  });
  w.run(600);
  t.is(w.steps.length, 1, 'only the first lock stepped');
  const after = w.probes.slice(60).map((p) => Math.abs(p.errorNs));
  t.true(Math.max(...after) < 50_000, `worst ${Math.max(...after)} ns`);
  honest(t, w, 'stepped system clock');
});

for (const [name, atSec, lockedBy] of [
  ['just before the first edge (the first pair stale)', 0, 30],
  ['while locked', 201, 0],
] as const) {
  test(`the system clock stepped +30 ms ${name}: the GPS keeps or regains its lock at once`, (t) => {
    // Edges read after the step and before the converter's refresh (every 2 s, here 50 ms after an
    // edge, before its label) are 30 ms late; before the source heard of steps, a first pair among
    // them kept every right edge out until the pair check's tolerance grew to 30 ms (~56 s).
    const w = new ClockWorld({ seed: 17, pps: 'kernel', ...ride, systemClockSteps: [{ atSec, stepNs: 30_000_000n }] });
    w.run(300);
    if (lockedBy) {
      const first = w.probes.findIndex((p) => p.state === 'locked' && Math.abs(p.errorNs) < 100_000);
      t.true(first >= 0 && first < lockedBy, `first within 100 µs at probe ${first}`);
    }
    const after = w.probes.slice(Math.max(60, atSec + 1)).map((p) => Math.abs(p.errorNs));
    t.true(Math.max(...after) < 50_000, `worst ${Math.max(...after)} ns`);
    const notLocked = w.probes.slice(Math.max(lockedBy, atSec + 5)).filter((p) => p.state !== 'locked').length;
    t.is(notLocked, 0, 'no spell of holdover: the GPS kept feeding the clock');
    t.is(w.steps.length, 1, `only the first lock stepped: ${w.steps.map((s) => s.why).join(', ')}`);
    honest(t, w, name);
  });
}

for (const stepMs of [30, -30]) {
  test(`the system clock stepped ${stepMs} ms as the GPS comes back from a 90 s tunnel: locked again in seconds`, (t) => {
    // The first edge after the tunnel is stale and fits the pair from before it (the pair check
    // allows 45 ms over 90 s), so it becomes the pair; before, every right edge then missed it by
    // the step for ~2 min.
    const w = new ClockWorld({
      seed: 17,
      pps: 'kernel',
      ...ride,
      outage: (s) => s >= 60 && s < 150,
      systemClockSteps: [{ atSec: 150, stepNs: BigInt(stepMs) * 1_000_000n }],
    });
    w.run(300);
    const back = w.probes.findIndex((p, i) => i > 150 && p.state === 'locked' && Math.abs(p.errorNs) < 100_000);
    t.true(back > 150 && back - 150 <= 20, `locked within 100 µs ${back - 150} s after the tunnel`);
    const after = w.probes.slice(back).filter((p) => p.state !== 'locked').length;
    t.is(after, 0, 'no spell of holdover after that');
    honest(t, w, 'a step at the end of a tunnel');
  });
}

test('the system clock stepped +300 ms between a PPS edge and the driver reading its stamp: the right pair is kept', (t) => {
  // The edge is stamped before the step; the converter's refresh sees the step before the driver
  // reads the stamp 20 ms later, so that edge is converted 300 ms early although it came after the
  // news. Taken for a fresh edge it would become the pair, and every right edge after be rejected.
  const w = new ClockWorld({
    seed: 17,
    pps: 'kernel',
    ...ride,
    ppsReadLagMs: 20,
    converterRefreshAfterEdgeMs: 15,
    systemClockSteps: [{ atSec: 200.01, stepNs: 300_000_000n }],
  });
  w.run(300);
  const notLocked = w.probes.slice(30).filter((p) => p.state !== 'locked').length;
  t.is(notLocked, 0, 'no spell of holdover: the GPS kept feeding the clock');
  const after = w.probes.slice(200).map((p) => Math.abs(p.errorNs));
  t.true(Math.max(...after) < 50_000, `worst ${Math.max(...after)} ns`);
  t.is(w.steps.length, 1, `only the first lock stepped: ${w.steps.map((s) => s.why).join(', ')}`);
});

test('the same seed gives the same run', (t) => {
  const a = new ClockWorld({ seed: 99, pps: 'kernel', ...ride });
  const b = new ClockWorld({ seed: 99, pps: 'kernel', ...ride });
  a.run(120);
  b.run(120);
  t.deepEqual(a.probes, b.probes);
});

test('a receiver whose labels move for good (UTC offset learnt) is believed after a minute, with one logged step', (t) => {
  const w = new ClockWorld({ seed: 17, pps: 'kernel', ...ride, labelErrorSec: (s) => (s >= 200 ? -1 : 0) });
  w.run(400);
  t.is(w.steps.length, 2);
  t.regex(w.steps[1]!.why, /too large to slew/);
  t.true(w.steps[1]!.trueSec >= 260 && w.steps[1]!.trueSec <= 262, `relabel believed at ${w.steps[1]!.trueSec}`);
  // From then on the clock follows the receiver's (new) labels: 1 s behind this world's truth.
  t.true(Math.abs(w.probes[399]!.errorNs + 1e9) < 10_000);
});

test('1 h GPS outage with a DS3231 on SQW: the RTC, measured while GPS was there, carries the clock', (t) => {
  // RTC: 0.3 ppm at 25 °C plus a residual temperature curve: its rate moves ~0.3 ppm over the ride.
  const w = new ClockWorld({
    seed: 18,
    pps: 'kernel',
    ...ride,
    rtc: { ppm: 0.3, tempCoeffPpmPerC2: 0.0006, initialOffsetNs: 300_000n },
    outage: (s) => s >= 600,
  });
  w.run(600 + 3600);
  const drift = w.rtcSource!.drift!;
  t.true(drift.measurements > 500, 'the RTC was measured against GPS while it was there');
  // It started 300 µs ahead and gained at its measured rate for the 600 s of GPS.
  t.true(
    Math.abs(drift.offsetNs - (300_000 + drift.ratePpm * 1e3 * 600)) < 20_000,
    `RTC offset ${drift.offsetNs} ns at ${drift.ratePpm} ppm`,
  );
  t.true(
    drift.ratePpm > 0.5 && drift.ratePpm < 1.0,
    `RTC rate ${drift.ratePpm} ppm (0.3 at 25 °C, more in a 50 °C box)`,
  );
  const end = w.probes.at(-1)!;
  t.is(end.source, 'rtc');
  t.is(end.state, 'holdover');
  t.true(Math.abs(end.errorNs) < 1_500_000, `error after 1 h ${end.errorNs} ns`);
  t.is(w.steps.length, 1, 'the switch to the RTC slews');
  honest(t, w, 'RTC holdover');
  // Without the RTC the same hour costs milliseconds: the RTC is what makes holdover good.
  const bare = new ClockWorld({ seed: 18, pps: 'kernel', ...ride, outage: (s) => s >= 600 });
  bare.run(600 + 3600);
  t.true(Math.abs(bare.probes.at(-1)!.errorNs) > 3 * Math.abs(end.errorNs));
});

test('a week-rollover receiver: dates corrected against the floor, the clock locks on the true time', (t) => {
  const w = new ClockWorld({
    seed: 19,
    pps: 'kernel',
    ...ride,
    rolloverBug: true,
    floorUtcNs: BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n,
  });
  w.run(120);
  t.is(w.probes.at(-1)!.state, 'locked');
  t.true(Math.abs(w.probes.at(-1)!.errorNs) < 10_000);
  // Without a floor the same receiver would put the clock 19.6 years back: the floor is what saves it.
  const naive = new ClockWorld({ seed: 19, pps: 'kernel', ...ride, rolloverBug: true });
  naive.run(60);
  t.true(naive.probes.at(-1)!.errorNs < -600_000_000_000_000_000);
});

test('RTC only (no GPS this boot), calibrated and set 6 h ago: locked on the RTC with an honest bound', (t) => {
  const startUtcSec = 1_790_000_000;
  const w = new ClockWorld({
    seed: 20,
    pps: 'none',
    noGps: true,
    ...ride,
    startUtcSec,
    // Set on the second 6 h ago, since then gaining its calibrated 1.2 ppm (26 ms), give or take.
    rtc: {
      ppm: 1.2,
      initialOffsetNs: 25_920_000n + 150_000n,
      calibration: {
        ratePpm: 1.2,
        rateUncertaintyPpm: 0.05,
        setAtUtcNs: BigInt(startUtcSec - 6 * 3600) * 1_000_000_000n,
        setErrorNs: 200_000,
      },
    },
  });
  w.run(600);
  const last = w.probes.at(-1)!;
  t.is(last.source, 'rtc');
  t.is(last.state, 'locked');
  t.true(
    Math.abs(last.errorNs) < 1_000_000,
    `error ${last.errorNs} ns: the calibrated drift since the set is taken out`,
  );
  honest(t, w, 'RTC only');
});
