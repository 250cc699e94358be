import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { anchorSegments, countLateCycles, readScheduledRecording } from '../src/sim/jack-schedule.js';
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
