import test from 'ava';
import { gaussian } from '../drivers/pps/emulator.js';
import { onsetFrame, onsetRealtimeNs, presentationJackUs, type StampedRecording } from '../src/sim/jack-stamps.js';
import { seededRandom } from '../src/sim/oscillator.js';

/**
 * The start-error bench reads when a recorded frame was presented off JACK's cycle stamps. Synthetic
 * recordings with a known deadline schedule: the per-cycle reading is exact on clean stamps, and
 * the fitted line sees through wander and stalls in the stamps that the per-cycle reading inherits.
 */

const RATE = 48_000,
  PERIOD = 256,
  CYCLE_US = (PERIOD / RATE) * 1e6;

function recording(cycles: number, stampNoiseUs: (k: number) => number, onset: number): StampedRecording {
  const data = new Float32Array(cycles * PERIOD * 2);
  for (let f = onset; f < cycles * PERIOD; f++) data[f * 2] = 0.5;
  return {
    channels: 2,
    rate: RATE,
    data,
    stamps: Array.from(
      { length: cycles },
      (_, k) => [k * PERIOD, 1_000_000 + k * CYCLE_US + stampNoiseUs(k)] as [number, number],
    ),
    mapJackUs: 1_000_000,
    mapRealtimeNs: 5_000_000_000n,
  };
}

test('clean stamps: both readings give the deadline of the onset frame, to the ns', (t) => {
  const onset = 700 * PERIOD + 77;
  const r = recording(1500, () => 0, onset);
  t.is(onsetFrame(r, 0), onset);
  t.is(onsetFrame(r, 1), -1, 'a silent channel has no onset');
  const want = 5_000_000_000n + BigInt(Math.round((onset / RATE) * 1e9));
  for (const mode of ['cycle', 'fit'] as const)
    t.true(Math.abs(Number(onsetRealtimeNs(r, 0, 1e-4, mode)! - want)) <= 1, mode);
  t.is(onsetRealtimeNs(r, 1), undefined);
});

test('wandering and stalled stamps: the fitted line stays on the deadlines, the cycle stamp does not', (t) => {
  const rnd = seededRandom(42);
  // ±60 µs DLL-like wander, and a stall of late stamps just before the onset.
  let wander = 0;
  const noise = Array.from(
    { length: 1500 },
    (_, k) => (wander += 6 * gaussian(rnd)) + (k >= 690 && k < 700 ? 2500 : 0),
  );
  const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
  const onset = 699 * PERIOD + 10;
  const r = recording(1500, (k) => noise[k]! - mean, onset);
  const trueUs = 1_000_000 + (onset / RATE) * 1e6;
  const fitErr = Math.abs(presentationJackUs(r, onset, 'fit') - trueUs);
  const cycleErr = Math.abs(presentationJackUs(r, onset, 'cycle') - trueUs);
  t.log(`cycle stamp off by ${cycleErr.toFixed(1)} µs, fitted line by ${fitErr.toFixed(1)} µs`);
  t.true(cycleErr > 2000, `the stalled cycle's stamp is off: ${cycleErr}`);
  // The local line follows the slow wander, so it keeps what the wander is near the onset only.
  const local = noise.slice(400, 1000).map((v) => v - mean);
  const spread = Math.max(...local) - Math.min(...local);
  t.true(fitErr < spread, `fit ${fitErr} µs, local wander spans ${spread} µs`);
});
