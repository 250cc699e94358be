// The aligner on a simulated DAC in virtual time: sync error against truth over hours for DACs off
// by ±100 ppm with late, heavy-tailed callbacks. Run: node --import tsx bench/player.ts [--hours H]
import { cpus } from 'node:os';
import { PlaybackEngine } from '../src/player/engine.js';
import { plainPlan } from '../src/player/plan.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { SineTimeline } from '../src/sim/sine-timeline.js';
import { VirtualSink } from '../src/sim/virtual-sink.js';
import { VirtualClock } from '../src/time/clock.js';
import { perfectGpsTimescale } from '../src/sim/perfect-clock.js';

const args = process.argv.slice(2);
const hours = Number(args[args.indexOf('--hours') + 1] || 4);
const RATE = 48_000,
  P = 1024,
  UTC0 = 1_790_000_000_000_000_000n,
  START = 5_000_000_000n;
console.log(
  `player bench: ${hours} h virtual per DAC, period ${P}, queue 4, callbacks 30 µs + lognormal tail (median 0.1 ms); node ${process.version}, ${cpus()[0]?.model} x${cpus().length}`,
);
for (const ppm of [100, -100, 20]) {
  const clock = new VirtualClock(0n);
  const sink = new VirtualSink({
    clock,
    format: { sampleRate: RATE, channels: 2 },
    periodFrames: P,
    queuePeriods: 4,
    dacPpm: ppm,
    random: seededRandom(7),
    minDelayNs: 30_000,
  });
  const ts = perfectGpsTimescale(UTC0);
  const plan = plainPlan(UTC0 + START, RATE);
  const engine = new PlaybackEngine(sink, new SineTimeline(RATE, 2), {
    plan: () => plan,
    trimNs: 0,
    timescale: () => ts,
    nowNs: () => clock.nowNs(),
    maxErrorNs: Infinity,
    dry: true,
  });
  const errs: number[] = [];
  let first: number | undefined;
  sink.onHeard = (h) => {
    const w = engine.writtenAt(h.period);
    if (!w) return;
    const e = Number(h.heardNs - START) - (w.pos * 1e9) / RATE;
    first ??= e;
    if (h.heardNs > START + 60_000_000_000n) errs.push(e);
  };
  const t0 = process.hrtime.bigint();
  void sink.start((p) => engine.fill(p));
  clock.advance(BigInt(Math.round(hours * 3600)) * 1_000_000_000n);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const mean = errs.reduce((a, b) => a + b, 0) / errs.length;
  const dev = errs.map((e) => Math.abs(e - mean)).sort((a, b) => a - b);
  const abs = errs.map(Math.abs).sort((a, b) => a - b);
  const q = (a: number[], p: number) => (a[Math.floor(p * a.length)]! / 1000).toFixed(1);
  console.log(
    `DAC ${ppm > 0 ? '+' : ''}${ppm} ppm: first frame ${(first! / 1000).toFixed(1)} µs; after 60 s |error| p50 ${q(abs, 0.5)} p99 ${q(abs, 0.99)} max ${(abs.at(-1)! / 1000).toFixed(1)} µs; mean ${(mean / 1000).toFixed(1)} µs (the 30 µs minimum callback delay, which the trim removes), spread p99 ${q(dev, 0.99)} µs; re-seeks ${engine.seeks}; ${wallS.toFixed(1)} s wall`,
  );
}
