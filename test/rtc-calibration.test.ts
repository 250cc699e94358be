import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRtcCalibration, writeRtcCalibration } from '../src/time/rtc-calibration.js';
import { runCli } from './helpers/cli.js';

test('the RTC calibration file round-trips; a broken one is reported and ignored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cal-'));
  const path = join(dir, 'rtc.json');
  const setAtUtcNs = BigInt(Date.UTC(2026, 10, 24, 12)) * 1_000_000n;
  await writeRtcCalibration(path, { ratePpm: 1.23456, rateUncertaintyPpm: 0.02, setAtUtcNs, setErrorNs: 300_000 });
  t.deepEqual(await readRtcCalibration(path, () => t.fail()), { ratePpm: 1.2346, rateUncertaintyPpm: 0.02, setAtUtcNs, setErrorNs: 300_000 });
  t.is(await readRtcCalibration(join(dir, 'none.json'), () => t.fail()), undefined);
  writeFileSync(path, '{"ratePpm": "fast"');
  const said: string[] = [];
  t.is(await readRtcCalibration(path, (m) => said.push(m)), undefined);
  t.regex(said[0]!, /rtc\.json is not usable .*ignoring it/);
});

test('on a GPS lock the (simulated) DS3231 is set on the second and the set is recorded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jas-cal-'));
  writeFileSync(join(dir, 'c.toml'), ['[hardware]', 'mode = "simulated"', '[rtc]', 'calibration = "rtc.json"', '[clock]', 'drift_log = "drift.jsonl"', '[sim]', 'rtc_offset_ms = 40'].join('\n'));
  const r = await runCli(['clock', 'monitor', '--config', join(dir, 'c.toml'), '--duration', '22']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /DS3231 set from GPS on the second \(it was 4\d\.\d{3} ms off\)/);
  t.true(existsSync(join(dir, 'rtc.json')));
  const cal = JSON.parse(readFileSync(join(dir, 'rtc.json'), 'utf8')) as { v: number; setAt: string; setErrorNs: number };
  t.is(cal.v, 1);
  t.true(Math.abs(Date.parse(cal.setAt) - Date.now()) < 60_000);
  // After the set the RTC is measured again, now close to GPS.
  const rows = readFileSync(join(dir, 'drift.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; rtcMinusUtcNs?: number; message?: string });
  t.true(rows.some((x) => x.kind === 'servo') && rows.some((x) => x.kind === 'sample'));
  t.true(rows.some((x) => x.kind === 'event' && /DS3231 set from GPS/.test(x.message ?? '')));
  const after = rows.filter((x) => x.kind === 'rtc').at(-1);
  t.truthy(after, 'RTC measurements after the set');
  t.true(Math.abs(after!.rtcMinusUtcNs!) < 1_000_000, `RTC ${after!.rtcMinusUtcNs} ns from GPS after the set`);
});
