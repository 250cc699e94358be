// How long one system clock step keeps the GPS out of the clock (virtual time, the whole chain of
// src/sim/clock-world.ts): kernel and GPIO PPS, label delays 100-900 ms, steps of ±3 ms to ±2.5 s,
// at cold start, while locked, during and at the end of a 90 s tunnel, with the PPS stamp read 20 ms
// after its edge, with the converter's refresh late in the second or skipped for seconds (a busy CPU).
// "Out" is the seconds after the step (or the tunnel's end) until the clock is locked within 100 µs
// for good.
//
// Run: node --import tsx bench/clock-steps.ts
import { cpus } from 'node:os';
import { ClockWorld, percentile, type ClockWorldOptions } from '../src/sim/clock-world.js';

const ride: Partial<ClockWorldOptions> = {
  sysPpm: -43,
  sysRandomWalk: 0.002,
  sysTempCoeffPpmPerC: 0.25,
  temperatureC: (t) => 50 + 5 * Math.sin(t / 600),
};
const STEPS_MS = [3, -3, 10, -10, 30, -30, 100, -100, 150, -150, 300, -300, 600, -600, 850, -850, 1030, -1030, 2500];
const tunnel = (s: number) => s >= 60 && s < 150;

interface Situation {
  name: string;
  atSec: number[];
  /** Seconds are counted from here (the step, or the tunnel's end). */
  from: (atSec: number) => number;
  o: Partial<ClockWorldOptions>;
}
const situations: Situation[] = [
  { name: 'cold start', atSec: [0, 1, 2, 3], from: (at) => Math.max(at, 1), o: {} },
  { name: 'locked', atSec: [200, 201, 201.5], from: Math.floor, o: {} },
  { name: 'in a tunnel', atSec: [100, 149], from: () => 150, o: { outage: tunnel } },
  { name: "at a tunnel's end", atSec: [150, 151], from: () => 150, o: { outage: tunnel } },
  {
    name: 'stamp read 20 ms late',
    atSec: [200.01, 201.01],
    from: Math.floor,
    o: { ppsReadLagMs: 20, converterRefreshAfterEdgeMs: 15 },
  },
  {
    name: 'refresh 900 ms after the edge',
    atSec: [200, 201],
    from: Math.floor,
    o: { converterRefreshAfterEdgeMs: 900 },
  },
  {
    name: 'refreshes skipped 6 s',
    atSec: [200, 201],
    from: Math.floor,
    o: { converterRefreshSkipped: (s) => s > 200 && s <= 206 },
  },
  {
    name: "tunnel's end, refreshes skipped 8 s",
    atSec: [149, 150],
    from: () => 150,
    o: { outage: tunnel, converterRefreshSkipped: (s) => s >= 150 && s <= 158 },
  },
];

const started = process.hrtime.bigint();
const outs: number[] = [];
const worst = new Map<string, { out: number; example: string }>();
for (const pps of ['kernel', 'gpio'] as const)
  for (const latencyMs of pps === 'kernel' ? [100, 400, 900] : [150, 900])
    for (const stepMs of STEPS_MS)
      for (const sit of situations)
        for (const atSec of sit.atSec) {
          const from = sit.from(atSec);
          const w = new ClockWorld({
            seed: 3,
            pps,
            ...ride,
            nmeaLatencyMs: latencyMs,
            ...sit.o,
            systemClockSteps: [{ atSec, stepNs: BigInt(stepMs) * 1_000_000n }],
          });
          w.run(from + 200);
          let lastBad = from;
          w.probes.forEach((p, i) => {
            if (i > from && !(p.state === 'locked' && Math.abs(p.errorNs) < 100_000)) lastBad = i;
          });
          const out = lastBad - from;
          outs.push(out);
          const prev = worst.get(sit.name);
          if (!prev || out > prev.out)
            worst.set(sit.name, { out, example: `${pps} PPS, labels ${latencyMs} ms, ${stepMs} ms at ${atSec} s` });
        }
const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `clock steps: ${outs.length} runs of a single system clock step (${cpus()[0]?.model.trim()} x${cpus().length}, ${wallSec.toFixed(0)} s)`,
);
console.log(
  `seconds out of lock after it: p50 ${percentile(outs, 50)}, p99 ${percentile(outs, 99)}, max ${Math.max(...outs)}; over 20 s: ${outs.filter((o) => o > 20).length}`,
);
for (const [name, w] of worst) console.log(`  worst ${name.padEnd(36)} ${String(w.out).padStart(4)} s  (${w.example})`);
