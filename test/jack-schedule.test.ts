import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  anchorSegments,
  countLateCycles,
  dllPhases,
  frameRealtimeNs,
  readScheduledRecording,
} from '../src/sim/jack-schedule.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { tempDir } from './helpers/tmp.js';

/** The start-error bench's reading of a JACK recording: one schedule through client xruns, a new one at a restart. */

const RATE = 48_000,
  P = 1024,
  PERIOD_NS = (P * 1e9) / RATE;

/** Callback entries (first frame, mono ns) on a schedule that restarts `restartNs` later at cycle `at`. */
function entries(seed: number, cycles: number, at?: number, restartNs = 0): Array<[number, number]> {
  const random = seededRandom(seed);
  return Array.from({ length: cycles }, (_, c) => {
    const shift = at !== undefined && c >= at ? restartNs : 0;
    return [c * P, 1e9 + c * PERIOD_NS + shift + 5_000 + random() * 80_000] as [number, number];
  });
}

test('an xrun that only made a client late keeps one schedule: its phase is the earliest callback of the whole run', (t) => {
  const e = entries(1, 900);
  const segs = anchorSegments(e, [300 * P, 301 * P, 600 * P], RATE);
  t.is(segs.length, 1);
  const truePhase = 1e9 + 5_000;
  t.true(segs[0]!.phaseNs >= truePhase && segs[0]!.phaseNs - truePhase < 2_000, `${segs[0]!.phaseNs - truePhase} ns`);
});

test("a driver restart (the schedule 3 ms later) starts a new segment at the xrun's frame", (t) => {
  const e = entries(2, 900, 450, 3_000_000);
  const segs = anchorSegments(e, [200 * P, 450 * P], RATE);
  t.is(segs.length, 2);
  t.is(segs[1]!.fromFrame, 450 * P);
  t.true(Math.abs(segs[1]!.phaseNs - segs[0]!.phaseNs - 3_000_000) < 2_000);
});

test('late cycles: JACK frame counter moved other than the frames recorded between two callbacks, modulo 2^32', (t) => {
  const e: Array<[number, number]> = [0, 1, 2, 3].map((c) => [c * P, c * PERIOD_NS]);
  t.is(countLateCycles(e, [0, P, 2 * P, 3 * P]), 0);
  t.is(countLateCycles(e, [0, P, 3 * P, 4 * P]), 1);
  const top = 2 ** 32 - P;
  t.is(countLateCycles(e, [top - P, top, 0, P]), 0, 'the counter wraps');
  t.is(countLateCycles(e, [NaN, NaN, NaN, NaN]), 0, 'an older recorder has no counter');
});

test("a recording's late cycle is counted on the cycle it happened, past a line the recorder cut short", (t) => {
  const dir = tempDir('jas-jsched-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = join(dir, 'rec');
  const cycle = (c: number, jackFrame: number) => `${c * P} 0 ${Math.round(1e9 + c * PERIOD_NS)} ${jackFrame}`;
  // Cycle 3 ran late: JACK's counter had moved on a cycle; a short line (a write cut off) sits before it.
  const rows = [cycle(0, 0), cycle(1, P), '7', cycle(2, 2 * P), cycle(3, 4 * P), cycle(4, 5 * P)];
  writeFileSync(
    `${prefix}.stamps`,
    [`rate ${RATE} channels 1 frames ${5 * P}`, 'map 0 0.0 0', ...rows].join('\n') + '\n',
  );
  writeFileSync(`${prefix}.f32`, Buffer.alloc(5 * P * 4));
  writeFileSync(`${prefix}.meta`, 'monominusrealtime 0\nxruns 0\n');
  const r = readScheduledRecording(prefix);
  t.is(r.entries.length, 5);
  t.is(r.lateCycles, 1, 'cycle 3, and nowhere else');
});

/** JACK's cycle times (mono ns): the schedule + 3 µs, ±20 µs of DLL wander, the old phase 90 cycles after `at`. */
function cycleTimes(seed: number, cycles: number, at?: number, restartNs = 0): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: cycles }, (_, c) => {
    const shift = at !== undefined && c >= at ? restartNs : 0;
    // Re-locking after a restart, the DLL still reads the old schedule for a second.
    const relocking = at !== undefined && c >= at && c < at + 90;
    return 1e9 + c * PERIOD_NS + (relocking ? 0 : shift) + 3_000 + (random() - 0.5) * 40_000;
  });
}

test("JACK's cycle times anchor each segment at their median, the DLL's re-lock after a restart left out", (t) => {
  const e = entries(3, 900, 600, 3_000_000);
  const segs = anchorSegments(e, [600 * P], RATE);
  const phases = dllPhases(e, cycleTimes(4, 900, 600, 3_000_000), segs, [600 * P], RATE);
  t.is(phases.length, 2);
  t.true(Math.abs(phases[0]! - (1e9 + 3_000)) < 5_000, `${phases[0]! - 1e9} ns`);
  t.true(Math.abs(phases[1]! - (1e9 + 3_003_000)) < 5_000, `${phases[1]! - 1e9} ns: the re-lock's old phase counted`);
});

test('a segment with too few settled cycle times after its restart has no DLL anchor (NaN)', (t) => {
  const e = entries(5, 900, 800, 3_000_000);
  const segs = anchorSegments(e, [800 * P], RATE);
  const phases = dllPhases(e, cycleTimes(6, 900, 800, 3_000_000), segs, [800 * P], RATE);
  t.true(Number.isFinite(phases[0]!));
  // 100 cycles after the restart, DLL_SETTLE_CYCLES of them left out: too few for a median.
  t.true(Number.isNaN(phases[1]!), `${phases[1]}`);
});

test("a recording's cycle times are mapped from JACK's clock to CLOCK_MONOTONIC through its map line", (t) => {
  const dir = tempDir('jas-jsched-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = join(dir, 'rec');
  const cycles = 400;
  // JACK's clock reads 5 s ahead of CLOCK_MONOTONIC; CLOCK_REALTIME is 1.8e18 ns ahead of it.
  const jackAheadUs = 5_000_000,
    realMinusMonoNs = 1_796_321_816_257_325_307n;
  const monoAt = (c: number) => 1e9 + c * PERIOD_NS + 7_000;
  const rows = Array.from(
    { length: cycles },
    (_, c) =>
      `${c * P} ${Math.round(monoAt(c) / 1000) + jackAheadUs} ${Math.round(monoAt(c) + 20_000 + (c % 5) * 10_000)} ${c * P}`,
  );
  // The map: JACK µs 10 000 000 is CLOCK_MONOTONIC 5 s, i.e. CLOCK_REALTIME 5 s + 1.796…e18 ns.
  const realNs = 5_000_000_000n + realMinusMonoNs;
  const map = `map 10000000 ${realNs / 1_000_000_000n}.${String(realNs % 1_000_000_000n).padStart(9, '0')} 0`;
  writeFileSync(`${prefix}.stamps`, [`rate ${RATE} channels 1 frames ${cycles * P}`, map, ...rows].join('\n') + '\n');
  writeFileSync(`${prefix}.f32`, Buffer.alloc(cycles * P * 4));
  writeFileSync(`${prefix}.meta`, `monominusrealtime ${-realMinusMonoNs}\nxruns 0\n`);
  const r = readScheduledRecording(prefix);
  t.true(Math.abs(r.segments[0]!.dllPhaseNs - (1e9 + 7_000)) < 1_000, `${r.segments[0]!.dllPhaseNs - 1e9} ns`);
  t.true(Math.abs(r.segments[0]!.phaseNs - (1e9 + 27_000)) < 1_000, 'the earliest callback: 20 µs later');
  const at = frameRealtimeNs(r, 100 * P, 'dll') - frameRealtimeNs(r, 100 * P);
  t.true(Math.abs(at + 20_000) < 1_000, `the two anchors 20 µs apart at a frame: ${at} ns`);
});
