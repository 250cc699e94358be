import test from 'ava';
import { gaussian } from '../drivers/pps/emulator.js';
import { Ds3231Emulator } from '../drivers/rtc/ds3231-emulator.js';
import { decodeTemperature, REG } from '../drivers/rtc/registers.js';
import { fitLine } from '../src/time/regress.js';
import { RtcRateModel } from '../src/time/rtc-model.js';
import { seededRandom } from '../src/sim/oscillator.js';

/**
 * The DS3231's rate against its own temperature, learned from measurements against GPS and used in
 * holdover. Truth is the register-level emulator: a residual parabola around 25 °C, a ride's
 * temperature swings, the TCXO's white FM at every 64 s conversion, the temperature read from its
 * registers (0.25 °C). Seeded.
 */

const S = 1_000_000_000n;
const UTC0 = 1_790_000_000n * S;

function world(seed: number, tempC: (sec: number) => number) {
  let trueNs = 0n;
  const chip = new Ds3231Emulator({
    trueNowNs: () => UTC0 + trueNs,
    basePpm: 1.3,
    tempCoeffPpmPerC2: -0.0005,
    temperatureC: (t) => tempC(Number(t - UTC0) / 1e9),
    conversionJitterPpm: 0.02,
    random: seededRandom(seed * 31 + 7),
  });
  const rnd = seededRandom(seed);
  const buf = Buffer.alloc(2);
  return {
    /** Advance to `sec`: the RTC's offset (ns, measured with 2 µs of edge noise) and its temperature register. */
    at(sec: number) {
      trueNs = BigInt(sec) * S;
      void chip.readI2cBlock(chip.address, REG.TEMP_MSB, 2, buf);
      const offsetNs = Number(chip.rtcNsAt(UTC0 + trueNs) - (UTC0 + trueNs));
      return {
        monoNs: trueNs,
        offsetNs,
        measuredNs: offsetNs + gaussian(rnd) * 2000,
        tempC: decodeTemperature(buf[0]!, buf[1]!),
      };
    },
  };
}

/** A box on a bike: 40 °C ± 8 over 40 min, ± 3 over 5 min. */
const rideTemp = (phase: number) => (s: number) =>
  40 + 8 * Math.sin((2 * Math.PI * s) / 2400 + phase) + 3.2 * Math.sin((2 * Math.PI * s) / 310);

for (const outageSec of [300, 1800]) {
  test(`holdover of ${outageSec} s after 90 min of GPS: the temperature model against the plain rate line`, (t) => {
    let worstModel = 0,
      worstLine = 0,
      outside = 0,
      checked = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const w = world(seed, rideTemp(seed));
      const model = new RtcRateModel();
      const xs: number[] = [],
        ys: number[] = [];
      const learnSec = 5400;
      for (let s = 0; s < learnSec; s++) {
        const m = w.at(s);
        model.addTemperature(m.monoNs, m.tempC);
        model.addMeasurement(m.monoNs, m.measuredNs);
        if (s >= learnSec - 3600) {
          xs.push(s);
          ys.push(m.measuredNs);
        } // what the plain line used: the last hour
      }
      const f = model.fit()!;
      t.is(f.terms, 'rate+quadratic', 'a 20 °C swing supports the quadratic term');
      const line = fitLine(
        xs.map((x) => x - (learnSec - 1)),
        ys,
      );
      for (let s = learnSec; s < learnSec + outageSec; s++) {
        const m = w.at(s);
        model.addTemperature(m.monoNs, m.tempC); // the temperature is still read in the tunnel
        const p = model.predict(m.monoNs)!;
        const errModel = Math.abs(p.offsetNs - m.offsetNs);
        const errLine = Math.abs(line.a + line.b * (s - (learnSec - 1)) - m.offsetNs);
        worstModel = Math.max(worstModel, errModel);
        worstLine = Math.max(worstLine, errLine);
        checked++;
        if (errModel > 3 * p.sigmaNs + 30 * p.sinceSec) outside++; // RtcSource's bound: 3σ + 0.03 ppm
      }
      if (seed === 1)
        t.log(
          `seed 1 fit: r0 ${f.r0Ppm.toFixed(3)} ± ${f.r0SigmaPpm.toFixed(3)} ppm, r1 ${f.r1PpmPerC.toFixed(4)} ppm/°C, r2 ${f.r2PpmPerC2.toFixed(5)} ppm/°C², rms ${(f.rmsNs / 1000).toFixed(2)} µs, walk ${f.walkNsPerSqrtSec.toFixed(0)} ns/√s`,
        );
    }
    t.log(
      `over ${outageSec} s, 6 seeds: worst error with the temperature model ${(worstModel / 1000).toFixed(1)} µs, with the rate line ${(worstLine / 1000).toFixed(1)} µs; bound broken in ${outside} of ${checked} seconds`,
    );
    t.true(worstModel < worstLine / 3, 'the temperature model is several times better');
    t.true(worstModel < (outageSec <= 300 ? 20_000 : 100_000), `worst ${worstModel} ns`);
    t.true(outside <= 0.01 * checked, 'the bound holds (≥ 99 %)');
  });
}

test('a temperature that barely moves supports no temperature terms: the model is the rate line', (t) => {
  const w = world(9, () => 41); // a box that stays at 41 °C
  const model = new RtcRateModel();
  for (let s = 0; s < 1200; s++) {
    const m = w.at(s);
    model.addTemperature(m.monoNs, m.tempC);
    model.addMeasurement(m.monoNs, m.measuredNs);
  }
  const f = model.fit()!;
  t.is(f.terms, 'rate');
  t.true(Math.abs(f.r0Ppm - (1.3 - 0.0005 * 16 * 16)) < 0.05, `rate ${f.r0Ppm}`);
  t.is(new RtcRateModel().fit(), undefined, 'no measurements, no model');
});

test('a short stretch of measurements (7 min after a restart) supports no temperature model, however much the temperature moved', (t) => {
  const w = world(11, rideTemp(0.3));
  const model = new RtcRateModel();
  for (let s = 0; s < 420; s++) {
    const m = w.at(s);
    model.addTemperature(m.monoNs, m.tempC);
    model.addMeasurement(m.monoNs, m.measuredNs);
  }
  t.is(
    model.fit()!.terms,
    'rate',
    'temperature and time move together over minutes: the plain line, with its wide bound',
  );
});
