import test from 'ava';
import {
  buildPlan,
  CONFIG_STOP_FADE_MS,
  dbToGain,
  pieceGainAt,
  planDigest,
  PLAN_FADE_MS,
  type PlanBaseline,
} from '../src/player/plan.js';
import { PLAN_OP_NAMES, type PlanOp } from '../src/player/plan-ops.js';
import { seededRandom } from '../src/sim/oscillator.js';

const RATE = 48_000;
const S = 1_000_000_000n;
const MS = 1_000_000n;
const T0 = 1_790_000_000n * S;
const FADE = BigInt(PLAN_FADE_MS) * MS;
/** Three tracks of 60 s, 30 s and 90 s. */
const STARTS = [0, 60 * RATE, 90 * RATE];
const END = 180 * RATE;

function baseline(over: Partial<PlanBaseline> = {}): PlanBaseline {
  return {
    startUtcNs: T0,
    sampleRate: RATE,
    trackStartFrames: STARTS,
    endFrame: END,
    volumeDb: 0,
    pauses: [],
    ...over,
  };
}
const at = (sec: number) => T0 + BigInt(Math.round(sec * 1e9));
const close = (t: { true(c: boolean, m?: string): void }, a: number | undefined, b: number, eps = 1e-6, m = '') =>
  t.true(a !== undefined && Math.abs(a - b) <= eps, `${m} ${a} vs ${b}`);

test('the baseline: frame 0 sounds at the start, the timeline runs at the sample rate and ends at endFrame', (t) => {
  const p = buildPlan(baseline(), []);
  t.is(p.frameAt(T0), 0);
  t.is(p.frameAt(T0 - S), -RATE, 'before the start: negative frames (silence from the audio)');
  close(t, p.frameAt(at(10.5)), 10.5 * RATE);
  t.is(p.gainAt(at(5)), 1);
  t.is(p.endUtcNs, at(180));
  t.is(p.frameAt(at(180)), undefined);
  t.is(p.frameAt(at(180) - 1n)! < END, true);
  t.deepEqual(p.stateAt(at(70)), { state: 'running', frame: 70 * RATE, track: 1 });
  t.deepEqual(p.stateAt(at(200)), { state: 'ended' });
  t.is(buildPlan(baseline({ endFrame: undefined }), []).endUtcNs, undefined, 'an unknown end never ends');
  t.is(buildPlan(baseline({ volumeDb: -6 }), []).gainAt(at(1)), dbToGain(-6));
});

test('pause fades out ending at its instant and holds; resume runs on from the held frame with a fade-in', (t) => {
  const p = buildPlan(baseline(), [
    { atUtcNs: at(10), op: 'pause' },
    { atUtcNs: at(20), op: 'resume' },
  ]);
  t.is(p.gainAt(at(10) - FADE), 1, 'the fade starts PLAN_FADE_MS before');
  close(t, p.gainAt(at(10) - FADE / 2n), 0.5);
  close(t, p.frameAt(at(10) - 1n), 10 * RATE, 0.1, 'still running until the instant');
  t.is(p.frameAt(at(10)), undefined, 'silent from the instant');
  t.is(p.gainAt(at(10)), 0);
  t.deepEqual(p.stateAt(at(15)), { state: 'held', frame: 10 * RATE, track: 0 });
  t.is(p.frameAt(at(20)), 10 * RATE, 'resumes from the held frame');
  close(t, p.frameAt(at(21)), 11 * RATE);
  t.is(p.gainAt(at(20)), 0);
  close(t, p.gainAt(at(20) + FADE / 2n), 0.5);
  t.is(p.gainAt(at(20) + FADE), 1);
  t.deepEqual(p.discontinuities(at(0), at(30)), [at(10), at(20)]);
  t.is(p.endUtcNs, at(190), 'the end moved by the pause');
});

test('skip: to the start of the track n on, clamped at track 0, past the last track is the end; no fade-in on a track start', (t) => {
  const fwd = buildPlan(baseline(), [{ atUtcNs: at(10), op: 'skip', n: 1 }]);
  t.is(fwd.frameAt(at(10)), 60 * RATE);
  t.is(fwd.gainAt(at(10)), 1, 'a track start plays unfaded');
  close(t, fwd.gainAt(at(10) - FADE / 4n), 0.25, 1e-6, 'the old track fades out before');
  const back = buildPlan(baseline(), [{ atUtcNs: at(70), op: 'skip', n: -5 }]);
  t.is(back.frameAt(at(70)), 0, 'clamped at track 0');
  const restart = buildPlan(baseline(), [{ atUtcNs: at(70), op: 'skip', n: 0 }]);
  t.is(restart.frameAt(at(70)), 60 * RATE, 'n = 0: the current track from its start');
  const past = buildPlan(baseline(), [{ atUtcNs: at(70), op: 'skip', n: 2 }]);
  t.is(past.frameAt(at(70)), undefined);
  t.is(past.endUtcNs, at(70));
  const before = buildPlan(baseline(), [{ atUtcNs: at(-5), op: 'skip', n: 1 }]);
  t.is(planDigest(before) === planDigest(buildPlan(baseline(), [])), false, 'the op is part of the digest');
  t.is(before.frameAt(at(0)), 0, 'before the first frame a skip is a no-op');
  const held = buildPlan(baseline(), [
    { atUtcNs: at(10), op: 'pause' },
    { atUtcNs: at(12), op: 'skip', n: 1 },
    { atUtcNs: at(14), op: 'resume' },
  ]);
  t.deepEqual(held.stateAt(at(13)), { state: 'held', frame: 60 * RATE, track: 1 }, 'while held: moves the held frame');
  t.is(held.frameAt(at(14)), 60 * RATE);
  t.is(held.gainAt(at(14)), 1, 'resuming on a track start: unfaded');
});

test('seek: track start plus offset, fade-in after the jump; past the end is the end', (t) => {
  const p = buildPlan(baseline(), [{ atUtcNs: at(5), op: 'seek', track: 2, offsetSec: 12.5 }]);
  t.is(p.frameAt(at(5)), 90 * RATE + 12.5 * RATE);
  t.is(p.gainAt(at(5)), 0);
  close(t, p.gainAt(at(5) + FADE / 2n), 0.5);
  t.is(buildPlan(baseline(), [{ atUtcNs: at(5), op: 'seek', track: 2, offsetSec: 500 }]).endUtcNs, at(5));
  t.is(buildPlan(baseline(), [{ atUtcNs: at(5), op: 'seek', track: 7, offsetSec: 0 }]).frameAt(at(6)), undefined);
  t.is(
    buildPlan(baseline(), [{ atUtcNs: at(5), op: 'seek', track: 1, offsetSec: -3 }]).frameAt(at(5)),
    60 * RATE,
    'negative offset: 0',
  );
});

test('stop fades over fadeMs from its instant, then silence; a later start restarts; a start inside the fade cancels it', (t) => {
  const p = buildPlan(baseline(), [
    { atUtcNs: at(30), op: 'stop', fadeMs: 2000 },
    { atUtcNs: at(40), op: 'start', fromTrack: 1 },
  ]);
  t.is(p.gainAt(at(30)), 1);
  close(t, p.gainAt(at(31)), 0.5);
  close(t, p.frameAt(at(31.5)), 31.5 * RATE, 1e-3, 'the music runs on through the fade');
  t.is(p.frameAt(at(32)), undefined);
  t.deepEqual(p.stateAt(at(35)), { state: 'ended' });
  t.is(p.frameAt(at(40)), 60 * RATE);
  t.is(p.gainAt(at(40)), 1);
  t.is(p.endUtcNs, at(160), 'track 1 from 40 s: the timeline ends 120 s later');
  const cancel = buildPlan(baseline(), [
    { atUtcNs: at(30), op: 'stop', fadeMs: 2000 },
    { atUtcNs: at(31), op: 'start', fromTrack: 0 },
  ]);
  t.is(cancel.frameAt(at(33)), 2 * RATE, 'still running after the stop would have ended');
  close(
    t,
    cancel.gainAt(at(31) - FADE / 2n),
    0.5 * (1 - 0.98 / 2),
    1e-6,
    'the jump fades out from where the stop fade had got to',
  );
  const noop = buildPlan(baseline(), [
    { atUtcNs: at(30), op: 'stop', fadeMs: 0 },
    { atUtcNs: at(31), op: 'stop', fadeMs: 5000 },
  ]);
  t.is(noop.endUtcNs, at(30), 'stopping a stopped plan changes nothing');
});

test('start before the baseline start replaces it; config stop is a stop with CONFIG_STOP_FADE_MS', (t) => {
  const p = buildPlan(baseline({ stopUtcNs: at(100) }), [{ atUtcNs: at(-10), op: 'start', fromTrack: 1 }]);
  t.is(p.frameAt(at(-10)), 60 * RATE);
  t.is(p.gainAt(at(-10)), 1);
  t.is(p.endUtcNs, at(100) + BigInt(CONFIG_STOP_FADE_MS) * MS);
  close(t, p.gainAt(at(100) + BigInt(CONFIG_STOP_FADE_MS / 2) * MS), 0.5);
});

test('volume ramps linearly in amplitude from its value at the instant; mute and unmute fade around their instants', (t) => {
  const p = buildPlan(baseline(), [
    { atUtcNs: at(10), op: 'volume', db: -20, rampMs: 1000 },
    { atUtcNs: at(10.5), op: 'volume', db: 0, rampMs: 0 },
    { atUtcNs: at(20), op: 'mute' },
    { atUtcNs: at(30), op: 'unmute' },
  ]);
  t.is(p.gainAt(at(10)), 1);
  close(t, p.gainAt(at(10.25)), 1 + (0.1 - 1) * 0.25);
  t.is(p.gainAt(at(10.5)), 1, 'a ramp of 0 ms is a step; the first ramp is cut where the second starts');
  close(t, p.gainAt(at(10.5) - 1n), 1 + (0.1 - 1) * 0.5, 1e-6);
  close(t, p.gainAt(at(20) - FADE / 2n), 0.5);
  t.is(p.gainAt(at(20)), 0);
  close(t, p.frameAt(at(25)), 25 * RATE, 1e-6, 'the timeline runs on while muted');
  t.is(p.gainAt(at(30)), 0);
  close(t, p.gainAt(at(30) + FADE / 2n), 0.5);
  t.is(p.gainAt(at(31)), 1);
  t.is(
    buildPlan(baseline(), [{ atUtcNs: at(1), op: 'volume', db: -200, rampMs: 0 }]).gainAt(at(2)),
    0,
    'below PLAN_MIN_DB: silence',
  );
  t.is(
    buildPlan(baseline(), [{ atUtcNs: at(1), op: 'volume', db: 40, rampMs: 0 }]).gainAt(at(2)),
    dbToGain(12),
    'clamped at PLAN_MAX_DB',
  );
});

test('config pauses are silent windows while the timeline runs on; overlapping windows merge', (t) => {
  const p = buildPlan(
    baseline({
      pauses: [
        { fromUtcNs: at(10), toUtcNs: at(20) },
        { fromUtcNs: at(15), toUtcNs: at(25) },
      ],
    }),
    [],
  );
  close(t, p.gainAt(at(10) - FADE / 2n), 0.5);
  t.is(p.gainAt(at(10)), 0);
  t.is(p.gainAt(at(22)), 0);
  t.is(p.gainAt(at(25)), 0);
  close(t, p.gainAt(at(25) + FADE / 2n), 0.5);
  close(t, p.frameAt(at(22)), 22 * RATE, 1e-6, 'in sync when it comes back');
  t.deepEqual(p.discontinuities(at(0), at(100)), [], 'a window is gain only');
});

test('ops that make no sense are no-ops: resume while running, pause while held, non-finite numbers', (t) => {
  const none = planDigest(buildPlan(baseline(), []));
  const digestOfEffect = (ops: PlanOp[]) => {
    const p = buildPlan(baseline(), ops);
    return [p.frameAt(at(50)), p.gainAt(at(50)), p.endUtcNs];
  };
  const plain = digestOfEffect([]);
  t.deepEqual(digestOfEffect([{ atUtcNs: at(10), op: 'resume' }]), plain);
  t.deepEqual(digestOfEffect([{ atUtcNs: at(10), op: 'skip', n: NaN }]), plain);
  t.deepEqual(digestOfEffect([{ atUtcNs: at(10), op: 'volume', db: Infinity, rampMs: 0 }]), plain);
  t.deepEqual(
    digestOfEffect([
      { atUtcNs: at(10), op: 'pause' },
      { atUtcNs: at(11), op: 'pause' },
      { atUtcNs: at(12), op: 'resume' },
    ]),
    digestOfEffect([
      { atUtcNs: at(10), op: 'pause' },
      { atUtcNs: at(12), op: 'resume' },
    ]),
  );
  t.is(planDigest(buildPlan(baseline(), [])), none);
  t.regex(none, /^[0-9a-f]{16}$/);
});

/** A random op list (seeded). */
function randomOps(rnd: () => number, n: number): PlanOp[] {
  const ops: PlanOp[] = [];
  for (let i = 0; i < n; i++) {
    const atUtcNs = at(-20 + rnd() * 260);
    const kind = PLAN_OP_NAMES[Math.floor(rnd() * PLAN_OP_NAMES.length)]!;
    const track = Math.floor(rnd() * 4) - (rnd() < 0.1 ? 2 : 0);
    switch (kind) {
      case 'start':
        ops.push({ atUtcNs, op: kind, fromTrack: track });
        break;
      case 'stop':
        ops.push({ atUtcNs, op: kind, fadeMs: rnd() * 3000 });
        break;
      case 'skip':
        ops.push({ atUtcNs, op: kind, n: Math.floor(rnd() * 5) - 2 });
        break;
      case 'seek':
        ops.push({ atUtcNs, op: kind, track, offsetSec: rnd() * 70 - 5 });
        break;
      case 'volume':
        ops.push({ atUtcNs, op: kind, db: -40 + rnd() * 50, rampMs: rnd() < 0.3 ? 0 : rnd() * 4000 });
        break;
      default:
        ops.push({ atUtcNs, op: kind } as PlanOp);
    }
  }
  return ops;
}

test('deterministic: equal inputs give equal plans; ops at distinct instants fold the same in any given order', (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const rnd = seededRandom(seed);
    const ops = randomOps(rnd, 25);
    const a = buildPlan(baseline({ pauses: [{ fromUtcNs: at(40), toUtcNs: at(45) }] }), ops);
    const shuffled = [...ops].sort(() => rnd() - 0.5);
    const b = buildPlan(baseline({ pauses: [{ fromUtcNs: at(40), toUtcNs: at(45) }] }), shuffled);
    t.is(planDigest(a), planDigest(b), `seed ${seed}`);
    for (let k = 0; k < 200; k++) {
      const u = at(-30 + k * 1.37);
      t.is(a.frameAt(u), b.frameAt(u));
      t.is(a.gainAt(u), b.gainAt(u));
    }
  }
});

test('pieces evaluated per frame agree with frameAt and gainAt, and jump exactly at the discontinuities (seeded)', (t) => {
  let checked = 0,
    jumps = 0;
  for (let seed = 100; seed < 140; seed++) {
    const rnd = seededRandom(seed);
    const plan = buildPlan(
      baseline({ pauses: [{ fromUtcNs: at(50), toUtcNs: at(51) }], stopUtcNs: rnd() < 0.5 ? at(200) : undefined }),
      randomOps(rnd, 12),
    );
    // Windows the size of a 1024-frame period at random phases, some on op instants.
    for (let w = 0; w < 400; w++) {
      const u0 =
        rnd() < 0.2 && plan.ops.length
          ? plan.ops[Math.floor(rnd() * plan.ops.length)]!.atUtcNs - BigInt(Math.floor(rnd() * 21e6))
          : at(-25 + rnd() * 270);
      const u1 = u0 + 21_333_333n;
      const pieces = plan.pieces(u0, u1);
      t.is(pieces[0]!.fromUtcNs, u0);
      t.is(pieces.at(-1)!.toUtcNs, u1);
      for (let k = 1; k < pieces.length; k++) t.is(pieces[k]!.fromUtcNs, pieces[k - 1]!.toUtcNs);
      const disc = plan.discontinuities(u0, u1);
      // Every discontinuity starts a piece; every piece marked as a jump starts at one.
      for (const d of disc)
        t.true(
          pieces.some((p) => p.fromUtcNs === d),
          'a piece starts at each discontinuity',
        );
      for (const p of pieces) if (p.jump) t.true(disc.includes(p.fromUtcNs), 'a jump is a discontinuity');
      jumps += disc.length;
      for (const p of pieces) {
        for (const dt of [0n, (p.toUtcNs - p.fromUtcNs) / 2n, p.toUtcNs - p.fromUtcNs - 1n]) {
          const u = p.fromUtcNs + dt;
          const f = plan.frameAt(u);
          if (p.frame === undefined) t.is(f, undefined);
          else close(t, p.frame + Number(dt) * p.framesPerNs, f!, 1e-6, 'frame');
          close(t, pieceGainAt(p, Number(dt)), plan.gainAt(u), 1e-9, 'gain');
          checked++;
        }
      }
    }
  }
  t.log(`${checked} instants checked, ${jumps} discontinuities inside windows`);
  t.true(jumps > 50, 'the windows did cross discontinuities');
});
