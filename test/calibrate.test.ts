import test from 'ava';
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyse, overlappingAdev, type PhasePoint } from '../calibrate/analysis.js';
import { buildReport, formatReport, writeSvgs } from '../calibrate/report.js';
import { gaussian } from '../drivers/pps/emulator.js';
import { driftRecordingLines } from '../src/sim/drift-recording.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The analysis recovers what was injected into simulated clocks: their rate, their temperature
 * coefficient, their noise type; the report handles rotated files, interrupted runs and corrupt
 * lines, and draws its plots.
 */

const SIX_HOURS = 6 * 3600;
/** A CPU in a box on a bike: 45 °C ± 10 with a 90 min swing, plus a faster wobble. */
const cpuTemp = (t: number) => 45 + 10 * Math.sin((2 * Math.PI * t) / 5400) + 2 * Math.sin((2 * Math.PI * t) / 1300);
const rtcTemp = (t: number) => 30 + 8 * Math.sin((2 * Math.PI * t) / 7200);

function writeRecording(lines: Iterable<string>): string {
  const dir = tempDir('jas-cal-');
  const path = join(dir, 'pi-a.jsonl');
  writeFileSync(path, [...lines].join('\n') + '\n');
  return path;
}

for (const seed of [1, 2, 3]) {
  test(`a 6 h recording recovers the crystal's ppm within ±0.05 and its temperature coefficient within 10 % (seed ${seed})`, async (t) => {
    const rnd = seededRandom(100 + seed);
    const ppm = (rnd() - 0.5) * 80; // a Pi crystal: tens of ppm
    const tc = 0.15 + rnd() * 0.2; // ~0.25 ppm/°C near room temperature
    const path = writeRecording(
      driftRecordingLines({
        seconds: SIX_HOURS,
        seed,
        ppsJitterNs: 1500,
        cpuTempC: cpuTemp,
        system: { ppm, tempCoeffPpmPerC: tc, whiteFmPpm: 0.002, randomWalkPpmPerSqrtS: 2e-6 },
      }),
    );
    const { report } = await buildReport([path]);
    const sys = report.devices[0]!.subjects.system!;
    // The mean rate over the run is the 25 °C offset plus the coefficient times the mean temperature's distance from
    // 25.
    let meanTemp = 0;
    for (let s = 0; s < SIX_HOURS; s++) meanTemp += cpuTemp(s) / SIX_HOURS;
    const expected = ppm + tc * (meanTemp - 25);
    t.true(
      Math.abs(sys.frequency.ppm - expected) <= 0.05,
      `ppm ${sys.frequency.ppm.toFixed(4)} vs ${expected.toFixed(4)}`,
    );
    t.true(sys.frequency.uncertaintyPpm < 0.05, `uncertainty ${sys.frequency.uncertaintyPpm}`);
    t.not(sys.temperature.kind, 'none', sys.temperature.note);
    t.true(
      Math.abs(sys.temperature.c1PpmPerC - tc) <= 0.1 * tc,
      `temperature coefficient ${sys.temperature.c1PpmPerC.toFixed(4)} vs ${tc.toFixed(4)}`,
    );
  });
}

test('the DS3231 subject: ppm and a quadratic temperature residual from its rtc records', async (t) => {
  const path = writeRecording(
    driftRecordingLines({
      seconds: SIX_HOURS,
      seed: 9,
      ppsJitterNs: 1500,
      rtcTempC: rtcTemp,
      system: { ppm: -20 },
      rtc: { ppm: 1.8, tempCoeffPpmPerC2: -0.004, whiteFmPpm: 0.01 },
    }),
  );
  const { report } = await buildReport([path]);
  const rtc = report.devices[0]!.subjects.rtc!;
  let meanFreq = 0;
  for (let s = 0; s < SIX_HOURS; s++) meanFreq += (1.8 - 0.004 * (rtcTemp(s) - 25) ** 2) / SIX_HOURS;
  t.true(Math.abs(rtc.frequency.ppm - meanFreq) <= 0.05, `rtc ${rtc.frequency.ppm} vs ${meanFreq}`);
  t.is(rtc.temperature.kind, 'quadratic', rtc.temperature.note);
  t.true(Math.abs(rtc.temperature.c2PpmPerC2 + 0.004) <= 0.0004, `c2 ${rtc.temperature.c2PpmPerC2}`);
});

test('the Allan deviation of pure white FM noise falls with slope -1/2, and is called white FM', (t) => {
  const rnd = seededRandom(5);
  const n = 50_000;
  const x = new Float64Array(n);
  for (let i = 1; i < n; i++) x[i] = x[i - 1]! + gaussian(rnd) * 10; // 10 ns per second: σ_y(1 s) = 1e-8
  const points: PhasePoint[] = Array.from(x, (xNs, i) => ({ tSec: i, xNs, segment: 0 }));
  const a = analyse(points);
  t.true(Math.abs(a.allanSlope! + 0.5) < 0.15, `slope ${a.allanSlope}`);
  t.is(a.noise, 'white FM');
  t.true(
    a.noiseRanges.length >= 3 && a.noiseRanges.every((r) => r.noise === 'white FM'),
    JSON.stringify(a.noiseRanges),
  );
  // Confidence intervals bracket σ_y and widen where fewer terms back it.
  for (const p of a.allan) t.true(p.lo! < p.adev && p.adev < p.hi!, JSON.stringify(p));
  const rel = (p: { lo?: number; hi?: number; adev: number }) => (p.hi! - p.lo!) / p.adev;
  t.true(rel(a.allan.at(-1)!) > 3 * rel(a.allan[0]!), 'the longest τ is the least certain');
  const at1 = overlappingAdev([x], 1)[0]!;
  t.true(Math.abs(at1.adev / 1e-8 - 1) < 0.05, `σ_y(1 s) ${at1.adev}`);
  // And white PM (jitter on the stamps only) falls with slope -1: told apart.
  const pm: PhasePoint[] = Array.from({ length: n }, (_, i) => ({ tSec: i, xNs: gaussian(rnd) * 1000, segment: 0 }));
  t.is(analyse(pm).noise, 'white PM');
});

test('an interrupted recording (two runs, a reboot between) is one measurement; corrupt lines are skipped and reported', async (t) => {
  const first = [...driftRecordingLines({ seconds: 3 * 3600, seed: 11, ppsJitterNs: 1000, system: { ppm: 12.5 } })];
  // After the reboot the monotonic clock starts again near zero and UTC goes on 10 minutes later.
  const second = [
    ...driftRecordingLines({
      seconds: 3 * 3600,
      seed: 12,
      ppsJitterNs: 1000,
      system: { ppm: 12.5 },
      startMonoNs: 5_000_000_000n,
      startUtcNs: 1_790_000_000_000_000_000n + BigInt(3 * 3600 + 600) * 1_000_000_000n,
    }),
  ];
  const path = writeRecording(first);
  appendFileSync(path, '{"v":1,"kind":"sample","monoNs":"12\n'); // a power cut mid-line
  appendFileSync(path, second.join('\n') + '\n');
  appendFileSync(path, 'garbage\n');
  const { report } = await buildReport([path]);
  const d = report.devices[0]!;
  const sys = d.subjects.system!;
  t.is(sys.series.segments, 2);
  t.true(Math.abs(sys.frequency.ppm - 12.5) < 0.01, `${sys.frequency.ppm}`);
  t.true(
    d.problems.some((p) => /pi-a\.jsonl line 21602: not a JSON record, skipped/.test(p)),
    d.problems.join('\n'),
  );
  t.true(d.problems.some((p) => /line \d+: not a JSON record/.test(p) && !/21602/.test(p)));
});

test('a recording with CRLF line ends and no newline after its last line reads as the same records', async (t) => {
  const lines = [...driftRecordingLines({ seconds: 1800, seed: 5, ppsJitterNs: 1000, system: { ppm: -7 } })];
  const plain = await buildReport([writeRecording(lines)]);
  const dir = tempDir('jas-crlf-');
  const crlf = join(dir, 'pi-crlf.jsonl');
  writeFileSync(crlf, lines.join('\r\n')); // Windows line ends, cut before the final newline
  const other = await buildReport([crlf]);
  t.is(other.report.devices[0]!.records, plain.report.devices[0]!.records);
  t.deepEqual(other.report.devices[0]!.problems, plain.report.devices[0]!.problems);
  t.false(
    other.report.devices[0]!.problems.some((p) => /line \d+/.test(p)),
    'no line reported bad',
  );
  t.is(
    other.report.devices[0]!.subjects.system!.frequency.ppm,
    plain.report.devices[0]!.subjects.system!.frequency.ppm,
  );
});

test('several devices side by side: each ppm and the drift between every pair; SVG plots and an HTML page', async (t) => {
  const a = writeRecording(
    driftRecordingLines({
      seconds: 3 * 3600 + 60,
      seed: 21,
      ppsJitterNs: 1500,
      cpuTempC: cpuTemp,
      system: { ppm: 10 },
      rtc: { ppm: 1.5 },
    }),
  );
  const b = writeRecording(
    driftRecordingLines({
      seconds: 3 * 3600 + 60,
      seed: 22,
      ppsJitterNs: 1500,
      cpuTempC: cpuTemp,
      system: { ppm: -30 },
      rtc: { ppm: -0.5 },
    }),
  );
  const bRenamed = b.replace('pi-a.jsonl', 'pi-b.jsonl');
  writeFileSync(bRenamed, readFileSync(b));
  const { report, series } = await buildReport([a, bRenamed]);
  t.deepEqual(
    report.devices.map((d) => d.device),
    ['pi-a', 'pi-b'],
  );
  const pair = report.pairs.find((p) => p.subject === 'rtc' && p.hours === 1)!;
  // 2 ppm apart: 7.2 ms after 1 h if nobody corrects it (plus the bound of two rates known to ~0.01).
  t.true(pair.supported && Math.abs(pair.uncalibratedMs! - 7.2) < 0.5, `${pair.uncalibratedMs} ms`);
  t.true(pair.calibratedMs! < pair.uncalibratedMs! / 10, `calibrated ${pair.calibratedMs} ms`);
  // 3 h ahead from 3 h of data: refused, not guessed (it needs 9 h unbroken).
  t.false(report.pairs.find((p) => p.subject === 'rtc' && p.hours === 3)!.supported);
  const text = formatReport(report);
  t.regex(text, /rtc pi-a vs pi-b after 1 h: 7\.\d+ ms uncalibrated/);
  t.regex(text, /rtc pi-a vs pi-b after 3 h: not predicted/);
  const dir = tempDir('jas-svg-');
  const files = await writeSvgs(dir, report, series);
  for (const f of ['system-allan.svg', 'rtc-residual.svg', 'rtc-temperature.svg', 'rtc-allan-phone.svg', 'index.html'])
    t.true(files.includes(f), f);
  const svg = readFileSync(join(dir, 'rtc-residual.svg'), 'utf8');
  t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.is((svg.match(/<path class="series"/g) ?? []).length, 2, 'one residual line per device');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  t.regex(html, /<img src="system-allan\.svg"/);
  t.regex(html, /<meta name="viewport" content="width=device-width/);
  t.regex(html, /class="verdict[^"]*">DS3231 RTC [+−]\d\.\d\d ± [\d.]+ ppm/);
});

test('apply on the emulated DS3231: the aging register moves by the measured rate with the right sign, and its drift shrinks', async (t) => {
  const { Ds3231Emulator } = await import('../drivers/rtc/ds3231-emulator.js');
  const { Ds3231 } = await import('../drivers/rtc/ds3231.js');
  const { VirtualClock } = await import('../src/time/clock.js');
  const { applyCalibration, planAging } = await import('../calibrate/apply.js');
  const { readCalibration } = await import('../src/time/rtc-calibration.js');
  const clock = new VirtualClock(BigInt(Date.UTC(2026, 5, 1)) * 1_000_000n);
  const chip = new Ds3231Emulator({ trueNowNs: () => clock.nowNs(), basePpm: 2.34 });
  const rtc = new Ds3231(chip, {
    busNumber: 1,
    nowNs: () => clock.nowNs(),
    sleep: async (ms) => clock.advance(BigInt(Math.round(ms * 1e6))),
  });
  // Measure its drift over a day of virtual time, as a recording would.
  const driftPpm = (secs: number) => {
    const t0 = clock.nowNs(),
      r0 = chip.rtcNsAt(t0);
    clock.advance(BigInt(secs) * 1_000_000_000n);
    return (Number(chip.rtcNsAt(clock.nowNs()) - r0 - (clock.nowNs() - t0)) / (secs * 1e9)) * 1e6;
  };
  const before = driftPpm(86_400);
  t.true(Math.abs(before - 2.34) < 0.05, `the chip runs ${before} ppm fast`);
  const dir = tempDir('jas-apply-');
  const path = join(dir, 'rtc-calibration.json');
  const analysis = {
    frequency: { ppm: before, uncertaintyPpm: 0.01, points: 86_400, spanSec: 86_400 },
    temperature: { kind: 'none' as const, refC: 25, c0: 0, c1PpmPerC: 0, c2PpmPerC2: 0, minC: 25, maxC: 25, note: '' },
    allan: [],
    noiseRanges: [],
    holdover: [],
  };
  const recording = {
    from: '2026-06-01T00:00:00.000Z',
    to: '2026-06-02T00:00:00.000Z',
    records: 86_400,
    files: ['x.jsonl'],
  };
  // The service had set the RTC on the second before: that must survive the apply.
  const { writeRtcCalibration } = await import('../src/time/rtc-calibration.js');
  await writeRtcCalibration(path, {
    ratePpm: 2.3,
    rateUncertaintyPpm: 0.05,
    setAtUtcNs: BigInt(Date.UTC(2026, 4, 31)) * 1_000_000n,
    setErrorNs: 300_000,
  });
  const dry = await applyCalibration({
    rtc,
    rtcAnalysis: analysis,
    recording,
    calibrationPath: path,
    dryRun: true,
    nowIso: '2026-06-02T00:00:00Z',
    log: () => {},
  });
  t.is(dry.plan!.agingAfter, 23);
  t.is((await rtc.aging()).lsb, 0, '--dry-run writes nothing');
  t.is((await readCalibration(path)).file!.rtc, undefined);
  const logs: string[] = [];
  const done = await applyCalibration({
    rtc,
    rtcAnalysis: analysis,
    recording,
    calibrationPath: path,
    dryRun: false,
    nowIso: '2026-06-02T00:00:00Z',
    log: (m) => logs.push(m),
  });
  t.is(done.plan!.agingBefore, 0);
  t.is((await rtc.aging()).lsb, 23, 'fast by 2.3 ppm: +23 LSB, positive slows it');
  t.true(
    chip.writes.some((w) => w.register === 0x10 && w.bytes[0] === 23),
    'the aging register (0x10) got 23',
  );
  const after = driftPpm(86_400);
  t.true(Math.abs(after) < 0.1 && Math.abs(after) < Math.abs(before) / 10, `drift after: ${after} ppm`);
  const file = (await readCalibration(path)).file!;
  t.is(file.rtc!.agingBefore, 0);
  t.is(file.rtc!.agingAfter, 23);
  t.true(Math.abs(file.ratePpm - (before - 2.3)) < 1e-3, 'the residual rate is what the clock layer uses');
  t.is(file.setAt, '2026-05-31T00:00:00.000Z', "the service's last set is kept (merged, not overwritten)");
  t.is(file.setErrorNs, 300_000);
  t.deepEqual(file.rtc!.recording, recording);
  t.regex(logs.join('\n'), /aging register 0 -> 23/);
  t.regex(
    logs.join('\n'),
    /wrote .*rtc-calibration\.json: the RTC rate [+−]0\.0\d+ ± 0\.0500 ppm .*kept the last set on the second/,
  );
  const { verifyRefusal } = await import('../calibrate/apply.js');
  t.regex(verifyRefusal(file, recording)!, /this is the recording calibrate apply used/);
  t.regex(
    verifyRefusal(file, { ...recording, from: '2026-06-01T12:00:00.000Z', to: '2026-06-03T00:00:00.000Z' })!,
    /before the trim/,
  );
  t.is(
    verifyRefusal(file, { ...recording, from: '2026-06-02T01:00:00.000Z', to: '2026-06-02T08:00:00.000Z' }),
    undefined,
  );
  // A slow RTC goes the other way; the register's range is a limit, said as such.
  t.is(planAging(-1.26, 5).agingAfter, 5 - 13);
  t.true(planAging(30, 0).clamped);
});

test('calibrate record (simulated hardware) writes GPS samples and RTC records in the drift-log format; run again, it continues the same file', async (t) => {
  const { runCli } = await import('./helpers/cli.js');
  const dir = tempDir('jas-rec-');
  const cfg = join(dir, 'c.toml');
  writeFileSync(cfg, '[hardware]\nmode = "simulated"\n');
  const out = join(dir, 'rec.jsonl');
  const first = await runCli([
    'calibrate',
    'record',
    '--reference',
    'gps',
    '--subject',
    'both',
    '--duration',
    '8s',
    '--out',
    out,
    '--config',
    cfg,
  ]);
  t.is(first.code, 0, first.stdout + first.stderr);
  t.regex(first.stdout, /done: 0:08 recorded/);
  const lines1 = readFileSync(out, 'utf8').trim().split('\n').length;
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) => JSON.parse(l) as { kind: string; source?: string; message?: string; simulated?: Record<string, boolean> },
    );
  const kinds = new Set(rows.map((r) => `${r.kind}${r.source ? `:${r.source}` : ''}`));
  t.true(kinds.has('sample:gps+pps') && kinds.has('rtc'), [...kinds].join(' '));
  // It says what made it: simulated GPS, PPS and DS3231.
  t.deepEqual(rows.find((r) => r.kind === 'header')?.simulated, { gps: true, pps: true, rtc: true });
  t.regex(first.stdout + first.stderr, /SIMULATED sources/);
  // The simulated DS3231 starts 2 ms off (sim.rtc_offset_ms): the service would set it; a recording never does.
  t.false(
    rows.some((r) => r.kind === 'event' && /DS3231 set/.test(r.message ?? '')),
    'the DS3231 under measurement was set',
  );
  t.regex(first.stdout, /the DS3231 is not set while this runs/);
  const second = await runCli([
    'calibrate',
    'record',
    '--reference',
    'gps',
    '--subject',
    'both',
    '--duration',
    '12s',
    '--out',
    out,
    '--config',
    cfg,
  ]);
  t.regex(second.stdout, /exists: continuing it \(0:0\d of 0:12 recorded already\)/);
  t.true(readFileSync(out, 'utf8').trim().split('\n').length > lines1, 'appended, not overwritten');
  const bad = await runCli([
    'calibrate',
    'record',
    '--reference',
    'ntp',
    '--subject',
    'rtc',
    '--duration',
    '1s',
    '--out',
    out,
    '--config',
    cfg,
  ]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--subject rtc needs --reference gps/);
});

test('a DS3231 set during the recording (another process; with or without an event record) splits the fit instead of bending it', async (t) => {
  const path = writeRecording(
    driftRecordingLines({
      seconds: 3 * 3600,
      seed: 31,
      ppsJitterNs: 1000,
      system: { ppm: 3 },
      rtc: { ppm: 1.4, whiteFmPpm: 0.01 },
      rtcSets: [{ atSec: 3600 }, { atSec: 7200, silent: true }],
    }),
  );
  const { report } = await buildReport([path]);
  const d = report.devices[0]!;
  const rtc = d.subjects.rtc!;
  t.is(rtc.series.segments, 3);
  t.true(
    Math.abs(rtc.frequency.ppm - 1.4) < 0.005,
    `${rtc.frequency.ppm} ppm (a fit across the sets would be far off)`,
  );
  t.true(
    d.problems.some((p) => /the RTC was stepped 2 times during the recording/.test(p)),
    d.problems.join('\n'),
  );
});

test('holdover: never worse with the rate removed, never smaller at a longer horizon, refused past what the recording supports', async (t) => {
  const { analyse } = await import('../calibrate/analysis.js');
  const rnd = seededRandom(77);
  for (let k = 0; k < 6; k++) {
    const seconds = 1800 + Math.floor(rnd() * 5 * 3600);
    const ppm = (rnd() - 0.5) * 4;
    const lines = [
      ...driftRecordingLines({
        seconds,
        seed: 40 + k,
        ppsJitterNs: 1500,
        cpuTempC: cpuTemp,
        system: { ppm: 0 },
        rtcTempC: rtcTemp,
        rtc: { ppm, whiteFmPpm: 0.02 * rnd(), randomWalkPpmPerSqrtS: 2e-5 * rnd() },
      }),
    ];
    const points = (await buildReport([writeRecording(lines)])).series.get('pi-a')!.get('rtc')!;
    const hours = [0.1, 0.25, 0.5, 1, 2, 3];
    const h = analyse(points, { holdoverHours: hours }).holdover;
    let last = { u: 0, c: 0 };
    for (const x of h) {
      const needSec = x.hours * 3600 * 3;
      if (x.supported) {
        t.true(seconds >= needSec * 0.99, `${x.hours} h predicted from ${seconds} s`);
        t.true(x.calibratedMs! <= x.uncalibratedMs!, `rate removed worse than as it is: ${JSON.stringify(x)}`);
        t.true(x.uncalibratedMs! >= last.u && x.calibratedMs! >= last.c, `fell with the horizon: ${JSON.stringify(h)}`);
        last = { u: x.uncalibratedMs!, c: x.calibratedMs! };
      } else {
        t.true(seconds < needSec, `${x.hours} h refused from ${seconds} s`);
        t.is(x.minRecordingHours, x.hours * 3);
        t.is(x.uncalibratedMs, undefined);
      }
    }
  }
  // Three minutes of data predict nothing an hour ahead, and say what it takes.
  const short = await buildReport([
    writeRecording(driftRecordingLines({ seconds: 180, seed: 50, system: { ppm: 1 }, rtc: { ppm: 1.4 } })),
  ]);
  t.regex(formatReport(short.report), /after 1 h not predicted \(needs 3 h unbroken\)/);
  t.regex(
    short.report.devices[0]!.subjects.rtc!.verdict.headline,
    /holdover not predicted: 0\.05 h recorded, a 1 h prediction needs 3 h unbroken/,
  );
});

test('the noise type is called per decade of τ: 6 h and 24 h of the same clocks agree where both reach; a temperature hump is not called phase noise', async (t) => {
  const { analyse } = await import('../calibrate/analysis.js');
  const { readRecording } = await import('../calibrate/recording.js');
  const hump = (t: number) => 45 + 10 * Math.sin((2 * Math.PI * t) / 5400); // a 90-minute temperature cycle
  const lines = [
    ...driftRecordingLines({
      seconds: 24 * 3600,
      seed: 61,
      ppsJitterNs: 1500,
      cpuTempC: hump,
      rtcTempC: (s) => 30 + 8 * Math.sin((2 * Math.PI * s) / 5400),
      system: { ppm: -43, tempCoeffPpmPerC: 0.25, whiteFmPpm: 0.002, randomWalkPpmPerSqrtS: 2e-6 },
      rtc: { ppm: 1.4, tempCoeffPpmPerC2: -0.004, whiteFmPpm: 0.01, randomWalkPpmPerSqrtS: 1e-5 },
    }),
  ];
  const full = await readRecording([writeRecording(lines)]);
  const six = await readRecording([writeRecording(lines.slice(0, 1 + 6 * 3600 * 3))]); // the header and the first 6 h
  for (const subject of ['system', 'rtc'] as const) {
    const a24 = analyse(full.subjects.get(subject)!),
      a6 = analyse(six.subjects.get(subject)!);
    t.true(
      a6.noiseRanges.length >= 3 && a24.noiseRanges.length > a6.noiseRanges.length,
      `${subject}: 24 h reaches further`,
    );
    for (const r of a6.noiseRanges) {
      const same = a24.noiseRanges.find((x) => x.fromTauSec === r.fromTauSec);
      t.is(
        same?.noise,
        r.noise,
        `${subject} at τ ${r.fromTauSec}-${r.toTauSec} s: 6 h says ${r.noise}, 24 h says ${same?.noise}`,
      );
    }
    // Past the hump the curve falls: a cycle averaging out, never "white PM" at hours.
    for (const r of a24.noiseRanges.filter((x) => x.fromTauSec >= 1000))
      t.not(r.noise, 'white PM', `${subject} ${JSON.stringify(r)}`);
  }
});

test('48 h at 1 Hz: the report and its plots are drawn (no "Maximum call stack size exceeded"), with no NaN in any SVG', async (t) => {
  const path = writeRecording(
    driftRecordingLines({
      seconds: 48 * 3600,
      seed: 71,
      ppsJitterNs: 1500,
      cpuTempC: cpuTemp,
      system: { ppm: -20, tempCoeffPpmPerC: 0.2, whiteFmPpm: 0.002 },
    }),
  );
  const { report, series } = await buildReport([path]);
  t.is(report.devices[0]!.subjects.system!.series.points, 48 * 3600);
  const dir = tempDir('jas-48h-');
  const files = await writeSvgs(dir, report, series);
  for (const f of files.filter((x) => x.endsWith('.svg'))) {
    const svg = readFileSync(join(dir, f), 'utf8');
    t.false(/NaN|Infinity/.test(svg), f);
    t.true(svg.length < 400_000, `${f} is ${svg.length} bytes: long series are thinned`);
  }
  t.true(
    report.devices[0]!.subjects.system!.holdover.every((h) => h.supported),
    '48 h supports 1 h and 3 h predictions',
  );
});
