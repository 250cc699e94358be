import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRtcCalibration, writeRtcCalibration } from '../src/time/rtc-calibration.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

test('the RTC calibration file round-trips; a broken one is reported and ignored', async (t) => {
  const dir = tempDir('jas-cal-');
  const path = join(dir, 'rtc.json');
  const setAtUtcNs = BigInt(Date.UTC(2026, 10, 24, 12)) * 1_000_000n;
  await writeRtcCalibration(path, { ratePpm: 1.23456, rateUncertaintyPpm: 0.02, setAtUtcNs, setErrorNs: 300_000 });
  t.deepEqual(await readRtcCalibration(path, () => t.fail()), {
    ratePpm: 1.2346,
    rateUncertaintyPpm: 0.02,
    setAtUtcNs,
    setErrorNs: 300_000,
  });
  t.is(await readRtcCalibration(join(dir, 'none.json'), () => t.fail()), undefined);
  writeFileSync(path, '{"ratePpm": "fast"');
  const said: string[] = [];
  t.is(await readRtcCalibration(path, (m) => said.push(m)), undefined);
  t.regex(said[0]!, /rtc\.json is not usable .*ignoring it/);
});

test('on a GPS lock the (simulated) DS3231 is set on the second and the set is recorded', async (t) => {
  const dir = tempDir('jas-cal-');
  writeFileSync(
    join(dir, 'c.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[rtc]',
      'calibration = "rtc.json"',
      '[clock]',
      'drift_log = "drift.jsonl"',
      '[sim]',
      'rtc_offset_ms = 40',
    ].join('\n'),
  );
  // Long enough for the lock, 10 readings, the set, and 10 more that check it, on a busy machine too.
  const r = await runCli(['clock', 'monitor', '--config', join(dir, 'c.toml'), '--duration', '40']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /DS3231 set from GPS on the second \(it was 4\d\.\d{3} ms off\)/);
  // Every set is checked by measuring the chip again (and done again if it did not land).
  t.regex(r.stdout, /DS3231 checked after the set: 0\.\d{3} ms from GPS/);
  t.true(existsSync(join(dir, 'rtc.json')));
  const cal = JSON.parse(readFileSync(join(dir, 'rtc.json'), 'utf8')) as {
    v: number;
    setAt: string;
    setErrorNs: number;
  };
  t.is(cal.v, 1);
  t.true(Math.abs(Date.parse(cal.setAt) - Date.now()) < 60_000);
  // After the set the RTC is measured again, now close to GPS.
  const rows = readFileSync(join(dir, 'drift.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; rtcMinusUtcNs?: number; message?: string });
  t.true(rows.some((x) => x.kind === 'servo') && rows.some((x) => x.kind === 'sample'));
  t.true(rows.some((x) => x.kind === 'event' && /DS3231 set from GPS/.test(x.message ?? '')));
  const after = rows.filter((x) => x.kind === 'rtc').at(-1);
  t.truthy(after, 'RTC measurements after the set');
  t.true(Math.abs(after!.rtcMinusUtcNs!) < 1_000_000, `RTC ${after!.rtcMinusUtcNs} ns from GPS after the set`);
});

test("the calibration store merges every write: the service's set, calibrate apply's trim and a recording mark all survive each other", async (t) => {
  const { defaultCalibrationPath, readCalibration, updateCalibration } = await import('../src/time/rtc-calibration.js');
  const dir = tempDir('jas-store-');
  t.is(defaultCalibrationPath('/var/lib/jaudiosync'), '/var/lib/jaudiosync/rtc-calibration.json');
  const path = defaultCalibrationPath(join(dir, 'state')); // the state dir does not exist yet: created
  t.deepEqual(await readCalibration(path), {});
  const setAtUtcNs = BigInt(Date.UTC(2026, 5, 1, 18)) * 1_000_000n;
  await writeRtcCalibration(path, { ratePpm: 1.5, rateUncertaintyPpm: 0.05, setAtUtcNs, setErrorNs: 250_000 });
  await updateCalibration(path, {
    ratePpm: 0.04,
    rtc: { measuredPpm: 1.54, agingBefore: 0, agingAfter: 15 },
    recordingInProgress: { pid: 1, out: 'r.jsonl', since: 'x' },
  });
  await updateCalibration(path, { rtc: { appliedAt: '2026-06-02T00:00:00.000Z' } }); // nested objects merge
  // The service measures again: its write keeps the trim.
  await writeRtcCalibration(path, { ratePpm: 0.05, rateUncertaintyPpm: 0.02 }, setAtUtcNs + 3_600_000_000_000n);
  const f = (await readCalibration(path)).file!;
  t.is(f.ratePpm, 0.05);
  t.is(f.setAt, '2026-06-01T18:00:00.000Z');
  t.is(f.setErrorNs, 250_000);
  t.is(f.measuredAt, '2026-06-01T19:00:00.000Z');
  t.deepEqual(f.rtc, { measuredPpm: 1.54, agingBefore: 0, agingAfter: 15, appliedAt: '2026-06-02T00:00:00.000Z' });
  t.truthy(f.recordingInProgress);
  await updateCalibration(path, { recordingInProgress: null }); // null removes a field
  t.is((await readCalibration(path)).file!.recordingInProgress, undefined);
  t.is((await readRtcCalibration(path, () => t.fail()))!.setAtUtcNs, setAtUtcNs);
  // Writers at once (the service and calibrate): the lock keeps every field.
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => updateCalibration(path, { [`extra${i}` as 'measuredAt']: String(i) })),
  );
  const all = (await readCalibration(path)).file as unknown as Record<string, unknown>;
  for (let i = 0; i < 8; i++) t.is(all[`extra${i}`], String(i));
  t.false(existsSync(`${path}.lock`));
});

test('a broken calibration file is reported, kept aside and replaced, never silently trusted', async (t) => {
  const { readCalibration, updateCalibration } = await import('../src/time/rtc-calibration.js');
  const dir = tempDir('jas-store-');
  const path = join(dir, 'rtc-calibration.json');
  writeFileSync(path, '{"ratePpm": 1.2, "rateUncertaintyPpm": "small"}');
  t.regex(
    (await readCalibration(path)).problem!,
    /rtc-calibration\.json is not usable \(rateUncertaintyPpm must be a number/,
  );
  const said: string[] = [];
  const f = await updateCalibration(path, { setAt: '2026-06-01T00:00:00.000Z' }, (m) => said.push(m));
  t.regex(said.join('\n'), /kept it as .*rtc-calibration\.json\.broken and started a new one/);
  t.is(readFileSync(`${path}.broken`, 'utf8'), '{"ratePpm": 1.2, "rateUncertaintyPpm": "small"}');
  t.deepEqual(
    { ratePpm: f.ratePpm, rateUncertaintyPpm: f.rateUncertaintyPpm, setAt: f.setAt },
    { ratePpm: 0, rateUncertaintyPpm: 2, setAt: '2026-06-01T00:00:00.000Z' },
  );
});

test('rtcSetHeld: a live calibrate record holds the RTC; a dead one does not', async (t) => {
  const { rtcSetHeld, updateCalibration } = await import('../src/time/rtc-calibration.js');
  const { spawn } = await import('node:child_process');
  const dir = tempDir('jas-store-');
  const path = join(dir, 'rtc-calibration.json');
  t.is(await rtcSetHeld(path), undefined, 'no store: nothing held');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  try {
    await updateCalibration(path, {
      recordingInProgress: { pid: child.pid!, out: '/tmp/r.jsonl', since: '2026-06-01T00:00:00.000Z' },
    });
    t.regex(
      (await rtcSetHeld(path))!,
      new RegExp(
        `calibrate record \\(pid ${child.pid}, .*\\) is measuring the DS3231 into /tmp/r\\.jsonl: not setting it`,
      ),
    );
  } finally {
    child.kill();
    await new Promise((r) => child.once('exit', r));
  }
  t.is(await rtcSetHeld(path), undefined, 'its process is gone: a leftover mark holds nothing');
});
