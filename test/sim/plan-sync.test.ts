import test from 'ava';
import { PlaybackEngine, type TimelineAudio } from '../../src/player/engine.js';
import { buildPlan, type Plan } from '../../src/player/plan.js';
import type { PlanOp } from '../../src/player/plan-ops.js';
import { seededRandom } from '../../src/sim/oscillator.js';
import { VirtualSink } from '../../src/sim/virtual-sink.js';
import { VirtualClock } from '../../src/time/clock.js';
import { perfectGpsTimescale } from '../../src/sim/perfect-clock.js';

/**
 * Sample-exact actions: two virtual devices with different DAC crystals, period phases and callback
 * jitter render one plan (a volume step, a pause and resume, a skip, a stop). For each action the
 * first frame where it takes effect is found in what each device really played, placed in true time
 * (the virtual clock is UTC here), and must coincide with the action's instant, and across the
 * devices, within one sample.
 */

const RATE = 48_000;
const P = 1024;
const UTC0 = 1_790_000_000_000_000_000n;
const LEVEL = 16_000;
const SAMPLE_NS = 1e9 / RATE;

/** A constant level from frame 0 on: any change of gain shows in every sample; resampling keeps it exact. */
const dc: TimelineAudio = {
  frameBytes: 4,
  endFrame: undefined,
  advance: () => {},
  render(frame, count, out) {
    for (let i = 0; i < count; i++)
      if (frame + i >= 0) {
        out.writeInt16LE(LEVEL, i * 4);
        out.writeInt16LE(LEVEL, i * 4 + 2);
      }
  },
};

const at = (sec: number) => UTC0 + BigInt(Math.round(sec * 1e9));
const START = 2;
const OPS: PlanOp[] = [
  { atUtcNs: at(31.123_456_7), op: 'volume', db: -6, rampMs: 0 },
  { atUtcNs: at(34.5), op: 'pause' },
  { atUtcNs: at(36.000_013), op: 'resume' },
  { atUtcNs: at(38.25), op: 'skip', n: 1 },
  { atUtcNs: at(41.777_777), op: 'stop', fadeMs: 0 },
];

interface Heard {
  trueNs: number;
  samples: Int16Array;
  period: number;
}

function device(seed: number, dacPpm: number, phaseNs: bigint, plan: Plan) {
  const clock = new VirtualClock(0n);
  clock.advance(phaseNs); // the stream opens at a different instant: a different period phase
  const sink = new VirtualSink({
    clock,
    format: { sampleRate: RATE, channels: 2 },
    periodFrames: P,
    queuePeriods: 4,
    dacPpm,
    random: seededRandom(seed),
    minDelayNs: 0,
  });
  const ts = perfectGpsTimescale(UTC0);
  const engine = new PlaybackEngine(sink, dc, {
    plan: () => plan,
    trimNs: 0,
    timescale: () => ts,
    nowNs: () => clock.nowNs(),
    maxErrorNs: Infinity,
  });
  const heard: Heard[] = [];
  const truePeriodNs = (P * 1e9) / (RATE * (1 + dacPpm * 1e-6));
  sink.onHeard = (h) => {
    if (h.heardNs < at(29) - UTC0) return;
    heard.push({
      trueNs: Number(h.heardNs),
      period: h.period,
      samples: h.content.length
        ? new Int16Array(h.content.buffer, h.content.byteOffset, h.content.length / 2)
        : new Int16Array(2 * P),
    });
  };
  void sink.start((p) => engine.fill(p));
  clock.advance(at(43) - UTC0 - clock.nowNs());
  /** True time (ns after UTC0) of the first frame from `fromNs` on whose left sample satisfies `pred`. */
  const first = (fromNs: number, pred: (v: number) => boolean): number | undefined => {
    for (const h of heard) {
      for (let k = 0; k < P; k++) {
        const t = h.trueNs + (k * truePeriodNs) / P;
        if (t >= fromNs && pred(h.samples[2 * k]!)) return t;
      }
    }
    return undefined;
  };
  /** True time (ns after UTC0) at which timeline frame `frame` was heard as the first frame after a jump. */
  const jumpedTo = (frame: number): number | undefined => {
    for (const h of heard) {
      const part = engine.writtenAt(h.period)?.parts.find((x) => x.atFrame > 0 && Math.abs(x.pos - frame) <= 1);
      if (part) return h.trueNs + (part.atFrame * truePeriodNs) / P - ((part.pos - frame) * truePeriodNs) / P;
    }
    return undefined;
  };
  return { engine, first, jumpedTo };
}

test('two devices with different period phases and DAC rates put each action on the same sample', (t) => {
  const plan = buildPlan(
    { startUtcNs: at(START), sampleRate: RATE, trackStartFrames: [0, 40 * RATE], volumeDb: 0, pauses: [] },
    OPS,
  );
  const devices = [device(1, 87, 0n, plan), device(2, -64, 7_777_777n, plan)];
  const rel = (u: bigint) => Number(u - UTC0);
  const half = Math.round(LEVEL * Math.pow(10, -6 / 20));
  const actions: Array<[string, (d: ReturnType<typeof device>) => number | undefined, bigint]> = [
    ['volume step', (d) => d.first(rel(at(30)), (v) => v === half), OPS[0]!.atUtcNs],
    ['pause (silent from)', (d) => d.first(rel(at(34)), (v) => v === 0), OPS[1]!.atUtcNs],
    ['resume (sound from)', (d) => d.first(rel(at(35)), (v) => v !== 0), OPS[2]!.atUtcNs],
    ['stop (silent from)', (d) => d.first(rel(at(41)), (v) => v === 0), OPS[4]!.atUtcNs],
  ];
  for (const [name, find, u] of actions) {
    const times = devices.map(find);
    const errs = times.map((x) => (x === undefined ? NaN : x - rel(u)));
    t.log(`${name}: ${errs.map((e) => `${(e / 1000).toFixed(2)} µs`).join(', ')} from the instant`);
    // The first frame at or after the instant (a fade reaching ~0 may show a fraction of a sample early).
    for (const e of errs) t.true(e > -SAMPLE_NS && e <= SAMPLE_NS, `${name}: ${e} ns off the instant`);
    t.true(Math.abs(times[0]! - times[1]!) <= SAMPLE_NS, `${name}: the devices differ by ${times[0]! - times[1]!} ns`);
  }
  // The skip: each device's read position jumps to track 1's first frame at the frame of its instant.
  const jumps = devices.map((d) => d.jumpedTo(40 * RATE));
  t.log(
    `skip (track 1's first frame): ${jumps.map((x) => `${(((x ?? NaN) - rel(OPS[3]!.atUtcNs)) / 1000).toFixed(2)} µs`).join(', ')} from the instant`,
  );
  for (const x of jumps)
    t.true(x !== undefined && Math.abs(x - rel(OPS[3]!.atUtcNs)) <= SAMPLE_NS, `skip heard ${x} ns`);
  t.true(Math.abs(jumps[0]! - jumps[1]!) <= SAMPLE_NS);
  t.is(devices[0]!.engine.seeks + devices[1]!.engine.seeks, 0);
});
