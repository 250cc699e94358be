import test from 'ava';
import { PlaybackSession } from '../../src/session/session.js';
import { sleepUntilUtc } from '../../src/session/wake.js';
import { ClockWorld } from '../../src/sim/clock-world.js';
import { seededRandom } from '../../src/sim/oscillator.js';
import { SineTimeline } from '../../src/sim/sine-timeline.js';
import { VirtualSink } from '../../src/sim/virtual-sink.js';

/**
 * The system clock stepped by an hour while a device waits for its start, and back while it plays
 * (timesyncd, `date -s`, fake-hwclock): the wake-up and the session run on the monotonic clock and
 * the disciplined timescale only, so the start lands on the same frame as without the steps and
 * playback does not move. Virtual time, the real clock layer, session core and aligner.
 */

const RATE = 48_000;
const P = 1024;
const S = 1_000_000_000n;
const H = 3_600n * S;

interface Outcome {
  wokeTrueSec: number;
  errorsUs: number[];
  seeks: number;
}

async function device(steps: Array<{ atSec: number; stepNs: bigint }>): Promise<Outcome> {
  const world = new ClockWorld({ seed: 7, pps: 'kernel', sysPpm: 30, ppsJitterNs: 1_500, systemClockSteps: steps });
  const startTrueSec = 80;
  const startUtcNs = world.startUtc + BigInt(startTrueSec) * S;
  const wakeUtcNs = startUtcNs - 20n * S;
  const timescale = () => world.layer.timescale();
  const errors: number[] = [];
  let session: PlaybackSession | undefined;
  let wokeTrueSec = NaN;
  void sleepUntilUtc(world.clock, timescale, wakeUtcNs, undefined, 20e9).then(() => {
    wokeTrueSec = Number(world.trueAtLocal(world.clock.nowNs())) / 1e9;
    const audio = new SineTimeline(RATE, 2);
    session = new PlaybackSession({
      clock: world.clock,
      timescale,
      log: { info: () => {}, warn: () => {}, status: () => {} },
      format: { sampleRate: RATE, channels: 2 },
      periodFrames: P,
      audio: Object.assign(audio, {
        prepare: async () => {},
        finished: false,
        trackAt: () => undefined,
        silenceAt: () => undefined, // a sine everywhere
        whenIdle: async () => {},
      }),
      trackCount: 1,
      dry: true,
      tickMs: 1000,
      resolveStart: () => startUtcNs,
      ready: { lockTimeoutSec: 20, maxErrorNs: 1_000_000, whenUnsure: 'wait', gpsConfigured: true, hasSources: true },
      live: { volumeDb: () => 0, trimNs: () => 0, channelMode: () => 'stereo' },
      openSink: async (fill) => {
        const sink = new VirtualSink({
          clock: world.clock,
          format: { sampleRate: RATE, channels: 2 },
          periodFrames: P,
          queuePeriods: 4,
          dacPpm: 40,
          random: seededRandom(3),
        });
        sink.onHeard = (h) => {
          const w = session?.engine?.writtenAt(h.period);
          if (!w || w.pos < 0) return;
          const heardTrueNs = Number(world.trueAtLocal(h.heardNs));
          errors.push((heardTrueNs - (startTrueSec * 1e9 + (w.pos * 1e9) / RATE)) / 1e3);
        };
        await sink.start(fill);
        return sink;
      },
    });
    void session.run();
  });
  for (let s = 0; s < 200; s++) {
    world.run(1);
    await session?.settled();
  }
  session?.abort('now');
  return { wokeTrueSec, errorsUs: errors, seeks: session?.engine?.seeks ?? -1 };
}

test('system clock stepped back 1 h while waiting and forward 1 h while playing: the same wake, the same first frame, no move', async (t) => {
  const plain = await device([]);
  const stepped = await device([
    { atSec: 45, stepNs: -H },
    { atSec: 120, stepNs: H },
  ]);
  const n = Math.min(plain.errorsUs.length, stepped.errorsUs.length);
  const worstDiffUs = Math.max(
    ...Array.from({ length: n }, (_, i) => Math.abs(stepped.errorsUs[i]! - plain.errorsUs[i]!)),
  );
  t.log(
    `woke at ${stepped.wokeTrueSec.toFixed(1)} s (plain ${plain.wokeTrueSec.toFixed(1)} s); first frame ${stepped.errorsUs[0]!.toFixed(2)} µs (plain ${plain.errorsUs[0]!.toFixed(2)} µs); ${n} periods heard, worst difference ${worstDiffUs.toFixed(2)} µs`,
  );
  // The world runs in whole seconds: the wake is seen in the second it was due (60 s), as without steps.
  t.true(
    stepped.wokeTrueSec >= 60 && stepped.wokeTrueSec < 61,
    `woke at ${stepped.wokeTrueSec} s of true time, due at 60 s`,
  );
  t.is(stepped.wokeTrueSec, plain.wokeTrueSec);
  t.true(n > 2000, 'a long stretch heard, across the second step');
  // One sample at 48 kHz is 20.8 µs: every period is heard where it is without the steps.
  t.true(worstDiffUs < 20.8, `periods heard up to ${worstDiffUs} µs from where they are without the steps`);
  t.is(stepped.seeks, 0, 'never re-seeked');
});
