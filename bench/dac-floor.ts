// The DAC clock on a callback floor that wanders (seeded, virtual time): what the player would follow
// within a track and how honest the rate's claimed uncertainty is. The rig's callbacks (p1…p99
// −0.9…+1.2 ms, a 1 % tail to 22 ms) ride on a least delay that is white, or an AR(1) with memory τ
// and 1σ amplitude A: an AR(1) of 40-60 µs reproduces the JACK rig's in-track figures.
// Run: node --import tsx bench/dac-floor.ts [--seeds N] [--lead SEC] [--no-hold] (--no-hold: the line
// follows every estimate while the music plays, as before the hold)
import { cpus } from 'node:os';
import { DacClock, type DacRate } from '../src/player/dac-clock.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { rigCallbackDelayNs, wanderingFloorNs } from '../src/sim/virtual-sink.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const SEEDS = opt('--seeds', 20),
  LEAD_SEC = opt('--lead', 10),
  HOLD = !args.includes('--no-hold'),
  TRACK_SEC = 22,
  RUN_SEC = 62;
const P = 1024,
  RATE = 48_000,
  AHEAD = 6, // the player asks for a period about this far ahead of the newest callback
  DAC_PPM = 45;
const FLOORS = [
  { name: 'white', tauSec: 0, ampNs: 0 },
  { name: 'AR(1) 8 s, 30 µs', tauSec: 8, ampNs: 30_000 },
  { name: 'AR(1) 20 s, 40 µs', tauSec: 20, ampNs: 40_000 },
  { name: 'AR(1) 60 s, 60 µs', tauSec: 60, ampNs: 60_000 },
];
const CHECK_SEC = [20, 30, 60];

interface Seeded {
  moveUs: number;
  startUs: number;
  z: number[];
  sigma: number[];
}

function one(seed: number, floor: (typeof FLOORS)[number], prior?: DacRate): Seeded {
  const rnd = seededRandom(seed);
  const dac = new DacClock(P, RATE, prior);
  const per = (P * 1e9) / (RATE * (1 + DAC_PPM * 1e-6));
  const floorNs = wanderingFloorNs(rnd, { ...floor, periodSec: P / RATE });
  const inTrack: number[] = [],
    z: number[] = [],
    sigma: number[] = [];
  for (let p = 0; p * P < RUN_SEC * RATE; p++) {
    dac.observe(p, BigInt(Math.round(1e9 + p * per + floorNs() + rigCallbackDelayNs(rnd))));
    const sec = (p * P) / RATE;
    dac.hold(HOLD && sec >= LEAD_SEC); // as the player does once the music plays on
    const q = dac.popMonoNs(p + AHEAD);
    if (q !== undefined && sec >= LEAD_SEC && sec < LEAD_SEC + TRACK_SEC)
      inTrack.push(Number(q) - (1e9 + (p + AHEAD) * per));
    const next = ((p + 1) * P) / RATE;
    for (const c of CHECK_SEC)
      if (sec < c && next >= c) {
        const r = dac.rate();
        z.push(Math.abs(r.ppm - DAC_PPM) / r.sigmaPpm);
        sigma.push(r.sigmaPpm);
      }
  }
  const moveNs = Math.max(...inTrack.map((x) => Math.abs(x - inTrack[0]!)));
  return { moveUs: moveNs / 1000, startUs: inTrack[0]! / 1000, z, sigma };
}

const q = (xs: number[], f: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * f))]!;
const sd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};

console.log(
  `dac-floor bench: ${SEEDS} seeds per row, a DAC ${DAC_PPM} ppm off, music from ${LEAD_SEC} s after the stream opened for ${TRACK_SEC} s, ${HOLD ? 'held while it plays' : 'not held'}; node ${process.version}, ${cpus()[0]?.model} x${cpus().length}`,
);
console.log(
  'floor                 prior    in-track move µs (median/p90/max)  start sd µs  rate: σ ppm and runs within 2σ at ' +
    CHECK_SEC.map((c) => `${c} s`).join(', '),
);
for (const floor of FLOORS)
  for (const [priorName, prior] of [
    ['nominal', undefined],
    ['saved', { ppm: DAC_PPM + 0.5, sigmaPpm: 0.5 }],
  ] as const) {
    const runs = Array.from({ length: SEEDS }, (_, i) => one(1000 + i, floor, prior));
    const moves = runs.map((r) => r.moveUs);
    const cover = CHECK_SEC.map((_, k) => {
      const within = runs.filter((r) => r.z[k]! <= 2).length;
      return `${q(
        runs.map((r) => r.sigma[k]!),
        0.5,
      ).toFixed(1)} ${within}/${SEEDS}`;
    });
    console.log(
      `${floor.name.padEnd(21)} ${priorName.padEnd(8)} ${[0.5, 0.9, 1]
        .map((f) => q(moves, f).toFixed(0))
        .join(' / ')
        .padEnd(34)} ${sd(runs.map((r) => r.startUs))
        .toFixed(0)
        .padEnd(12)} ${cover.join(' | ')}`,
    );
  }
