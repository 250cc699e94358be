import { gaussian } from '../../drivers/pps/emulator.js';

/**
 * A simulated crystal: local time as a function of true time, integrating a frequency made of a
 * fixed offset, a temperature term and a random walk. Pure and seeded; advanced in order.
 */

export interface OscillatorOptions {
  /** Offset at 25 °C (ppm, positive = runs fast). */
  ppm: number;
  /** Linear temperature coefficient (ppm/°C) around 25 °C; a Pi crystal ~0.25 near room temperature. */
  tempCoeffPpmPerC?: number;
  /** Random-walk frequency noise: σ of the frequency change per √s (ppm). */
  randomWalkPpmPerSqrtS?: number;
  temperatureC?: (trueNs: bigint) => number;
  random: () => number;
  /** Local time at true time 0 of the simulation (ns). */
  startLocalNs?: bigint;
}

export class Oscillator {
  private trueNs = 0n;
  private localNs: bigint;
  private walkPpm = 0;
  private fracNs = 0; // sub-ns remainder so that long runs do not round away a drift

  constructor(
    private readonly o: OscillatorOptions,
    startTrueNs = 0n,
  ) {
    this.trueNs = startTrueNs;
    this.localNs = o.startLocalNs ?? 0n;
  }

  /** Frequency now (ppm). */
  freqPpm(trueNs = this.trueNs): number {
    const temp = this.o.temperatureC?.(trueNs) ?? 25;
    return this.o.ppm + (this.o.tempCoeffPpmPerC ?? 0) * (temp - 25) + this.walkPpm;
  }

  /** Local time at a true instant not earlier than the last one asked (advances in ≤ 1 s steps). */
  localAt(trueNs: bigint): bigint {
    if (trueNs < this.trueNs) throw new Error('oscillator: time runs forward only');
    while (this.trueNs < trueNs) {
      const step = trueNs - this.trueNs > 1_000_000_000n ? 1_000_000_000n : trueNs - this.trueNs;
      const exact = Number(step) * (1 + this.freqPpm() * 1e-6) + this.fracNs;
      const whole = Math.floor(exact);
      this.fracNs = exact - whole;
      this.localNs += BigInt(whole);
      this.trueNs += step;
      if (this.o.randomWalkPpmPerSqrtS)
        this.walkPpm += gaussian(this.o.random) * this.o.randomWalkPpmPerSqrtS * Math.sqrt(Number(step) / 1e9);
    }
    return this.localNs;
  }
}

/** mulberry32: a small seeded PRNG, so every simulated run is replayable from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
