import test from 'ava';
import { gaussian } from '../drivers/pps/emulator.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { fitLine } from '../src/time/regress.js';
import type { TimeSample } from '../src/time/sample.js';
import { MAX_PLAUSIBLE_FREQ_PPM, SourceStats } from '../src/time/sourcestats.js';
import { NMEA_ONLY_ERROR_NS } from '../src/time/sources/gps-pps.js';

/**
 * What NMEA alone can claim about the local frequency: sentences jitter by milliseconds (WORLD.md:
 * σ ~2 ms), so a few seconds of them say nothing about a crystal's tens of ppm. The fit must not
 * show −816 ppm for it, and the bound must still hold the truth.
 */

const S = 1_000_000_000n;
const TRUE_PPM = -43; // the local clock runs slow: a Pi 3 measured
const UTC0 = 1_790_000_000n * S;
const MONO0 = 5_000n * S;

/** NMEA-only samples, one a second, with σ jitterMs on the local stamp (seeded). */
function nmeaSamples(n: number, seed: number, jitterMs = 2): TimeSample[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, (_, k) => {
    const utc = UTC0 + BigInt(k) * S;
    // mono runs at (1 + ppm) against UTC: local slow = fewer mono ns per UTC second.
    const mono = MONO0 + BigInt(Math.round(k * 1e9 * (1 + TRUE_PPM * 1e-6) + gaussian(rnd) * jitterMs * 1e6));
    return { monoNs: mono, utcNs: utc, errorNs: NMEA_ONLY_ERROR_NS, source: 'gps' };
  });
}

/** The truth's error against a timescale at a sample's instant, and the bound there. */
function check(st: SourceStats, atMonoNs: bigint): { errNs: number; boundNs: number; freqPpm: number } {
  const ts = st.estimate()!;
  const k = Number(atMonoNs - MONO0) / (1e9 * (1 + TRUE_PPM * 1e-6));
  const truthUtc = UTC0 + BigInt(Math.round(k * 1e9));
  return {
    errNs: Math.abs(Number(ts.utcAt(atMonoNs) - truthUtc)),
    boundNs: ts.errorBoundAt(atMonoNs),
    freqPpm: ts.freqPpm,
  };
}

test('NMEA only: a handful of samples claims no frequency (0, or the prior), never hundreds of ppm; the bound holds the truth', (t) => {
  let wildFits = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const samples = nmeaSamples(64, seed);
    const st = new SourceStats('gps');
    samples.forEach((s, i) => {
      st.add(s);
      if (i + 1 < 4) return;
      // What the bare fit says (the old behaviour), to show these data are the case in question.
      const xs = samples.slice(0, i + 1).map((x) => Number(x.monoNs - s.monoNs) / 1e9);
      const ys = samples.slice(0, i + 1).map((x) => Number(x.utcNs - x.monoNs - (s.utcNs - s.monoNs)));
      if (Math.abs(fitLine(xs, ys).b / 1000) > MAX_PLAUSIBLE_FREQ_PPM) wildFits++;
      const r = check(st, s.monoNs + 30n * S);
      if (Math.abs(r.freqPpm) > MAX_PLAUSIBLE_FREQ_PPM)
        t.fail(`seed ${seed}, ${i + 1} samples: ${r.freqPpm} ppm claimed`);
      if (r.errNs > r.boundNs)
        t.fail(`seed ${seed}, ${i + 1} samples: error ${r.errNs} ns outside the bound ${r.boundNs} ns`);
    });
    const few = new SourceStats('gps');
    samples.slice(0, 5).forEach((s) => few.add(s));
    t.is(few.estimate()!.freqPpm, 0, `seed ${seed}: 5 s of NMEA measure no frequency`);
  }
  t.true(wildFits > 40, `the bare fit was beyond ±${MAX_PLAUSIBLE_FREQ_PPM} ppm ${wildFits} times`);
});

test("NMEA only with a prior from an earlier PPS lock: the unmeasurable slope is the prior's", (t) => {
  const st = new SourceStats('gps');
  st.prior = { freqPpm: TRUE_PPM + 1.5, sigmaPpm: 5 };
  nmeaSamples(6, 7).forEach((s) => st.add(s));
  t.is(st.estimate()!.freqPpm, TRUE_PPM + 1.5);
});

test('a full minute of NMEA measures the frequency to tens of ppm, and PPS-grade samples are untouched by the bound', (t) => {
  const st = new SourceStats('gps');
  nmeaSamples(64, 3).forEach((s) => st.add(s));
  const f = st.estimate()!.freqPpm;
  t.true(f !== 0 && Math.abs(f - TRUE_PPM) < 40, `${f} ppm from 64 s of NMEA`);
  const pps = new SourceStats('gps+pps');
  nmeaSamples(10, 3, 0.001).forEach((s) => pps.add({ ...s, errorNs: 10_000, source: 'gps+pps' }));
  t.true(Math.abs(pps.estimate()!.freqPpm - TRUE_PPM) < 1, `${pps.estimate()!.freqPpm} ppm from 10 s of PPS`);
});
