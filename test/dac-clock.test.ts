import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  DAC_MAX_PPM,
  DAC_SAVE_MAX_SIGMA_PPM,
  DAC_SAVED_SIGMA_PPM,
  DAC_TEMPCO_PPM_PER_C,
  DacClock,
  dacPriorFromSaved,
  type DacRate,
} from '../src/player/dac-clock.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { rigCallbackDelayNs, wanderingFloorNs } from '../src/sim/virtual-sink.js';

/**
 * The DAC clock on callbacks with the JACK rig's jitter (p1…p99 −0.9…+1.2 ms around the cadence,
 * a 1 % tail to 22 ms): how far its prediction of an upcoming period's pop is from the truth, and
 * how much that wanders (what the player would follow), for ideal and ±80 ppm DACs, with and
 * without a saved rate, through stalls. Seeded.
 */

const P = 1024,
  RATE = 48_000;
const SAMPLE_NS = 1e9 / RATE;
const AHEAD = 6; // the engine asks for a period about this far ahead of the newest callback

interface Run {
  errs: Array<{ sec: number; ns: number }>;
  dac: DacClock;
  firstMeasuredSec?: number;
}

function run(o: {
  ppm: number;
  prior?: DacRate;
  seed: number;
  minutes: number;
  stalls?: Array<{ atSec: number; ms: number }>;
}): Run {
  const rnd = seededRandom(o.seed);

  const dac = new DacClock(P, RATE, o.prior);
  const per = (P * 1e9) / (RATE * (1 + o.ppm * 1e-6));
  const errs: Run['errs'] = [];
  let firstMeasuredSec: number | undefined;
  const n = Math.round((o.minutes * 60 * RATE) / P);
  for (let p = 0; p < n; p++) {
    const popNs = 1e9 + p * per;
    let seenNs = popNs + rigCallbackDelayNs(rnd);
    // A stall: every callback due inside it runs at its end (a burst).
    for (const st of o.stalls ?? []) {
      const a = 1e9 + st.atSec * 1e9;
      if (seenNs >= a && seenNs < a + st.ms * 1e6) seenNs = a + st.ms * 1e6 + (seenNs - a) * 1e-3;
    }
    dac.observe(p, BigInt(Math.round(seenNs)));
    const q = dac.popMonoNs(p + AHEAD);
    if (q !== undefined) errs.push({ sec: (p * P) / RATE, ns: Number(q) - (1e9 + (p + AHEAD) * per) });
    if (firstMeasuredSec === undefined && dac.measuredPpm() !== undefined) firstMeasuredSec = (p * P) / RATE;
  }
  return { errs, dac, firstMeasuredSec };
}

const span = (xs: number[]) => ({ min: Math.min(...xs), max: Math.max(...xs) });
const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`;

for (const ppm of [0, 80, -80]) {
  test(`rig jitter, a DAC ${ppm} ppm off, no saved rate: nominal until the fit knows better, then within a sample and no wander`, (t) => {
    for (const seed of [1, 2, 3]) {
      const r = run({ ppm, seed, minutes: 10 });
      const late = r.errs.filter((e) => e.sec >= 60).map((e) => e.ns);
      const s = span(late);
      const rate = r.dac.rate();
      t.log(
        `seed ${seed}: fit adopted at ${r.firstMeasuredSec?.toFixed(1)} s; after 60 s the prediction is ${us(s.min)} … ${us(s.max)} off (wander ${us(s.max - s.min)}); rate ${rate.ppm.toFixed(3)} ± ${rate.sigmaPpm.toFixed(3)} ppm; ${r.dac.corrections} corrections, ${r.dac.heldBack} held back as noise`,
      );
      t.true(r.firstMeasuredSec! > 2, 'a couple of seconds of callbacks do not replace the prior');
      t.true(s.max - s.min <= SAMPLE_NS, `wander ${s.max - s.min} ns`);
      t.true(Math.max(-s.min, s.max) <= SAMPLE_NS, 'within a sample of the truth');
      t.true(
        Math.abs(rate.ppm - ppm) < 0.1 && Math.abs(rate.ppm - ppm) < 4 * rate.sigmaPpm + 0.02,
        `rate ${rate.ppm} ± ${rate.sigmaPpm}`,
      );
      t.true(r.dac.heldBack > r.dac.corrections, 'most refits are noise and change nothing');
      t.is(r.dac.rateSteps, 0, 'no step in the periods is seen where there is none');
      // Saved: the newest estimate (the line in use may keep an older rate inside the noise).
      const saved = r.dac.savableRate();
      t.is(saved?.sigmaPpm, rate.sigmaPpm);
      t.true(Math.abs(saved!.ppm - ppm) < 0.1, `saved ${saved?.ppm} ppm`);
    }
  });
}

test('a saved rate (2 ppm off today) places well from the first seconds', (t) => {
  for (const seed of [4, 5, 6]) {
    // Saved at ± 1 ppm, the temperature then or now unknown: weighed at DAC_SAVED_SIGMA_PPM.
    const prior = dacPriorFromSaved({ ppm: -58, sigmaPpm: 1 }, { ageDays: 1 });
    const r = run({ ppm: -60, prior, seed, minutes: 2 });
    const early = span(r.errs.filter((e) => e.sec >= 2 && e.sec < 10).map((e) => e.ns));
    const later = span(r.errs.filter((e) => e.sec >= 10).map((e) => e.ns));
    t.log(`seed ${seed}: 2-10 s ${us(early.min)} … ${us(early.max)}, from 10 s ${us(later.min)} … ${us(later.max)}`);
    // Early, the error is how late the earliest of a few hundred callbacks happened to be.
    t.true(Math.max(-early.min, early.max) <= 100_000, `${early.min} … ${early.max} ns`);
    t.true(Math.max(-later.min, later.max) <= SAMPLE_NS, `${later.min} … ${later.max} ns`);
    t.true(r.firstMeasuredSec! > 10, 'the saved rate is kept until a fit knows better than it (±3 ppm)');
  }
});

test('a short run saves its rate with its uncertainty; the next short run starts from it and moves the music less', (t) => {
  // A device started 8 s ahead of a 22 s track, twice: how far the prediction moves from the start on.
  const wander = (r: Run) => {
    const xs = r.errs.filter((e) => e.sec >= 8).map((e) => e.ns);
    return Math.max(...xs.map((x) => Math.abs(x - xs[0]!)));
  };
  let fromNominalNs = 0,
    fromSavedNs = 0;
  for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
    const first = run({ ppm: 45, seed, minutes: 0.5 });
    const saved = first.dac.savableRate();
    t.truthy(saved, `seed ${seed}: 30 s of callbacks know the rate to ${first.dac.rate().sigmaPpm.toFixed(1)} ppm`);
    t.true(saved!.sigmaPpm > DAC_SAVE_MAX_SIGMA_PPM / 100 && saved!.sigmaPpm <= DAC_SAVE_MAX_SIGMA_PPM);
    t.true(Math.abs(saved!.ppm - 45) <= 3 * saved!.sigmaPpm, `saved ${saved!.ppm} ± ${saved!.sigmaPpm} ppm`);
    const again = run({ ppm: 45, prior: saved, seed: seed + 100, minutes: 0.5 });
    t.true(again.dac.rate().sigmaPpm <= Math.max(saved!.sigmaPpm, DAC_SAVED_SIGMA_PPM), 'it starts from the saved σ');
    fromSavedNs = Math.max(fromSavedNs, wander(again));
    fromNominalNs = Math.max(fromNominalNs, wander(run({ ppm: 45, seed: seed + 100, minutes: 0.5 })));
  }
  t.log(
    `worst move within the track: ${us(fromNominalNs)} from the nominal rate, ${us(fromSavedNs)} from the saved one`,
  );
  t.true(fromSavedNs < fromNominalNs / 2);
});

test('under a floor that wanders (AR(1), 8-60 s memory, 30-60 µs) the rate claims no more than it knows', (t) => {
  // Fitted as if its residuals were independent, a 60 s rate claimed 0.8 ppm and was off by 2-4σ in
  // most seeds: the wander tilts the line and no residual shows it.
  const SEEDS = 20;
  for (const floor of [
    { tauSec: 8, ampNs: 30_000 },
    { tauSec: 20, ampNs: 40_000 },
    { tauSec: 60, ampNs: 60_000 },
  ]) {
    const hits = { 20: 0, 30: 0, 60: 0 } as Record<number, number>;
    const worst = { 20: 0, 30: 0, 60: 0 } as Record<number, number>;
    for (let seed = 0; seed < SEEDS; seed++) {
      const rnd = seededRandom(500 + seed);
      const ppm = Math.round((rnd() - 0.5) * 160);
      const dac = new DacClock(P, RATE);
      const per = (P * 1e9) / (RATE * (1 + ppm * 1e-6));
      const floorNs = wanderingFloorNs(rnd, { ...floor, periodSec: P / RATE });
      for (let p = 0; p * P < 60 * RATE; p++) {
        dac.observe(p, BigInt(Math.round(1e9 + p * per + floorNs() + rigCallbackDelayNs(rnd))));
        dac.popMonoNs(p + AHEAD); // as the player asks, every period
        if ((p + 1) * P >= 60 * RATE) t.is(dac.rateSteps, 0, `seed ${seed}: a wandering floor is not a step`);
        const sec = Math.round(((p + 1) * P) / RATE);
        if ((p + 1) * P < sec * RATE || p * P >= sec * RATE || !(sec in hits)) continue;
        const r = dac.rate();
        const z = Math.abs(r.ppm - ppm) / r.sigmaPpm;
        if (z <= 2) hits[sec]!++;
        worst[sec] = Math.max(worst[sec]!, z);
      }
    }
    const say = Object.keys(hits)
      .map((s) => `${s} s: ${hits[+s]}/${SEEDS} within 2σ, worst ${worst[+s]!.toFixed(1)}σ`)
      .join('; ');
    t.log(`memory ${floor.tauSec} s, ${us(floor.ampNs)}: ${say}`);
    for (const s of [20, 30, 60]) t.true(hits[s]! >= SEEDS - 2, `${s} s: ${hits[s]}/${SEEDS} within 2σ`);
  }
});

test('stalls of 50-500 ms (late bursts of callbacks) do not move the line', (t) => {
  const stalls = [50, 120, 250, 500].map((ms, i) => ({ atSec: 90 + 20 * i, ms }));
  const r = run({ ppm: 40, seed: 7, minutes: 4, stalls });
  const late = r.errs.filter((e) => e.sec >= 60).map((e) => e.ns);
  const s = span(late);
  t.log(`through ${stalls.length} stalls: ${us(s.min)} … ${us(s.max)}`);
  t.true(s.max - s.min <= SAMPLE_NS && Math.max(-s.min, s.max) <= SAMPLE_NS);
});

test('only a rate measured well is saved: not a prior, not one known worse than 10 ppm, not a clamped or faulted one', (t) => {
  const short = run({ ppm: 30, seed: 8, minutes: 0.05 });
  t.is(short.dac.savableRate(), undefined, '3 s of callbacks: not measured');
  t.regex(
    new DacClock(P, RATE).whyNotSavable() ?? '',
    /^not measured here yet \(too few callbacks/,
    'no fit: said in words',
  );
  t.true(short.dac.rate().sigmaPpm > DAC_SAVE_MAX_SIGMA_PPM);
  const prior = new DacClock(P, RATE, { ppm: 12, sigmaPpm: 1 });
  t.is(prior.savableRate(), undefined, 'a prior is not a measurement');
  t.is(prior.rate().ppm.toFixed(6), '12.000000');
  const wild = run({ ppm: 350, seed: 9, minutes: 3 });
  t.true(Math.abs(wild.dac.rate().ppm - DAC_MAX_PPM) < 0.1, `beyond any DAC: clamped (${wild.dac.rate().ppm})`);
  t.is(wild.dac.savableRate(), undefined, 'a clamped rate is never saved');
  const good = run({ ppm: -20, seed: 10, minutes: 3 });
  t.not(good.dac.savableRate(), undefined);
  good.dac.markFaulted();
  t.is(good.dac.savableRate(), undefined, 'faulted: not saved');
  const rateBefore = good.dac.rate().ppm;
  good.dac.reset();
  t.is(good.dac.popMonoNs(0), undefined, 'after a reset it learns the offset again');
  t.is(good.dac.rate().ppm, rateBefore, 'the crystal is the same: its rate stays, as the prior');
  t.is(good.dac.savableRate(), undefined, 'and is not offered again until measured again');
  t.is(new DacClock(P, RATE, { ppm: 900, sigmaPpm: 1 }).rate().ppm, 0, 'a saved rate beyond any DAC is ignored');
});

/** A saved rate on a callback floor that wanders (AR(1)); music from `leadSec`, held (or not) while it plays. */
function wanderingFloor(o: {
  seed: number;
  tauSec: number;
  ampNs: number;
  hold: boolean;
  leadSec: number;
  sec: number;
}) {
  const rnd = seededRandom(o.seed);
  const ppm = 45;
  const dac = new DacClock(P, RATE, { ppm: ppm + 0.5, sigmaPpm: 0.5 });
  const per = (P * 1e9) / (RATE * (1 + ppm * 1e-6));
  const floorNs = wanderingFloorNs(rnd, { ...o, periodSec: P / RATE });
  const errs: Array<{ sec: number; ns: number }> = [];
  for (let p = 0; p * P < o.sec * RATE; p++) {
    dac.observe(p, BigInt(Math.round(1e9 + p * per + floorNs() + rigCallbackDelayNs(rnd))));
    const sec = (p * P) / RATE;
    dac.hold(o.hold && sec >= o.leadSec); // as the engine does once the music plays on
    const q = dac.popMonoNs(p + AHEAD);
    if (q !== undefined && sec >= o.leadSec) errs.push({ sec, ns: Number(q) - (1e9 + (p + AHEAD) * per) });
  }
  return { errs, dac };
}

test('held while the music plays on: a floor that wanders moves the music within a track about half as much (≤ 50 µs), and the held line is not kept off', (t) => {
  const TRACK_SEC = 22;
  const moveWithin = (errs: Array<{ sec: number; ns: number }>, fromSec: number) => {
    const xs = errs.filter((e) => e.sec >= fromSec && e.sec < fromSec + TRACK_SEC).map((e) => e.ns);
    return Math.max(...xs.map((x) => Math.abs(x - xs[0]!)));
  };
  let heldWorstNs = 0,
    freeWorstNs = 0;
  for (const floor of [
    { tauSec: 20, ampNs: 40_000 },
    { tauSec: 60, ampNs: 60_000 },
  ])
    for (let seed = 0; seed < 10; seed++) {
      const o = { seed: 900 + seed, ...floor, leadSec: 10, sec: 10 + TRACK_SEC };
      heldWorstNs = Math.max(heldWorstNs, moveWithin(wanderingFloor({ ...o, hold: true }).errs, 10));
      freeWorstNs = Math.max(freeWorstNs, moveWithin(wanderingFloor({ ...o, hold: false }).errs, 10));
    }
  t.log(
    `worst move within a ${TRACK_SEC} s track from 10 s: held ${us(heldWorstNs)}, following every estimate ${us(freeWorstNs)}`,
  );
  t.true(heldWorstNs <= 0.6 * freeWorstNs && heldWorstNs <= 50_000, `held ${us(heldWorstNs)}, free ${us(freeWorstNs)}`);
  // Held for 4 minutes on a floor that does not wander: the line is where the free one is, to a sample.
  const held = wanderingFloor({ seed: 5, tauSec: 1, ampNs: 0, hold: true, leadSec: 10, sec: 250 });
  const free = wanderingFloor({ seed: 5, tauSec: 1, ampNs: 0, hold: false, leadSec: 10, sec: 250 });
  const lastNs = (r: typeof held) => r.errs.at(-1)!.ns;
  t.log(
    `after 4 min: held ${us(lastNs(held))} off the truth, free ${us(lastNs(free))}; ${held.dac.held} estimates held`,
  );
  t.true(held.dac.held > 0, 'the hold was in force');
  t.true(Math.abs(lastNs(held)) <= SAMPLE_NS, `held ${us(lastNs(held))} off`);
});

test('held: a callback 60 µs early leaves the line in place and is counted as held (the music 60 µs early by it); 160 µs early moves it by the excess', (t) => {
  const per = (P * 1e9) / RATE;
  const dac = new DacClock(P, RATE, { ppm: 0, sigmaPpm: 1 });
  const at = (p: number, earlyNs = 0) => dac.observe(p, BigInt(Math.round(1e9 + p * per + 500_000 - earlyNs)));
  let p = 0;
  for (; p * per < 12e9; p++) at(p);
  dac.hold(true);
  for (let k = 0; k < 40; k++, p++) at(p);
  const before = Number(dac.popMonoNs(p + AHEAD)!) - (1e9 + (p + AHEAD) * per);
  t.is(dac.heldNs, 0, 'nothing held on a still floor');
  at(p++, 60_000);
  for (let k = 0; k < 20; k++, p++) at(p);
  const after = Number(dac.popMonoNs(p + AHEAD)!) - (1e9 + (p + AHEAD) * per);
  t.true(Math.abs(after - before) < 2_000, `the line moved ${us(after - before)}`);
  t.true(dac.heldNs > 55_000 && dac.heldNs <= 60_000, `held ${us(dac.heldNs)}`);
  at(p++, 160_000);
  for (let k = 0; k < 20; k++, p++) at(p);
  const moved = Number(dac.popMonoNs(p + AHEAD)!) - (1e9 + (p + AHEAD) * per) - after;
  t.true(moved < -55_000 && moved > -65_000, `moved ${us(moved)} by the excess over 100 µs`);
  dac.hold(false);
  for (let k = 0; k < 20; k++, p++) at(p);
  t.true(Math.abs(dac.heldNs) < 2_000, `released: the newest estimate is the line (held ${us(dac.heldNs)})`);
});

test('a saved rate as a prior: at the same temperature it keeps what it knew; a temperature change, an unknown one or age widen it', (t) => {
  const saved = { ppm: 12, sigmaPpm: 0.4 };
  const same = dacPriorFromSaved(saved, { ageDays: 0.5, tempDeltaC: 0 });
  t.is(same.ppm, 12);
  t.true(same.sigmaPpm > 0.4 && same.sigmaPpm < 1, `same temperature: ± ${same.sigmaPpm}`);
  const unknown = dacPriorFromSaved(saved, { ageDays: 0.5 });
  t.true(unknown.sigmaPpm >= DAC_SAVED_SIGMA_PPM, `temperature unknown: ± ${unknown.sigmaPpm}`);
  const warmer = dacPriorFromSaved(saved, { ageDays: 0.5, tempDeltaC: 10 });
  t.true(warmer.sigmaPpm >= 10 * DAC_TEMPCO_PPM_PER_C, `10 °C warmer: ± ${warmer.sigmaPpm}`);
  const old = dacPriorFromSaved(saved, { ageDays: 365, tempDeltaC: 0 });
  t.true(old.sigmaPpm > 4, `a year old: ± ${old.sigmaPpm}`);
  t.true(dacPriorFromSaved(saved, { ageDays: 0, tempDeltaC: NaN }).sigmaPpm >= DAC_SAVED_SIGMA_PPM, 'NaN is unknown');
});

/** Short runs of one device in a row (music from 8 s for 22 s), each starting from what the last saved. */
function runsInARow(seed: number, sameTemperature: boolean) {
  let saved: DacRate | undefined;
  const out: Array<{ startNs: number; moveNs: number; saved?: DacRate; z: number; rejected: boolean }> = [];
  for (let k = 0; k < 6; k++) {
    const prior = saved && dacPriorFromSaved(saved, { ageDays: 0.1, tempDeltaC: sameTemperature ? 0.3 : undefined });
    const r = run({ ppm: 45, prior, seed: seed * 10 + k, minutes: 0.5 });
    const xs = r.errs.filter((e) => e.sec >= 8).map((e) => e.ns);
    const rate = r.dac.rate();
    saved = r.dac.savableRate() ?? saved;
    out.push({
      startNs: Math.abs(xs[0]!),
      moveNs: Math.max(...xs.map((x) => Math.abs(x - xs[0]!))),
      saved,
      z: Math.abs(rate.ppm - 45) / rate.sigmaPpm,
      rejected: r.dac.priorRejected !== undefined,
    });
  }
  return out;
}

test('runs at one temperature tighten the saved rate run by run: later starts land closer and move less, and the rate stays honest', (t) => {
  const SEEDS = 8;
  const worst = { same: { start: 0, move: 0 }, unknown: { start: 0, move: 0 } };
  let lastSigma = 0,
    firstSigma = 0,
    outside3 = 0,
    rejected = 0;
  for (let seed = 1; seed <= SEEDS; seed++)
    for (const [name, same] of [
      ['same', true],
      ['unknown', false],
    ] as const) {
      const runs = runsInARow(seed, same);
      // From the third run on: the prior has had two runs to tighten.
      for (const r of runs.slice(2)) {
        worst[name].start = Math.max(worst[name].start, r.startNs);
        worst[name].move = Math.max(worst[name].move, r.moveNs);
      }
      outside3 += runs.filter((r) => r.z > 3).length;
      rejected += runs.filter((r) => r.rejected).length;
      if (same) {
        firstSigma = Math.max(firstSigma, runs[0]!.saved!.sigmaPpm);
        lastSigma = Math.max(lastSigma, runs.at(-1)!.saved!.sigmaPpm);
      }
    }
  t.log(
    `runs 3-6 of ${SEEDS} seeds: at one temperature start ≤ ${us(worst.same.start)}, move ≤ ${us(worst.same.move)}; temperature unknown start ≤ ${us(worst.unknown.start)}, move ≤ ${us(worst.unknown.move)}; saved σ ${firstSigma.toFixed(2)} -> ${lastSigma.toFixed(2)} ppm`,
  );
  t.true(lastSigma < firstSigma / 2, 'the saved rate tightened');
  t.true(worst.same.move < worst.unknown.move, 'the music moves less within a track');
  t.true(worst.same.start <= worst.unknown.start, 'and starts no worse');
  t.is(rejected, 0, 'an honest prior is never dropped');
  t.true(outside3 <= 2, `${outside3} of ${2 * 6 * SEEDS} runs' rates more than 3σ off`);
});

test('a tight saved rate that is not this device (another DAC under the name) is dropped and said, and the music stays on its sample', (t) => {
  for (const seed of [21, 22, 23]) {
    const r = run({ ppm: 20, prior: { ppm: -30, sigmaPpm: 0.7 }, seed, minutes: 2 });
    const late = span(r.errs.filter((e) => e.sec >= 60).map((e) => e.ns));
    t.log(`seed ${seed}: dropped ${JSON.stringify(r.dac.priorRejected)}; after 60 s ${us(late.min)} … ${us(late.max)}`);
    t.truthy(r.dac.priorRejected, 'the prior was dropped');
    t.is(r.dac.disputed, undefined, 'no dispute left once dropped');
    t.true(Math.abs(r.dac.rate().ppm - 20) < 1, `rate ${r.dac.rate().ppm}`);
    t.true(Math.max(-late.min, late.max) <= SAMPLE_NS, 'within a sample after a minute');
  }
});

/** 80 s of rig callbacks at the nominal rate whose periods step `stepNs` later at `frac` of the run. */
function steppedRun(seed: number, frac: number, stepNs: number, prior: DacRate = { ppm: 0, sigmaPpm: 1 }): DacClock {
  const rnd = seededRandom(seed);
  const dac = new DacClock(P, RATE, prior);
  const n = Math.round((80 * RATE) / P);
  for (let p = 0; p < n; p++) {
    const late = p > n * frac ? stepNs : 0;
    dac.observe(p, BigInt(Math.round(1e9 + p * ((P * 1e9) / RATE) + late + rigCallbackDelayNs(rnd))));
    dac.popMonoNs(p + AHEAD);
  }
  return dac;
}

test('periods that step later by less than a grid move (a JACK driver restarting its schedule) do not tilt the rate, and a tilted rate is not saved', (t) => {
  // Seen on the rig: −26.6 ± 1.6 ppm saved by a device at −0.5 ppm after such a step; the run's
  // music moved 130 µs. Fitted as one line, a 1 ms step tilted the rate 8-33 ppm.
  for (const seed of [21, 22, 23])
    for (const frac of [0.3, 0.5, 0.7, 0.85]) {
      const dac = steppedRun(seed, frac, 1_000_000);
      const r = dac.rate();
      t.log(`seed ${seed}, 1 ms step at ${frac * 100} %: ${r.ppm.toFixed(2)} ± ${r.sigmaPpm.toFixed(2)} ppm`);
      t.true(Math.abs(r.ppm) < 3 * r.sigmaPpm + 0.5, `rate ${r.ppm}`);
      t.true(dac.rateSteps > 0, 'the step was found');
      const saved = dac.savableRate();
      if (saved) t.true(Math.abs(saved.ppm) < 3 * saved.sigmaPpm + 0.5, `saved ${saved.ppm}`);
    }
  for (const seed of [21, 22, 23]) t.is(steppedRun(seed, 2, 0).rateSteps, 0, 'no step where there is none');
  // Two steps, which the one-step model cannot take out: the whole window's rate disagrees with a
  // half's, and it is not saved.
  const twice = new DacClock(P, RATE, { ppm: 0, sigmaPpm: 1 });
  const rnd = seededRandom(27);
  const n = Math.round((80 * RATE) / P);
  for (let p = 0; p < n; p++) {
    const late = (p > n * 0.25 ? 600_000 : 0) + (p > n * 0.6 ? 600_000 : 0);
    twice.observe(p, BigInt(Math.round(1e9 + p * ((P * 1e9) / RATE) + late + rigCallbackDelayNs(rnd))));
  }
  t.log(`two steps: ${twice.rate().ppm.toFixed(1)} ppm; ${twice.whyNotSavable()}`);
  // Beside a saved rate the tilted fit is disputed, not joined: the rate in use stays the saved one.
  t.regex(twice.whyNotSavable() ?? '', /fit -2\d\.\d ppm, far from the saved \+0\.0 ppm, and not yet steadily enough/);
  t.true(Math.abs(twice.rate().ppm) < 1, `rate in use ${twice.rate().ppm}`);
  t.is(twice.savableRate(), undefined);
  // With no saved rate the fit joins the nominal prior; the halves disagree: not saved.
  const unprimed = new DacClock(P, RATE);
  const rnd2 = seededRandom(27);
  for (let p = 0; p < n; p++) {
    const late = (p > n * 0.25 ? 600_000 : 0) + (p > n * 0.6 ? 600_000 : 0);
    unprimed.observe(p, BigInt(Math.round(1e9 + p * ((P * 1e9) / RATE) + late + rigCallbackDelayNs(rnd2))));
  }
  t.regex(unprimed.whyNotSavable() ?? '', /not steady/);
  t.is(unprimed.savableRate(), undefined);
  // 8 s of callbacks beside a ±0.7 ppm prior: the joined σ is tight, the fit alone is not.
  const short = run({ ppm: 20, prior: { ppm: 0, sigmaPpm: 0.7 }, seed: 26, minutes: 8 / 60 });
  t.is(short.dac.savableRate(), undefined, 'the old rate is not saved again as if measured now');
  t.regex(short.dac.whyNotSavable() ?? '', /not measured long enough/);
});

/**
 * Rig callbacks of a device at `ppm` whose periods move later by `moves` ([at s, by ns] each), read as
 * the player reads them; the rate in use farthest from the truth from `checkSec` on.
 */
function movedRun(o: {
  seed: number;
  ppm: number;
  prior?: DacRate;
  sec: number;
  moves: Array<[number, number]>;
  checkSec: number;
}) {
  const rnd = seededRandom(o.seed);
  const dac = new DacClock(P, RATE, o.prior);
  const per = (P * 1e9) / (RATE * (1 + o.ppm * 1e-6));
  let worstPpm = o.ppm;
  for (let p = 0; p < Math.round((o.sec * RATE) / P); p++) {
    const sec = (p * P) / RATE;
    const late = o.moves.filter(([at]) => sec >= at).reduce((n, [, ns]) => n + ns, 0);
    dac.observe(p, BigInt(Math.round(1e9 + p * per + late + rigCallbackDelayNs(rnd))));
    dac.popMonoNs(p + AHEAD);
    const r = dac.rate();
    if (sec >= o.checkSec && Math.abs(r.ppm - o.ppm) > Math.abs(worstPpm - o.ppm)) worstPpm = r.ppm;
  }
  return { dac, worstPpm };
}

test('a staircase of small steps after a stall (a JACK driver restarting again and again) does not replace the rate measured before it', (t) => {
  // Seen on the rig: a grid move of 9 ms, then steps under the 2 ms a grid move needs: ten seconds
  // later the fit said -157 ppm, dropped the -0.6 measured before, and the music moved 480 µs.
  for (const seed of [31, 32, 33]) {
    const stairs: Array<[number, number]> = [
      [60, 9_000_000],
      ...[62, 64, 66, 68, 70].map((s): [number, number] => [s, 700_000]),
    ];
    const { dac, worstPpm } = movedRun({ seed, ppm: -0.6, sec: 120, moves: stairs, checkSec: 61 });
    t.log(
      `seed ${seed}: ${dac.gridMoves} grid move(s); rate in use after it at worst ${worstPpm.toFixed(2)} ppm; dispute ${JSON.stringify(dac.disputed)}; ${dac.whyNotSavable()}`,
    );
    t.true(dac.gridMoves >= 1, 'the 9 ms move was found');
    t.is(dac.priorRejected, undefined, "this stream's own rate is never dropped");
    t.true(Math.abs(worstPpm + 0.6) < 6, `rate in use ${worstPpm} ppm`);
    t.true(dac.disputes > 0, 'the tilted fit was seen, for the log');
  }
});

test('a staircase at the start beside a saved rate keeps the saved rate; a steady other device still drops it', (t) => {
  const prior = { ppm: -0.6, sigmaPpm: 0.9 };
  for (const seed of [41, 42, 43]) {
    const stairs = [2, 4, 6, 8, 10].map((s): [number, number] => [s, 700_000]);
    const { dac, worstPpm } = movedRun({ seed, ppm: -0.6, prior, sec: 40, moves: stairs, checkSec: 0 });
    t.log(
      `seed ${seed}: rate in use at worst ${worstPpm.toFixed(2)} ppm; rejected ${JSON.stringify(dac.priorRejected)}`,
    );
    t.is(dac.priorRejected, undefined, 'not dropped for a tilted fit');
    t.true(Math.abs(worstPpm + 0.6) < 3, `rate in use ${worstPpm} ppm`);
    const other = movedRun({ seed, ppm: 25, prior, sec: 90, moves: [], checkSec: 60 });
    t.truthy(other.dac.priorRejected, 'another device measures steadily and drops it');
    t.true(Math.abs(other.worstPpm - 25) < 4, `rate in use after a minute ${other.worstPpm} ppm`);
  }
});

/**
 * A device's callbacks (rig jitter) whose periods step `stepNs` later at `atSec`, the music held from
 * 10 s on as the engine holds it: the prediction's error (ns) per period from `checkSec` on.
 */
function heldStepRun(o: { seed: number; sec: number; atSec: number; stepNs: number; checkSec: number }) {
  const rnd = seededRandom(o.seed);
  const dac = new DacClock(P, RATE, { ppm: 0, sigmaPpm: 1 });
  const per = (P * 1e9) / RATE;
  const errs: number[] = [];
  for (let p = 0; p < Math.round((o.sec * RATE) / P); p++) {
    const sec = (p * P) / RATE;
    const late = (q: number) => ((q * P) / RATE >= o.atSec ? o.stepNs : 0);
    dac.hold(sec >= 10);
    dac.observe(p, BigInt(Math.round(1e9 + p * per + late(p) + rigCallbackDelayNs(rnd))));
    const q = dac.popMonoNs(p + AHEAD);
    if (sec >= o.checkSec && q !== undefined) errs.push(Number(q) - (1e9 + (p + AHEAD) * per + late(p + AHEAD)));
  }
  return { dac, errs };
}

test('periods that step later by less than a grid move (no xrun) move the held line onto the new grid within seconds, and the step is counted', (t) => {
  // Before, the old grid's callbacks kept the line early by the step until they left the window
  // (~21 s): the music played that much late meanwhile.
  for (const seed of [51, 52, 53])
    for (const stepNs of [500_000, 1_500_000]) {
      const { dac, errs } = heldStepRun({ seed, sec: 80, atSec: 40, stepNs, checkSec: 40 + 14 });
      const s = span(errs);
      t.log(
        `seed ${seed}, a ${us(stepNs)} step at 40 s: from 54 s on the line is ${us(s.min)} … ${us(s.max)} off; ${dac.periodSteps} step(s) taken, the last ${us(dac.lastPeriodStepNs)}`,
      );
      t.true(Math.max(-s.min, s.max) < 100_000, `${us(s.min)} … ${us(s.max)} off`);
      t.is(dac.periodSteps, 1);
      t.true(Math.abs(dac.lastPeriodStepNs - stepNs) < 150_000, `step ${dac.lastPeriodStepNs} ns`);
      t.is(dac.gridMoves, 0, 'not a grid move');
    }
  // Deep into a long stream the rate is refitted only every ~20 s: the late envelope asks for a refit.
  const long = heldStepRun({ seed: 54, sec: 540, atSec: 480, stepNs: 1_000_000, checkSec: 480 + 14 });
  const s = span(long.errs);
  t.log(`a 1 ms step 8 min in: from 14 s after it the line is ${us(s.min)} … ${us(s.max)} off`);
  t.true(Math.max(-s.min, s.max) < 100_000, `${us(s.min)} … ${us(s.max)} off`);
  t.is(long.dac.periodSteps, 1);
  // No step where there is none.
  for (const seed of [51, 52, 53])
    t.is(heldStepRun({ seed, sec: 120, atSec: 1e9, stepNs: 0, checkSec: 0 }).dac.periodSteps, 0);
});

test('a step in the periods seconds after the stream opened does not drop a saved rate on a short fit', (t) => {
  // Seen on the rig (2 of 40 player-runs, 60 s lead): ~20 s after the stream opened, after JACK's
  // driver restarted as the players connected, the fit said -17.0 and +19.1 ppm "steadily", dropped the
  // saved -1.7 and -1.0, and the rate was learned afresh. A step too early to take out (it needs ~11 s
  // on each side) tilts a 20 s fit by tens of ppm while its σ says ~4.
  const prior = { ppm: -1, sigmaPpm: 1.2 };
  for (const seed of [61, 62, 63])
    for (const [atSec, ns] of [
      [3, 400_000],
      [5, 600_000],
      [8, -500_000],
    ] as const) {
      const { dac, worstPpm } = movedRun({ seed, ppm: -1, prior, sec: 90, moves: [[atSec, ns]], checkSec: 0 });
      t.log(
        `seed ${seed}, ${us(ns)} at ${atSec} s: rate in use at worst ${worstPpm.toFixed(2)} ppm; rejected ${JSON.stringify(dac.priorRejected)}`,
      );
      t.is(dac.priorRejected, undefined, 'the saved rate is kept');
      t.true(Math.abs(worstPpm + 1) < 5, `rate in use ${worstPpm} ppm`);
    }
});

/** The audio thread's stamps of 150 s of callbacks recorded on the JACK rig (see the file's header). */
function rigStampsUs(load: 'idle' | 'cpu'): number[] {
  const text = readFileSync(new URL(`./fixtures/jack-thread-stamps-${load}.txt`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map(Number);
}

/**
 * Replays them, the device's periods moved `move.ms` later from callback `move.at` on (as JACK's dummy
 * driver restarting after a stall): at which callbacks a moved grid was found, and the predicted pop
 * of the period AHEAD of each callback.
 */
function replayRig(
  load: 'idle' | 'cpu',
  fromAudioThread: boolean,
  move?: { at: number; ms: number },
): { dac: DacClock; foundAt: number[]; popNs: number[] } {
  const us = rigStampsUs(load);
  const dac = new DacClock(P, RATE, { ppm: 0, sigmaPpm: 1 });
  const periodNs = (P * 1e9) / RATE;
  const foundAt: number[] = [];
  const popNs: number[] = [];
  // The first 4 callbacks are the start-up burst (the device buffer filling): the sink skips them.
  for (let k = 4; k < us.length; k++) {
    const moved = move && k >= move.at ? move.ms * 1e3 : 0;
    const before = dac.gridMoves;
    dac.observe(k, 1_000_000_000n + BigInt(Math.round(k * periodNs + (us[k]! + moved) * 1e3)), fromAudioThread);
    popNs[k] = Number(dac.popMonoNs(k + AHEAD));
    if (dac.gridMoves !== before) foundAt.push(k);
  }
  return { dac, foundAt, popNs };
}

test("the rig's own audio-thread stamps (150 s idle, 150 s under two busy loops) never look like a moved grid", (t) => {
  for (const load of ['idle', 'cpu'] as const) {
    const { dac, foundAt } = replayRig(load, true);
    t.deepEqual(foundAt, [], `${load}: a grid move found where the device never moved`);
    t.is(dac.periodSteps, 0, `${load}: a step found where the device never moved`);
  }
});

test('a grid moved 22 ms (JACK restarting its schedule) is found within 10 callbacks on audio-thread stamps and placed right within 10 more, and after a second on the event loop', (t) => {
  const still = { idle: replayRig('idle', true), cpu: replayRig('cpu', true) };
  let refined = 0;
  for (const load of ['idle', 'cpu'] as const)
    for (let at = 1200; at < 6900; at += 500) {
      const r = replayRig(load, true, { at, ms: 22 });
      const found = r.foundAt[0]!;
      t.true(found - at < 10, `${load} at ${at}: found at callback ${found}`);
      t.is(r.dac.gridMoves - r.dac.gridRefines, 1, `${load} at ${at}: found ${JSON.stringify(r.foundAt)}`);
      // An upper bound: each callback is late by the move and its own delay.
      const saidMs = r.dac.lastGridMoveNs / 1e6;
      t.true(saidMs > 21.99 && saidMs < 26, `${load} at ${at}: said ${saidMs.toFixed(2)} ms later`);
      refined += r.dac.gridRefines;
      // Against the same callbacks unmoved, 22 ms later: what the line should say.
      const offUs = (k: number) => (r.popNs[k]! - still[load].popNs[k]! - 22e6) / 1e3;
      t.true(
        Math.abs(offUs(found + 10)) < 1000,
        `${load} at ${at}: ${offUs(found + 10).toFixed(0)} µs off 10 callbacks on`,
      );
      t.true(
        Math.abs(offUs(found + 60)) < 250,
        `${load} at ${at}: ${offUs(found + 60).toFixed(0)} µs off 60 callbacks on`,
      );
      // A line learned over 1 ms late from the first late callbacks re-places the music once it is known.
      if (offUs(found) > 1000)
        t.true(r.dac.gridRefines >= 1, `${load} at ${at}: ${offUs(found).toFixed(0)} µs late, not re-placed`);
      t.true(r.dac.gridRefines <= 1, `${load} at ${at}: re-placed ${r.dac.gridRefines} times after one move`);
      // The same callbacks said to be timed on the event loop: only the slow watch (a second) looks.
      const loop = replayRig(load, false, { at, ms: 22 });
      t.deepEqual(loop.dac.gridMoves, 1, `${load} at ${at} (event loop): found ${JSON.stringify(loop.foundAt)}`);
      t.true(loop.foundAt[0]! - at > 20, `${load} at ${at} (event loop): found at callback ${loop.foundAt[0]}`);
    }
  t.log(`${refined} re-placement(s) after a line learned from the first late callbacks was late by > 1 ms`);
  // The recordings hold such a case (idle, a move at callback 4700: all 8 first late callbacks ~3 ms late).
  t.true(refined > 0, 'no line learned late was re-placed: the case this guards is not exercised');
});
