import test from 'ava';
import { GpsPpsSource, NMEA_ONLY_ERROR_NS, STEP_CANDIDATE_EDGES } from '../src/time/sources/gps-pps.js';
import type { TimeSample } from '../src/time/sample.js';
import { SourceStats, WANDER_NS_PER_SEC } from '../src/time/sourcestats.js';
import { fitLine } from '../src/time/regress.js';
import { VirtualClock } from '../src/time/clock.js';
import { ClockLayer } from '../src/time/clock-layer.js';

const S = 1_000_000_000n;

/** Seeded PRNG (mulberry32) and a Gaussian from it: replayable noise. */
function rng(seed: number) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const g = () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
  return { u, g };
}

function collect() {
  const samples: TimeSample[] = [];
  return { samples, sink: { addSample: (s: TimeSample) => samples.push(s) } };
}

test('fitLine recovers a line exactly and reports zero residual', (t) => {
  const f = fitLine([0, 1, 2, 3], [5, 7, 9, 11]);
  t.true(Math.abs(f.a - 5) < 1e-12 && Math.abs(f.b - 2) < 1e-12 && f.rms < 1e-9);
});

test('GPS+PPS: each label pairs with the edge before it at a learned delay, never by rounding', (t) => {
  const { samples, sink } = collect();
  const src = new GpsPpsSource(sink);
  const utc0 = 1_790_000_000n * S;
  const mono0 = 5_000n * S + 123_456_789n; // the local clock's phase is arbitrary
  for (let k = 0n; k < 5n; k++) {
    src.addPulse({ monoNs: mono0 + k * S, seq: Number(k), missed: 0, errorNs: 10_000, via: 'kernel' });
    // Two sentences label each edge, 150 ms and 230 ms after it: only one sample per edge.
    for (const d of [150_000_000n, 230_000_000n]) {
      src.onFix({ monoNs: mono0 + k * S + d, utcNs: utc0 + k * S, valid: true, talker: 'GP', sentence: 'RMC' });
    }
  }
  t.deepEqual(
    samples.map((s) => [s.monoNs - mono0, s.utcNs - utc0]),
    [0n, 1n, 2n, 3n, 4n].map((k) => [k * S, k * S]),
  );
  t.is(src.status.labelDelayMs, 150);
});

test('GPS+PPS: a label that jumps against the edges is rejected, not believed', (t) => {
  const { samples, sink } = collect();
  const src = new GpsPpsSource(sink);
  const utc0 = 1_790_000_000n * S;
  for (let k = 0n; k < 4n; k++) {
    src.addPulse({ monoNs: k * S, seq: Number(k), missed: 0, errorNs: 10_000, via: 'kernel' });
    // The 4th label claims a second 2 s later than its edge allows (receiver glitch).
    const label = k === 3n ? utc0 + 5n * S : utc0 + k * S;
    src.onFix({ monoNs: k * S + 200_000_000n, utcNs: label, valid: true, talker: 'GP', sentence: 'RMC' });
  }
  t.is(samples.length, 3);
  t.is(src.status.rejected, 1);
  t.regex(src.status.lastRejectReason ?? '', /edges/);
});

/** A GPS+PPS source fed edge k (at `edgeMono(k)`) and its label 200 ms later; what it sent and said. */
function stepRig(edgeMono: (k: bigint) => bigint) {
  const { samples, sink } = collect();
  const said: string[] = [];
  const src = new GpsPpsSource(sink, (m) => said.push(m));
  const utc0 = 1_790_000_000n * S;
  const pulse = (k: bigint) =>
    src.addPulse({ monoNs: edgeMono(k), seq: Number(k), missed: 0, errorNs: 10_000, via: 'kernel' });
  /** Edge k's label, 200 ms after it; `offNs` makes it lie (a receiver's glitch). */
  const label = (k: bigint, offNs = 0n) =>
    src.onFix({
      monoNs: k * S + 200_000_000n,
      utcNs: utc0 + k * S + offNs,
      valid: true,
      talker: 'GP',
      sentence: 'RMC',
    });
  /** The converter's refresh that sees the step, 100 ms after edge k (before its label). */
  const news = (k: bigint, jumpNs: bigint) => src.systemClockStepped(Number(jumpNs), k * S + 100_000_000n);
  /** Edges and labels 0..n-1, the news of `jumpNs` after edge `newsAt`'s label (or before it). */
  const feed = (n: bigint, newsAt: bigint, jumpNs: bigint, beforeLabel = false) => {
    for (let k = 0n; k < n; k++) {
      pulse(k);
      if (beforeLabel && k === newsAt) news(k, jumpNs);
      label(k);
      if (!beforeLabel && k === newsAt) news(k, jumpNs);
    }
  };
  return { src, samples, said, utc0, pulse, label, news, feed };
}

const STEP_NS = 30_000_000n; // a +30 ms step: edges converted with the offset from before it sit 30 ms late

test('GPS+PPS: a first pair made across a system clock step pairs afresh once the step is seen, with a restart', (t) => {
  // Edges 0-1 were read after the step, before the converter's refresh: 30 ms late, and they pair
  // with each other. Every right edge after is 30 ms off that pair: before, rejected for ~1 min.
  const r = stepRig((k) => k * S + (k <= 1n ? STEP_NS : 0n));
  for (let k = 0n; k < 4n; k++) {
    r.pulse(k);
    r.label(k);
  }
  t.is(r.samples.length, 2, 'the right edges do not fit the stale pair');
  r.news(3n, STEP_NS);
  for (let k = 4n; k < 8n; k++) {
    r.pulse(k);
    r.label(k);
  }
  t.deepEqual(
    r.samples.slice(2).map((s) => [s.monoNs, s.utcNs - r.utc0, s.restart]),
    [4n, 5n, 6n, 7n].map((k) => [k * S, k * S, k === 4n]),
  );
  t.true(
    r.said.some((m) => /30\.000 ms off the labelled pair, as the system clock stepped/.test(m)),
    r.said.join('\n'),
  );
});

test('GPS+PPS: a right pair is kept across a system clock step; the stale edge is rejected even when the step is seen before its label', (t) => {
  // Edge 5 is read after the step and converted stale; the refresh (and the step's news) comes
  // between its read and its label: the race that must not make it the pair.
  const r = stepRig((k) => k * S + (k === 5n ? STEP_NS : 0n));
  r.feed(10n, 5n, STEP_NS, true);
  t.deepEqual(
    r.samples.map((s) => [s.utcNs - r.utc0, s.restart ?? false]),
    [0n, 1n, 2n, 3n, 4n, 6n, 7n, 8n, 9n].map((k) => [k * S, false]),
  );
  t.is(r.src.status.rejected, 1);
});

for (const jumpNs of [STEP_NS, 150_000_000n]) {
  test(`GPS+PPS: a stale edge that arrived before the news of a ${jumpNs / 1_000_000n} ms step cannot settle it, even when it fits the stale pair`, (t) => {
    // Edges 0-2 are stale; edge 2 is read before the refresh and labelled after it (a step at an odd
    // second, or the first edge after an outage, whose long gap gives a stale pair room to fit). At
    // 150 ms its converted time is after the news: only the order of arrival says it is stale.
    const r = stepRig((k) => k * S + (k <= 2n ? jumpNs : 0n));
    r.feed(6n, 2n, jumpNs, true);
    t.deepEqual(
      r.samples.map((s) => [s.monoNs - s.utcNs + r.utc0, s.restart ?? false]),
      [
        [jumpNs, false],
        [jumpNs, false],
        [jumpNs, false],
        [0n, true],
        [0n, false],
        [0n, false],
      ],
    );
  });
}

test('GPS+PPS: a step near a label delay pairs a stale edge with the next second; fresh edges re-pair once three agree', (t) => {
  // +600 ms: stale edge 0 sits after label 0 (200 ms), so label 1 takes it. Fresh edges miss that
  // pair by 400 ms: −step plus a whole second (never a fit; the tolerance would need ~13 min). A miss
  // of whole seconds could be a receiver's glitch, so STEP_CANDIDATE_EDGES fresh edges must agree.
  const jumpNs = 600_000_000n;
  const r = stepRig((k) => k * S + (k <= 1n ? jumpNs : 0n));
  r.feed(7n, 1n, jumpNs);
  t.is(STEP_CANDIDATE_EDGES, 3);
  t.deepEqual(
    r.samples.map((s) => [s.monoNs, s.utcNs - r.utc0, s.restart ?? false]),
    [[jumpNs, S, false], ...[4n, 5n, 6n].map((k) => [k * S, k * S, k === 4n])],
  );
});

for (const [name, jumpNs, glitches, stale, repairAt] of [
  ['a second off on the first fresh edge', STEP_NS, [2n], [STEP_NS, STEP_NS], 3n],
  ['a second off on two fresh edges', STEP_NS, [2n, 3n], [STEP_NS, STEP_NS], 4n],
  // +1.03 s: the stale pair took the next second's label (+30 ms), and the glitch misses it by −step.
  ['a second off after a step of a second and more', 1_030_000_000n, [2n], [STEP_NS], 5n],
] as const) {
  test(`GPS+PPS: a receiver glitch after a step is not a re-pair: ${name}`, (t) => {
    const r = stepRig((k) => k * S + (k <= 1n ? jumpNs : 0n));
    for (let k = 0n; k < 8n; k++) {
      r.pulse(k);
      r.label(k, (glitches as readonly bigint[]).includes(k) ? S : 0n);
      if (k === 1n) r.news(k, jumpNs);
    }
    const right = Array.from({ length: Number(8n - repairAt) }, (_, i) => [0n, i === 0]);
    t.deepEqual(
      r.samples.map((s) => [s.monoNs - s.utcNs + r.utc0, s.restart ?? false]),
      [...stale.map((o) => [o, false]), ...right],
    );
  });
}

test('GPS+PPS: a system clock step never makes a GPIO edge stale (its stamps are monotonic)', (t) => {
  // After a 90 s tunnel a −43 ppm local clock puts the right edge 3.9 ms off the pair; a −3 ms step
  // told between its arrival and its label is nearer than that, yet a GPIO edge cannot carry it.
  const { samples, sink } = collect();
  const src = new GpsPpsSource(sink);
  const utc0 = 1_790_000_000n * S;
  for (const k of [0n, 1n, 2n, 3n, 94n, 95n]) {
    const driftNs = k > 90n ? -3_900_000n : 0n;
    src.addPulse({ monoNs: k * S + driftNs, seq: Number(k), missed: 0, errorNs: 50_000, via: 'gpio' });
    if (k === 94n) src.systemClockStepped(-3_000_000, k * S + 100_000_000n);
    src.onFix({ monoNs: k * S + 200_000_000n, utcNs: utc0 + k * S, valid: true, talker: 'GP', sentence: 'RMC' });
  }
  t.deepEqual(
    samples.map((x) => (x.utcNs - utc0) / S),
    [0n, 1n, 2n, 3n, 94n, 95n],
    `rejected: ${src.status.lastRejectReason}`,
  );
});

test('GPS+PPS: an edge stamped before a step but converted after its news is not fresh: a right pair is kept', (t) => {
  // Edge 5 is stamped just before a +300 ms step; the refresh sees the step before the driver reads
  // the stamp (~20 ms after the edge), so it is converted with the new offset: 300 ms early.
  const jumpNs = 300_000_000n;
  const r = stepRig((k) => k * S - (k === 5n ? jumpNs : 0n));
  for (let k = 0n; k < 12n; k++) {
    if (k === 5n) r.src.systemClockStepped(Number(jumpNs), k * S + 15_000_000n);
    r.pulse(k);
    r.label(k);
  }
  const wrong = r.samples.filter((s) => s.monoNs !== s.utcNs - r.utc0);
  t.deepEqual(wrong, [], 'no sample off the truth');
  t.is(r.samples.length, 11);
  t.false(
    r.said.some((m) => /pairing afresh/.test(m)),
    r.said.join('\n'),
  );
});

test('GPS+PPS: a stale edge nearer the step than the pair is rejected while the step is pending, even inside the tolerance', (t) => {
  // +3 ms: a stale edge two seconds after the pair fits it within 2 ms + 500 ppm; made the pair, the
  // next edges would re-pair with a restart (the clock out of lock for seconds).
  const jumpNs = 3_000_000n;
  const r = stepRig((k) => k * S + (k === 5n ? jumpNs : 0n));
  for (let k = 0n; k < 10n; k++) {
    if (k === 4n) continue; // a missed second: edge 5 is two seconds after the pair
    r.pulse(k);
    if (k === 5n) r.news(k, jumpNs);
    r.label(k);
  }
  t.deepEqual(
    r.samples.map((s) => [s.utcNs - r.utc0, s.restart ?? false]),
    [0n, 1n, 2n, 3n, 6n, 7n, 8n, 9n].map((k) => [k * S, false]),
  );
  t.regex(r.src.status.lastRejectReason ?? '', /converted before the system clock step of 3\.000 ms/);
});

test('GPS+PPS: label delays taught by stale pairs do not keep the fresh edges out; they are learnt afresh', (t) => {
  // −400 ms, and the refresh skipped for 4 s (a busy CPU): four stale pairs learn a 600 ms label
  // delay, and every right edge (200 ms) is 400 ms off it, beyond the 250 ms tolerance.
  const jumpNs = -400_000_000n;
  const r = stepRig((k) => k * S + (k <= 3n ? jumpNs : 0n));
  r.feed(8n, 3n, jumpNs);
  t.deepEqual(
    r.samples.slice(4).map((s) => [s.monoNs - s.utcNs + r.utc0, s.restart ?? false]),
    [4n, 5n, 6n, 7n].map((k) => [0n, k === 4n]),
  );
  t.is(r.src.status.labelDelayMs, 200);
});

test('GPS+PPS: the first fresh edge that fits the pair settles the step; a later edge off by the step is not a re-pair', (t) => {
  const r = stepRig((k) => k * S + (k === 7n ? -STEP_NS : 0n));
  r.feed(9n, 5n, STEP_NS);
  t.deepEqual(
    r.samples.map((s) => s.utcNs - r.utc0),
    [0n, 1n, 2n, 3n, 4n, 5n, 6n, 8n].map((k) => k * S),
  );
  t.false(
    r.said.some((m) => /pairing afresh/.test(m)),
    r.said.join('\n'),
  );
});

test('GPS+PPS: a step of whole seconds is not an allowance: labels a second off after it wait for the relabel rule', (t) => {
  const r = stepRig((k) => k * S);
  for (let k = 0n; k < 8n; k++) {
    r.pulse(k);
    if (k === 4n) r.news(k, S);
    r.label(k, k >= 5n ? S : 0n);
  }
  t.is(r.samples.length, 5);
  t.regex(r.src.status.lastRejectReason ?? '', /3\/60 edges of a 1 s relabel/);
});

test('GPS without PPS is a millisecond-class source and says so', (t) => {
  const { samples, sink } = collect();
  const src = new GpsPpsSource(sink);
  src.onFix({ monoNs: 10n * S, utcNs: 1_790_000_000n * S, valid: true, talker: 'GP', sentence: 'RMC' });
  t.is(samples.length, 1);
  t.is(samples[0]!.source, 'gps');
  t.is(samples[0]!.errorNs, NMEA_ONLY_ERROR_NS);
});

for (const seed of [1, 2, 3]) {
  test(`sourcestats: recovers offset and frequency, and the bound holds >= 99 % (seed ${seed})`, (t) => {
    const { g, u } = rng(seed);
    const freqPpm = (u() - 0.5) * 100; // a Pi crystal: tens of ppm either way
    const offsetNs = 1_790_000_000n * S;
    const jitterNs = 2_000; // kernel PPS timestamp noise
    const st = new SourceStats('gps+pps');
    let inside = 0,
      total = 0;
    for (let k = 0; k < 600; k++) {
      const utc = offsetNs + BigInt(k) * S;
      const trueMono = BigInt(Math.round(k * 1e9 * (1 + freqPpm * 1e-6)));
      st.add({ monoNs: trueMono + BigInt(Math.round(g() * jitterNs)), utcNs: utc, errorNs: 10_000, source: 'gps+pps' });
      const ts = st.estimate();
      if (!ts) continue;
      // Ask about an instant half a second after the last sample (between pulses).
      const probeMono = trueMono + 500_000_000n;
      const trueUtc = utc + BigInt(Math.round(5e8 / (1 + freqPpm * 1e-6)));
      const err = Math.abs(Number(ts.utcAt(probeMono) - trueUtc));
      total++;
      if (err <= ts.errorBoundAt(probeMono)) inside++;
      if (k === 599) t.true(Math.abs(ts.freqPpm - freqPpm) < 0.05, `freq ${ts.freqPpm} vs ${freqPpm}`);
    }
    t.true(inside / total >= 0.99, `${inside}/${total} inside the bound`);
  });
}

test('clock layer: in a GPS outage an RTC of unknown history (3 days off, ±0.5 s) is no lock: holdover, no step', (t) => {
  const clock = new VirtualClock(1_000n * S);
  const steps: number[] = [];
  const layer = new ClockLayer(clock, { onStep: (stepNs) => steps.push(stepNs) });
  const utc0 = 1_790_000_000n * S;
  const rtcOffsetNs = 3n * 86_400n * S; // it lost power: days off, and it does not know
  for (let k = 0; k < 120; k++) {
    const mono = clock.nowNs();
    if (k < 60) layer.addSample({ monoNs: mono, utcNs: utc0 + BigInt(k) * S, errorNs: 10_000, source: 'gps+pps' });
    layer.addSample({ monoNs: mono, utcNs: utc0 + rtcOffsetNs + BigInt(k) * S, errorNs: 500_000_000, source: 'rtc' });
    clock.advance(S);
  }
  const ts = layer.timescale();
  t.is(ts.source, 'gps+pps');
  t.is(ts.state, 'holdover');
  t.true(Math.abs(Number(ts.utcAt(clock.nowNs()) - (utc0 + 120n * S))) < 1_000_000, 'still on GPS time');
  t.is(steps.length, 1, `only the first lock stepped: ${steps}`);
});

test('clock layer: locks on samples, falls into holdover when they stop, bound grows', (t) => {
  const clock = new VirtualClock(1_000n * S);
  const changes: string[] = [];
  const layer = new ClockLayer(clock, { onStateChange: (ts) => changes.push(`${ts.state}/${ts.source}`) });
  t.is(layer.timescale().state, 'unsynchronized');
  for (let k = 0; k < 6; k++) {
    layer.addSample({
      monoNs: clock.nowNs(),
      utcNs: 1_790_000_000n * S + BigInt(k) * S,
      errorNs: 10_000,
      source: 'gps+pps',
    });
    clock.advance(S);
  }
  const locked = layer.timescale();
  t.is(locked.state, 'locked');
  const boundLocked = locked.errorBoundAt(clock.nowNs());
  clock.advance(60n * S);
  const held = layer.timescale();
  t.is(held.state, 'holdover');
  t.true(
    held.errorBoundAt(clock.nowNs()) >= boundLocked + 60 * WANDER_NS_PER_SEC,
    'grows at least by the frequency wander allowance',
  );
  t.deepEqual(changes, ['locked/gps+pps', 'holdover/gps+pps']);
});
