import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { driftRecordingLines } from '../src/sim/drift-recording.js';
import { tempDir } from './helpers/tmp.js';

/**
 * `calibrate record|apply|verify` as a user meets them: paths relative to where they stand, bad
 * options refused with a clear message and a non-zero exit (never "done" over nothing written), a
 * DS3231 never trimmed from a simulated, unlabelled, short or coarse measurement, and verify never
 * judging a trim with the recording that made it.
 */

interface Run {
  code: number | null;
  out: string;
}

/** The CLI from source, in `cwd`, with a state directory of its own. */
function cli(args: string[], cwd: string, state = tempDir('jas-state-')): Promise<Run> {
  return new Promise((resolve) => {
    // tsx by its full URL: `--import tsx` would be looked up from cwd, which is not the project.
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(PACKAGE_DIR, 'src/cli/bin.ts'), ...args],
      {
        cwd,
        env: { ...process.env, XDG_STATE_HOME: state },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

const simulatedConfig = (dir: string) => {
  const p = join(dir, 'c.toml');
  writeFileSync(p, '[hardware]\nmode = "simulated"\n');
  return p;
};

test('record: bad durations are refused before anything starts', async (t) => {
  const dir = tempDir('jas-rec-');
  const durations = ['0', '0s', 'abc', '-5m', '40d'];
  const runs = await Promise.all(
    durations.map((d) =>
      cli(['calibrate', 'record', '--duration', d, '--out', 'r.jsonl', '--config', simulatedConfig(dir)], dir),
    ),
  );
  for (const [i, d] of durations.entries()) {
    const r = runs[i]!;
    t.is(r.code, 1, `${d}: ${r.out}`);
    t.regex(
      r.out,
      new RegExp(`--duration "${d}": (must be at least 1 s|expected a length such as 90s|at most 31d)`),
      d,
    );
    t.notRegex(r.out, /done| {4}at /, `${d}: no success, no stack trace`);
    t.false(existsSync(join(dir, 'r.jsonl')));
  }
});

test('record: --out into a missing folder fails with the folder named, relative to the current directory; nothing claims success', async (t) => {
  const dir = tempDir('jas-rec-');
  const cfg = simulatedConfig(dir);
  const rel = await cli(['calibrate', 'record', '--duration', '5s', '--out', 'cal/r.jsonl', '--config', cfg], dir);
  t.is(rel.code, 1, rel.out);
  t.regex(
    rel.out,
    new RegExp(`cannot record into ${dir}/cal/r\\.jsonl: its folder ${dir}/cal does not exist \\(create it first`),
  );
  t.notRegex(rel.out, /done|recorded in/);
  const abs = await cli(
    ['calibrate', 'record', '--duration', '5s', '--out', '/nonexistent/dir/x.jsonl', '--config', cfg],
    dir,
  );
  t.is(abs.code, 1, abs.out);
  t.regex(abs.out, /cannot record into \/nonexistent\/dir\/x\.jsonl: its folder \/nonexistent\/dir does not exist/);
  t.notRegex(abs.out, /done|recorded in/);
  // With the folder there, the relative path lands under the current directory (not the project's).
  mkdirSync(join(dir, 'cal'));
  const ok = await cli(
    [
      'calibrate',
      'record',
      '--reference',
      'gps',
      '--subject',
      'system',
      '--duration',
      '6s',
      '--out',
      'cal/r.jsonl',
      '--config',
      cfg,
    ],
    dir,
  );
  t.is(ok.code, 0, ok.out);
  t.regex(ok.out, new RegExp(`done: 0:06 recorded in ${dir}/cal/r\\.jsonl`));
  t.true(readFileSync(join(dir, 'cal', 'r.jsonl'), 'utf8').includes('"kind":"sample"'));
  t.false(existsSync(join(PACKAGE_DIR, 'cal', 'r.jsonl')));
});

const rtcTemp = (t: number) => 30 + 4 * Math.sin((2 * Math.PI * t) / 7200);
function recording(
  dir: string,
  name: string,
  o: { seconds: number; seed: number; header?: boolean; startUtcNs?: bigint },
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      ...driftRecordingLines({
        seconds: o.seconds,
        seed: o.seed,
        header: o.header,
        startUtcNs: o.startUtcNs,
        ppsJitterNs: 1000,
        rtcTempC: rtcTemp,
        system: { ppm: 5 },
        rtc: { ppm: 1.42, whiteFmPpm: 0.01 },
      }),
    ].join('\n') + '\n',
  );
  return path;
}

test('apply: never a real DS3231 from a simulated or unlabelled recording; never from minutes or a coarse rate; with --simulate it trims and merges into the store the service reads; verify refuses the same recording', async (t) => {
  const dir = tempDir('jas-apply-');
  const state = tempDir('jas-state-');
  const cfg = join(dir, 'c.toml');
  // real hardware asked for (there is no /dev/i2c-7 here: it must not get that far)
  writeFileSync(cfg, '[rtc]\nbus = 7\n');
  const sim = recording(dir, 'sim.jsonl', { seconds: 2 * 3600, seed: 1 });
  const real = await cli(['calibrate', 'apply', sim, '--config', cfg], dir, state);
  t.is(real.code, 1, real.out);
  t.regex(
    real.out,
    /not trimming the DS3231: the recording was made on SIMULATED sources \(gps, pps, rtc\): a real DS3231 is never trimmed from it/,
  );
  const unlabelled = recording(dir, 'old.jsonl', { seconds: 2 * 3600, seed: 2, header: false });
  const old = await cli(['calibrate', 'apply', 'old.jsonl', '--config', cfg], dir, state);
  t.is(old.code, 1);
  t.regex(old.out, /does not say whether its sources were real .*--assume-real/);
  void unlabelled;
  const short = recording(dir, 'short.jsonl', { seconds: 180, seed: 3 });
  const s = await cli(['calibrate', 'apply', short, '--simulate', '--config', cfg], dir, state);
  t.is(s.code, 1);
  t.regex(s.out, /the recording covers 0\.05 h: a trim needs at least 1 h/);
  t.false(existsSync(join(state, 'jaudiosync', 'rtc-calibration.json')), 'nothing written when refused');
  // The service had set the RTC before (its part of the store).
  mkdirSync(join(state, 'jaudiosync'), { recursive: true });
  writeFileSync(
    join(state, 'jaudiosync', 'rtc-calibration.json'),
    JSON.stringify({
      v: 1,
      ratePpm: 1.4,
      rateUncertaintyPpm: 0.05,
      setAt: '2026-09-21T00:00:00.000Z',
      setErrorNs: 300000,
    }),
  );
  const ok = await cli(['calibrate', 'apply', 'sim.jsonl', '--simulate', '--config', cfg], dir, state);
  t.is(ok.code, 0, ok.out);
  t.regex(ok.out, /DS3231 measured \+1\.4\d\d ± [\d.e-]+ ppm \(1σ\) over 2\.00 h/);
  t.regex(ok.out, /setting the aging register 0 -> 14 \(-1\.400 ppm\), leaving [+-]0\.0\d+ ppm/);
  t.regex(
    ok.out,
    /wrote .*jaudiosync\/rtc-calibration\.json: the RTC rate .* kept the last set on the second \(2026-09-21T00:00:00\.000Z\)/,
  );
  const store = JSON.parse(readFileSync(join(state, 'jaudiosync', 'rtc-calibration.json'), 'utf8')) as {
    setAt: string;
    setErrorNs: number;
    rtc: { agingAfter: number; recording: { simulated: boolean; files: string[] } };
  };
  t.is(store.setAt, '2026-09-21T00:00:00.000Z');
  t.is(store.setErrorNs, 300000);
  t.is(store.rtc.agingAfter, 14);
  t.true(store.rtc.recording.simulated);
  t.deepEqual(store.rtc.recording.files, [sim]);
  const same = await cli(['calibrate', 'verify', 'sim.jsonl', '--config', cfg], dir, state);
  t.is(same.code, 1, same.out);
  t.regex(same.out, /cannot verify with it: this is the recording calibrate apply used/);
});

test('apply and verify: a coarse rate is refused; a recording made after the trim verifies it', async (t) => {
  const { applyRefusal } = await import('../calibrate/apply.js');
  const base = {
    temperature: { kind: 'none' as const, refC: 25, c0: 0, c1PpmPerC: 0, c2PpmPerC2: 0, minC: 25, maxC: 25, note: '' },
    allan: [],
    noiseRanges: [],
    holdover: [],
  };
  const coarse = { ...base, frequency: { ppm: -1.925, uncertaintyPpm: 0.5, points: 21_600, spanSec: 21_600 } };
  t.regex(
    applyRefusal(coarse, { gps: false, pps: false, rtc: false }, { simulated: false })!,
    /known only to ±0\.500 ppm \(1σ, over 6\.00 h\): a trim needs ±0\.033 ppm or better \(a third of one aging step, 0\.1 ppm\)/,
  );
  const fine = { ...base, frequency: { ppm: 1.4, uncertaintyPpm: 0.01, points: 21_600, spanSec: 21_600 } };
  t.is(
    applyRefusal(fine, { gps: false, pps: false, rtc: false }, { simulated: false }),
    undefined,
    'real sources, 6 h, ±0.01: trimmed',
  );
  t.is(applyRefusal(fine, undefined, { simulated: false, assumeReal: true }), undefined);
  const dir = tempDir('jas-verify-');
  const state = tempDir('jas-state-');
  const cfg = join(dir, 'c.toml');
  writeFileSync(cfg, '');
  recording(dir, 'before.jsonl', { seconds: 2 * 3600, seed: 5 });
  t.is((await cli(['calibrate', 'apply', 'before.jsonl', '--simulate', '--config', cfg], dir, state)).code, 0);
  // A later recording (its UTC after the apply's instant: now).
  const after = recording(dir, 'after.jsonl', {
    seconds: 3600,
    seed: 6,
    startUtcNs: BigInt(Date.now() + 60_000) * 1_000_000n,
  });
  const v = await cli(['calibrate', 'verify', after, '--config', cfg], dir, state);
  t.is(v.code, 0, v.out);
  t.regex(v.out, /DS3231 before \+1\.4\d\d ppm, now \+1\.4\d\d ± /); // the twin's RTC does not change: said, not hidden
});
