import test from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DAC_MAX_PPM, DAC_SAVE_MAX_SIGMA_PPM } from '../src/player/dac-clock.js';
import { AudifySink } from '../src/player/sinks/audify-sink.js';
import { AudioDeviceUnavailableError, NoAudioDeviceError, type OutputSink } from '../src/player/sinks/sink.js';
import { WavFileSink } from '../src/player/sinks/wav-sink.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { VirtualSink } from '../src/sim/virtual-sink.js';
import { hrtimeClock, VirtualClock } from '../src/time/clock.js';
import { startAudioRig } from './helpers/audio-rig.js';
import { readWav16 } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

/**
 * One contract for every OutputSink: the virtual DAC (the twin), the WAV file sink, and the audify
 * sink on the real ALSA path (the JACK rig). What the engine relies on:
 *  - fill(p) is asked for stream periods 0, 1, 2 … in order, once each; a period skipped is one the
 *    device filled with silence, and underrunPeriods counts exactly those;
 *  - each fill returns one period; description names the device;
 *  - presentationMonoNs(p), once known, is increasing, and periods are a period apart to within the
 *    DAC's possible rate (±DAC_MAX_PPM) plus the estimate's own noise;
 *  - dacRate() is undefined or a rate a DAC can have, with an uncertainty it was measured to;
 *  - after stop() resolves nothing more is filled, and a second stop() is harmless.
 */

const RATE = 48_000;
const P = 1024;
const FORMAT = { sampleRate: RATE, channels: 2 };
const PERIOD_NS = (P * 1e9) / RATE;
const hrNow = () => process.hrtime.bigint();

interface Harness {
  sink: OutputSink;
  /** Let `ms` of the sink's time pass. */
  wait(ms: number): Promise<void>;
  done(): void;
}

function contract(name: string, make: () => Promise<Harness>, o: { runMs: number; serial?: boolean }) {
  const t0 = o.serial ? test.serial : test;
  t0(`${name}: the OutputSink contract`, async (t) => {
    const h = await make();
    t.teardown(() => h.done());
    const { sink } = h;
    const asked: number[] = [];
    let afterStop = 0;
    let stopped = false;
    const frameBytes = FORMAT.channels * 2;
    await sink.start((p) => {
      if (stopped) afterStop++;
      asked.push(p);
      return Buffer.alloc(sink.periodFrames * frameBytes);
    });
    t.true(typeof sink.description === 'string' && sink.description.length > 0, 'the device is named');
    t.is(sink.periodFrames, P);
    const underrunsSeen: number[] = [];
    const pres: Array<[number, bigint, number]> = [];
    for (let waited = 0; waited < o.runMs; waited += 100) {
      await h.wait(100);
      underrunsSeen.push(sink.underrunPeriods);
      const last = asked.at(-1);
      if (last !== undefined && last !== pres.at(-1)?.[0]) {
        const m = sink.presentationMonoNs(last);
        if (m !== undefined) pres.push([last, m, sink.gridMoves ?? 0]);
      }
    }
    t.true(
      asked.length >= Math.floor(o.runMs / (PERIOD_NS / 1e6)) - 8,
      `${asked.length} periods asked in ${o.runMs} ms`,
    );
    t.is(asked[0], 0, 'from period 0');
    let skipped = 0;
    for (let i = 1; i < asked.length; i++) {
      t.true(asked[i]! > asked[i - 1]!, `in order: ${asked[i - 1]} then ${asked[i]}`);
      skipped += asked[i]! - asked[i - 1]! - 1;
    }
    t.true(Number.isInteger(sink.underrunPeriods) && sink.underrunPeriods >= 0);
    for (let i = 1; i < underrunsSeen.length; i++)
      t.true(underrunsSeen[i]! >= underrunsSeen[i - 1]!, 'underruns never decrease');
    t.true(
      skipped <= sink.underrunPeriods,
      `periods skipped (${skipped}) are silence the sink counted (${sink.underrunPeriods})`,
    );
    t.true(pres.length >= 3, 'the sink comes to know when periods are heard');
    // After the first half (the DAC clock's early estimates may move by ms on a loaded machine), and
    // after the last grid move the sink reported (its periods then truly come later: JACK late on
    // it): periods apart by the period, to within a DAC's possible rate plus 2 ms of the estimate's noise.
    const fromMove = pres.findIndex((e) => e[2] === pres.at(-1)![2]);
    const p0 = pres[Math.max(pres.length >> 1, fromMove)]!,
      pN = pres.at(-1)!;
    if (p0 === pN) t.log(`grid moves ${pN[2]}: no stretch after the last one to check the spacing on`);
    const expected = (pN[0] - p0[0]) * PERIOD_NS,
      actual = Number(pN[1] - p0[1]);
    t.true(
      Math.abs(actual - expected) <= DAC_MAX_PPM * 1e-6 * expected + 2e6,
      `periods ${p0[0]}…${pN[0]}: ${actual} ns apart, nominally ${expected.toFixed(0)} (grid moves ${pN[2]})`,
    );
    for (let i = 1; i < pres.length; i++) t.true(pres[i]![1] > pres[i - 1]![1], 'increasing');
    const rate = sink.dacRate?.();
    t.true(
      rate === undefined ||
        (Number.isFinite(rate.ppm) &&
          Math.abs(rate.ppm) <= DAC_MAX_PPM &&
          rate.sigmaPpm > 0 &&
          rate.sigmaPpm <= DAC_SAVE_MAX_SIGMA_PPM),
      `rate ${JSON.stringify(rate)}`,
    );
    await sink.stop();
    stopped = true;
    await h.wait(300);
    t.is(afterStop, 0, 'nothing filled after stop');
    await sink.stop();
  });
}

contract(
  'virtual DAC (the twin)',
  async () => {
    const clock = new VirtualClock(0n);
    const sink = new VirtualSink({
      clock,
      format: FORMAT,
      periodFrames: P,
      queuePeriods: 4,
      dacPpm: 70,
      random: seededRandom(3),
      stalls: [{ atNs: 1_500_000_000n, durationNs: 300_000_000n }],
    });
    return { sink, wait: async (ms) => clock.advance(BigInt(ms) * 1_000_000n), done: () => {} };
  },
  { runMs: 4000 },
);

contract(
  'WAV file sink',
  async () => {
    const dir = tempDir('jas-sinkc-');
    const sink = new WavFileSink({ path: join(dir, 'out.wav'), format: FORMAT, periodFrames: P, clock: hrtimeClock });
    return {
      sink,
      wait: (ms) => new Promise((r) => setTimeout(r, ms)),
      done: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { runMs: 1500 },
);

// The real ALSA path: audify -> ALSA jack plugin -> JACK (dummy driver). ALSA reads the rig's
// .asoundrc from HOME (this test file runs in its own process).
let rig: ReturnType<typeof startAudioRig> | undefined;
const onRig = async (): Promise<ReturnType<typeof startAudioRig>> => {
  rig ??= startAudioRig();
  process.env.HOME = rig.home;
  return rig;
};
test.after.always(() => {
  rig?.stop();
  // audify (1.10) never releases its frame callback's thread-safe function: once a stream was
  // opened the process cannot end by itself (the CLI exits explicitly too).
  if (rig) setTimeout(() => process.exit(0), 500).unref();
});

contract(
  'audify sink on the JACK rig',
  async () => {
    await onRig();
    const sink = new AudifySink({
      format: FORMAT,
      periodFrames: P,
      queuePeriods: 4,
      deviceName: 'default',
      nowNs: hrNow,
      onNotice: () => {},
    });
    return { sink, wait: (ms) => new Promise((r) => setTimeout(r, ms)), done: () => {} };
  },
  { runMs: 3000, serial: true },
);

test.serial(
  'audify sink: a named device that is not there is an error naming it and listing the ones there are',
  async (t) => {
    await onRig();
    const sink = new AudifySink({
      format: FORMAT,
      periodFrames: P,
      queuePeriods: 4,
      deviceName: 'USB Audio CODEC',
      nowNs: hrNow,
      onNotice: () => {},
    });
    const e = await t.throwsAsync(
      sink.start(() => Buffer.alloc(P * 4)),
      { instanceOf: AudioDeviceUnavailableError },
    );
    const err = e as AudioDeviceUnavailableError;
    t.is(err.device, 'USB Audio CODEC');
    t.is(err.reason, 'missing');
    t.true(err.available.length > 0, 'the rig has devices');
    t.regex(err.message, /"USB Audio CODEC" not found; the devices there are: ".+"/);
    for (const name of err.available) t.true(err.message.includes(`"${name}"`));
    t.true(err instanceof NoAudioDeviceError, 'still a NoAudioDeviceError for callers that fall back');
    await sink.stop();
  },
);

test('the WAV sink writes a valid file for what it was asked', async (t) => {
  const dir = tempDir('jas-sinkw-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sink = new WavFileSink({ path: join(dir, 'o.wav'), format: FORMAT, periodFrames: P, clock: hrtimeClock });
  let n = 0;
  await sink.start(() => {
    n++;
    return Buffer.alloc(P * 4, 1);
  });
  await new Promise((r) => setTimeout(r, 300));
  await sink.stop();
  const wav = readFileSync(join(dir, 'o.wav'));
  const parsed = readWav16(wav);
  t.is(parsed.sampleRate, FORMAT.sampleRate);
  t.is(parsed.data.length, n * P * 4, 'the data chunk holds every period asked');
  t.true(
    parsed.data.every((b) => b === 1),
    'and exactly what each period held',
  );
});
