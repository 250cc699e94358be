import test from 'ava';
import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLOCK_STATE_FILE, ClockStateWriter, PRIOR_SIGMA_PPM, readClockPrior } from '../src/service/clock-state.js';
import { MIN_SAMPLES_FOR_LOCK, SourceStats } from '../src/time/sourcestats.js';
import { Timescale } from '../src/time/timescale.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { gaussian } from '../drivers/pps/emulator.js';
import { tempDir } from './helpers/tmp.js';

/**
 * A frequency saved by the last run lets a restart lock on two pulses, with an honest bound; a
 * prior that the samples contradict gives no early lock; the file survives bad content.
 */

const S = 1_000_000_000n;

function rng(seed: number) {
  const u = seededRandom(seed);
  return { u, g: () => gaussian(u) };
}

/** PPS samples of a crystal at freqPpm, kernel-stamped with jitterNs of noise. */
function pulses(freqPpm: number, n: number, g: () => number, jitterNs = 1_500) {
  const utc0 = 1_790_000_000n * S;
  return Array.from({ length: n }, (_, k) => ({
    monoNs: 7_000n * S + BigInt(Math.round(k * 1e9 * (1 + freqPpm * 1e-6) + g() * jitterNs)),
    utcNs: utc0 + BigInt(k) * S,
    errorNs: 5_000,
    source: 'gps+pps' as const,
    trueMono: (t: number) => 7_000n * S + BigInt(Math.round(t * 1e9 * (1 + freqPpm * 1e-6))),
    utc0,
  }));
}

test('with a prior, two pulses lock and the bound holds while the window fills (seeded, 200 restarts)', (t) => {
  const { g, u } = rng(11);
  let inside = 0,
    total = 0,
    lockedAtTwo = 0;
  for (let run = 0; run < 200; run++) {
    const freqPpm = (u() - 0.5) * 80;
    const st = new SourceStats('gps+pps');
    // The saved value is off by the prior's own σ at most, as its σ claims.
    st.prior = { freqPpm: freqPpm + (u() - 0.5) * 2 * PRIOR_SIGMA_PPM, sigmaPpm: PRIOR_SIGMA_PPM };
    const ps = pulses(freqPpm, MIN_SAMPLES_FOR_LOCK, g);
    ps.forEach((p, k) => {
      st.add(p);
      const ts = st.estimate();
      if (k === 1 && ts) lockedAtTwo++;
      if (!ts) return;
      for (const dt of [0.2, 0.5, 0.99]) {
        const probe = p.trueMono(k + dt);
        const trueUtc = p.utc0 + BigInt(Math.round((k + dt) * 1e9));
        total++;
        if (Math.abs(Number(ts.utcAt(probe) - trueUtc)) <= ts.errorBoundAt(probe)) inside++;
      }
    });
  }
  t.true(lockedAtTwo >= 195, `locked at the second pulse in ${lockedAtTwo}/200 restarts`);
  t.true(inside / total >= 0.99, `${inside}/${total} inside the bound`);
});

test('without a prior nothing locks before the full minimum; a contradicted prior gives no early lock', (t) => {
  const { g } = rng(5);
  const plain = new SourceStats('gps+pps');
  const wrong = new SourceStats('gps+pps');
  wrong.prior = { freqPpm: 40, sigmaPpm: PRIOR_SIGMA_PPM }; // the crystal is really at -40 ppm: 80 ppm off
  const ps = pulses(-40, MIN_SAMPLES_FOR_LOCK, g);
  ps.slice(0, MIN_SAMPLES_FOR_LOCK - 1).forEach((p) => {
    plain.add(p);
    wrong.add(p);
  });
  t.is(plain.estimate(), undefined);
  t.is(wrong.estimate(), undefined, 'samples 80 ppm away from the prior are not explained by it');
  wrong.add(ps.at(-1)!);
  const ts = wrong.estimate();
  t.truthy(ts, 'the full window locks as usual');
  t.true(Math.abs(ts!.freqPpm + 40) < 5, `the fit, not the prior, sets the frequency: ${ts!.freqPpm}`);
});

test('clock state: written atomically when locked on GPS+PPS, read back as a prior with its age', async (t) => {
  const dir = join(tempDir('jas-cs-'), 'nested', 'state');
  const errors: string[] = [];
  const w = new ClockStateWriter(dir, (m) => errors.push(m));
  const base = { refMonoNs: 0n, refUtcNs: 0n, errorBoundNs: 1000, errorGrowthNsPerSec: 10, lastSampleMonoNs: 0n };
  t.false(
    await w.save(new Timescale({ ...base, freqPpm: -12.5, source: 'rtc', state: 'locked' }), 0),
    'an RTC does not measure the crystal well enough',
  );
  t.false(await w.save(new Timescale({ ...base, freqPpm: -12.5, source: 'gps+pps', state: 'holdover' }), 0));
  const now = Date.UTC(2026, 10, 25);
  t.true(await w.save(new Timescale({ ...base, freqPpm: -12.5, source: 'gps+pps', state: 'locked' }), now));
  const r = await readClockPrior(dir, now + 3 * 3600_000);
  t.is(r.prior?.freqPpm, -12.5);
  t.true(r.prior!.sigmaPpm >= PRIOR_SIGMA_PPM);
  t.regex(r.note, /-12\.500 ppm .*3\.0 h ago/);
  t.deepEqual(errors, []);
});

test('clock state: missing, corrupt, stale or unwritable is said and never fatal', async (t) => {
  const dir = tempDir('jas-cs-');
  t.regex((await readClockPrior(dir, 0)).note, /no saved clock frequency yet/);
  writeFileSync(join(dir, CLOCK_STATE_FILE), '{"v":1,"freqPpm":');
  const corrupt = await readClockPrior(dir, 0);
  t.is(corrupt.prior, undefined);
  t.regex(corrupt.note, /clock\.json is not a clock state file.*ignored/);
  writeFileSync(join(dir, CLOCK_STATE_FILE), JSON.stringify({ v: 1, freqPpm: 3, source: 'gps+pps', savedAtUtcMs: 0 }));
  const stale = await readClockPrior(dir, Date.UTC(2026, 0, 1));
  t.is(stale.prior, undefined);
  t.regex(stale.note, /too old to trust/);
  // Dated ahead of this clock: said so (it read "written -3 days ago: too old"); hours ahead are clock noise, age 0.
  const savedAtUtcMs = Date.UTC(2026, 5, 1);
  writeFileSync(join(dir, CLOCK_STATE_FILE), JSON.stringify({ v: 1, freqPpm: 3, source: 'gps+pps', savedAtUtcMs }));
  const ahead = await readClockPrior(dir, savedAtUtcMs - 3 * 86_400_000);
  t.is(ahead.prior, undefined);
  t.regex(ahead.note, /is dated 3\.0 days ahead of this clock .*not trusted/);
  const noise = await readClockPrior(dir, savedAtUtcMs - 2 * 3600_000);
  t.is(noise.prior?.freqPpm, 3);
  t.regex(noise.note, /\(gps\+pps, 0\.0 h ago\)/);
  t.regex((await readClockPrior(dir, savedAtUtcMs + 40 * 3600_000)).note, /1\.7 days ago/, 'days with a decimal');
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    const errors: string[] = [];
    const w = new ClockStateWriter(join(ro, 'x'), (m) => errors.push(m));
    const ts = new Timescale({
      refMonoNs: 0n,
      refUtcNs: 0n,
      errorBoundNs: 1,
      errorGrowthNsPerSec: 1,
      lastSampleMonoNs: 0n,
      freqPpm: 1,
      source: 'gps+pps',
      state: 'locked',
    });
    t.false(await w.save(ts, 0));
    t.false(await w.save(ts, 0));
    t.is(errors.length, 1, 'said once');
    t.regex(errors[0]!, /cannot save the clock state .*service\.state_dir/);
  } else {
    // As root a read-only folder is writable: a file where the folder should be fails instead.
    writeFileSync(join(dir, 'blocker'), '');
    const errors: string[] = [];
    const w = new ClockStateWriter(join(dir, 'blocker', 'state'), (m) => errors.push(m));
    const ts = new Timescale({
      refMonoNs: 0n,
      refUtcNs: 0n,
      errorBoundNs: 1,
      errorGrowthNsPerSec: 1,
      lastSampleMonoNs: 0n,
      freqPpm: 1,
      source: 'gps+pps',
      state: 'locked',
    });
    t.false(await w.save(ts, 0));
    t.regex(errors[0] ?? '', /cannot save the clock state .*service\.state_dir/);
  }
  t.truthy(readFileSync(join(dir, CLOCK_STATE_FILE), 'utf8'), 'the old file is untouched');
});

test("the audio device's rate: saved with its uncertainty, read back for the same device and rate only", async (t) => {
  const { DAC_STATE_FILE, readDacPrior, saveDacRate } = await import('../src/service/clock-state.js');
  const dir = tempDir('jas-dac-');
  const read = (device = 'default', rate = 48000) => readDacPrior(dir, device, rate);
  t.deepEqual(await read(), {}, 'none yet: nothing to say');
  await saveDacRate(dir, 'default', 48000, { ppm: -12.5, sigmaPpm: 4.2 }, Date.UTC(2026, 11, 2));
  t.deepEqual((await read()).saved, { ppm: -12.5, sigmaPpm: 4.2, savedAtUtcMs: Date.UTC(2026, 11, 2) });
  // With the DS3231's temperature: the next start weighs the rate by how far that moved.
  await saveDacRate(dir, 'default', 48000, { ppm: -12.5, sigmaPpm: 0.6 }, Date.UTC(2026, 11, 2), 23.25);
  t.like((await read()).saved, { sigmaPpm: 0.6, tempC: 23.25 });
  const other = await read('hw:CARD=Device');
  t.is(other.saved, undefined, 'another device');
  t.regex(other.note ?? '', /measured on default at 48000 Hz, this run plays to hw:CARD=Device .*ignored/);
  t.regex((await read('default', 44100)).note ?? '', /at 44100 Hz: ignored/, 'another sample rate, said');
  // A file from before the uncertainty was kept held only rates known to 1 ppm (and a monotonic
  // clock's ms as its date: its age is unknown).
  const legacy = { v: 1, device: 'default', sampleRate: 48000, ppm: 7, savedAtUtcMs: 0 };
  writeFileSync(join(dir, DAC_STATE_FILE), JSON.stringify(legacy));
  t.deepEqual(await read(), { saved: { ppm: 7, sigmaPpm: 1 } });
  writeFileSync(join(dir, DAC_STATE_FILE), JSON.stringify({ ...legacy, sigmaPpm: 'x' }));
  t.regex((await read()).note ?? '', /holds no usable rate/, 'a broken uncertainty: the nominal rate, said');
  writeFileSync(join(dir, DAC_STATE_FILE), JSON.stringify({ ...legacy, ppm: 450 }));
  t.regex((await read()).note ?? '', /within ±200 ppm/, 'beyond any DAC (the clamp is 200 ppm): said');
  for (const broken of ['{"v":1,', 'null', '"x"']) {
    writeFileSync(join(dir, DAC_STATE_FILE), broken);
    const r = await read();
    t.is(r.saved, undefined);
    t.regex(r.note ?? '', /dac\.json is not a DAC state file .*ignored/, `${broken}: the nominal rate, said`);
  }
});

test("the audio device's saved rate as a start's prior: its age and temperature said, a save dated ahead of now has no age", async (t) => {
  const { dacPriorNow } = await import('../src/service/clock-state.js');
  const savedAtUtcMs = Date.UTC(2026, 11, 2, 12);
  const saved = { ppm: -4.25, sigmaPpm: 0.6, savedAtUtcMs, tempC: 21 };
  const hour = 3600_000;
  const same = dacPriorNow(saved, savedAtUtcMs + 5 * hour, 21.4);
  t.regex(same.said, /-4\.25 ± 0\.8 ppm \(measured ± 0\.6; saved at 21\.0 °C, now 21\.4 °C; 5\.0 h ago\)/);
  t.true(same.prior.sigmaPpm < 1, `same temperature: ± ${same.prior.sigmaPpm}`);
  t.regex(dacPriorNow(saved, savedAtUtcMs + 34 * hour, 21).said, /1\.4 days ago/, 'days with a decimal');
  const warm = dacPriorNow(saved, savedAtUtcMs + hour, 41);
  t.true(warm.prior.sigmaPpm >= 10, `20 °C warmer: ± ${warm.prior.sigmaPpm}`);
  const unknownNow = dacPriorNow(saved, savedAtUtcMs + hour);
  t.regex(unknownNow.said, /the temperature then or now unknown/);
  t.true(unknownNow.prior.sigmaPpm >= 3);
  // Saved two days "ahead" of now: one of the clocks was wrong. Not "-48.0 h ago", and its
  // temperature then is not trusted for a tight prior.
  const ahead = dacPriorNow(saved, savedAtUtcMs - 48 * hour, 21);
  t.regex(ahead.said, /the temperature then or now unknown; its age unknown\)/);
  t.notRegex(ahead.said, /-[\d.]+ (h|days) ago/);
  t.true(ahead.prior.sigmaPpm >= 3, `± ${ahead.prior.sigmaPpm}`);
  t.regex(dacPriorNow(saved, savedAtUtcMs - 2 * hour, 21).said, /0\.0 h ago/, 'hours ahead: clock noise, age 0');
  t.regex(dacPriorNow({ ppm: 1, sigmaPpm: 1 }, savedAtUtcMs).said, /its age unknown/, 'an undated (legacy) file');
});
