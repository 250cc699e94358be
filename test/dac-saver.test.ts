import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DacClock } from '../src/player/dac-clock.js';
import { DAC_STATE_FILE, readDacPrior, saveDacRate } from '../src/service/clock-state.js';
import { DAC_SAVE_EVERY_MS, keepDacRate } from '../src/service/dac-saver.js';
import { VirtualClock } from '../src/time/clock.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The service's keeper of dac.json over a run, with a real DacClock behind the sink: a rate measured
 * well is saved every minute and at the stop; one that cannot be trusted is not, the stop says why,
 * and the file keeps the last good rate.
 */

const RATE = 48_000,
  P = 1024,
  PERIOD_NS = (P * 1e9) / RATE;
const SAVED_AT = Date.UTC(2026, 11, 3, 6);

/** A DAC clock fed `sec` seconds of callbacks of a device `ppm` fast (jitter-free, on time). */
function dacAfter(sec: number, ppm: number): DacClock {
  const dac = new DacClock(P, RATE);
  const periods = Math.floor((sec * 1e9) / PERIOD_NS);
  for (let p = 0; p < periods; p++) dac.observe(p, BigInt(Math.round((p * PERIOD_NS) / (1 + ppm * 1e-6))));
  return dac;
}

function saver(dir: string, dac: DacClock) {
  const clock = new VirtualClock(0n);
  const said: string[] = [];
  const keeper = keepDacRate({
    dir,
    device: 'default',
    sampleRate: RATE,
    sink: () => ({ dacRate: () => dac.savableRate(), dacUnsavedWhy: () => dac.whyNotSavable() }),
    now: () => ({ utcMs: SAVED_AT + Number(clock.nowNs() / 1_000_000n), tempC: 21.5 }),
    clock,
    log: { info: (m) => said.push(m), warn: (m) => said.push(`warn: ${m}`) },
  });
  return { clock, said, keeper };
}

test('a rate measured well is saved every minute and at the stop, with its date and temperature', async (t) => {
  const dir = tempDir('jas-dacsave-');
  const { clock, said, keeper } = saver(dir, dacAfter(90, 12));
  clock.advance(BigInt(DAC_SAVE_EVERY_MS) * 1_000_000n);
  // The timer's save writes asynchronously: wait for the file (a behaviour, not a timing: 10 s is far).
  for (let i = 0; i < 200 && !existsSync(join(dir, DAC_STATE_FILE)); i++) await new Promise((r) => setTimeout(r, 50));
  t.truthy((await readDacPrior(dir, 'default', RATE)).saved, 'saved after a minute, before the stop');
  await keeper.stop();
  const { saved } = await readDacPrior(dir, 'default', RATE);
  t.true(Math.abs(saved!.ppm - 12) < 0.5, `${saved!.ppm} ppm`);
  t.true(saved!.sigmaPpm <= 5);
  t.is(saved!.tempC, 21.5);
  t.is(saved!.savedAtUtcMs, SAVED_AT + DAC_SAVE_EVERY_MS);
  t.deepEqual(said, []);
});

test('a rate that cannot be trusted is not saved: the stop says why, and dac.json keeps the last good one', async (t) => {
  const dir = tempDir('jas-dacsave-');
  await saveDacRate(dir, 'default', RATE, { ppm: -3.2, sigmaPpm: 0.9 }, SAVED_AT - 86_400_000, 20);
  const before = readFileSync(join(dir, DAC_STATE_FILE), 'utf8');
  const cases: Array<[string, DacClock, RegExp]> = [
    ['two seconds of callbacks', dacAfter(2, 12), /not measured here yet \(too few callbacks for a fit/],
    ['10 s of callbacks', dacAfter(10, 12), /not measured long enough here \(known to ±[\d.]+ ppm; a save needs ±5\)/],
  ];
  const faulted = dacAfter(90, 12);
  faulted.markFaulted();
  cases.push(['a fault reported', faulted, /a fault may have put wrong period numbers in its fit/]);
  for (const [what, dac, why] of cases) {
    const { clock, said, keeper } = saver(dir, dac);
    clock.advance(2n * BigInt(DAC_SAVE_EVERY_MS) * 1_000_000n);
    await keeper.stop();
    t.is(said.length, 1, `${what}: ${said.join(' | ')}`);
    t.regex(said[0]!, /^the audio device's rate is not saved for the next start: /, what);
    t.regex(said[0]!, why, what);
    t.regex(said[0]!, /; dac\.json keeps what it had$/, what);
    t.is(readFileSync(join(dir, DAC_STATE_FILE), 'utf8'), before, `${what}: dac.json untouched`);
  }
});

test('a state folder that cannot be written is said, and the run goes on', async (t) => {
  const root = tempDir('jas-dacsave-');
  writeFileSync(join(root, 'blocker'), ''); // a file where the state folder should be
  const { said, keeper } = saver(join(root, 'blocker', 'x'), dacAfter(90, 12));
  await keeper.stop();
  t.is(said.length, 1, said.join(' | '));
  t.regex(said[0]!, /^warn: cannot save the audio device's rate in .*blocker\/x: /);
});
