import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { SIM_TRUTH_ENV } from '../src/sim/hardware-twins.js';
import { simTruth } from './helpers/sim-truth.js';
import { jsonLines, runCli } from './helpers/cli.js';

const capture = (name: string) => join(PACKAGE_DIR, 'test', 'fixtures', 'nmea', 'gpsd', name);

test('gps monitor --replay --json: one object per time fix with utc, valid and reason', async (t) => {
  const r = await runCli(['gps', 'monitor', '--replay', capture('ublox-lea-4h.log'), '--json']);
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines<{ utc: string; valid: boolean; reason?: string; sentence: string }>(r.stdout);
  t.true(rows.length > 10);
  for (const row of rows) {
    t.regex(row.utc, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    t.is(typeof row.valid, 'boolean');
    t.is(row.reason === undefined, row.valid);
  }
  t.is(rows[0]!.valid, false, 'the receiver starts without a fix');
  t.true(
    rows.some((row) => row.valid && row.utc.startsWith('2006-08-10')),
    'a 2006 capture keeps its 2006 dates',
  );
});

test('gps monitor --simulate: fixes from the twin, each line saying SIMULATED', async (t) => {
  const json = await runCli(['gps', 'monitor', '--simulate', '--seconds', '3', '--json']);
  t.is(json.code, 0, json.stderr);
  const rows = jsonLines<{ valid: boolean; simulated?: boolean }>(json.stdout);
  t.true(rows.length >= 2 && rows.every((row) => row.simulated === true), json.stdout);
  t.regex(json.stderr, /SIMULATED GPS and PPS .*no real receiver is read/);
  const text = await runCli(['gps', 'monitor', '--simulate', '--seconds', '2.5']);
  t.regex(text.stdout, /^\S+Z {2}GP(RMC|ZDA|GGA) .* SIMULATED$/m);
});

test('gps monitor on a missing port says what to check', async (t) => {
  const r = await runCli(['gps', 'monitor', '--port', '/dev/ttyNOPE9']);
  t.is(r.code, 1);
  t.regex(r.stderr, /\/dev\/ttyNOPE9 does not exist.*enable_uart=1/);
});

test('rtc on the emulator: info, aging write and read back, each saying the chip is SIMULATED', async (t) => {
  const info = await runCli(['rtc', 'info', '--simulate']);
  t.is(info.code, 0, info.stderr);
  t.regex(info.stdout, /^chip\s+SIMULATED DS3231/m);
  t.regex(info.stderr, /SIMULATED DS3231 .*no real chip is read or written/);
  t.regex(info.stdout, /temperature\s+25\.00 °C/);
  t.regex(info.stdout, /OSF\s+clear/);
  const aging = await runCli(['rtc', 'aging', '7', '--simulate']);
  t.regex(aging.stdout, /^SIMULATED aging 0 -> 7 LSB .*now -0\.7 ppm/);
  const read = await runCli(['rtc', 'read', '--simulate']);
  t.regex(read.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/, 'read prints the time alone, for scripts');
  t.regex(read.stderr, /SIMULATED DS3231/);
  const bad = await runCli(['rtc', 'aging', '300', '--simulate']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /expected an integer from -128 to 127/);
});

test('rtc without an I2C bus fails with the config.txt hint, never a stack trace', async (t) => {
  const r = await runCli(['rtc', 'read', '--bus', '97']);
  t.is(r.code, 1);
  t.regex(r.stderr, /I2C bus 97.*\/dev\/i2c-97 does not exist: is dtparam=i2c_arm=on set/s);
  t.notRegex(r.stderr, /at .*\.ts:\d+/);
});

test('pps monitor --simulate shows pulses about a second apart, each said to be SIMULATED', async (t) => {
  const r = await runCli(['pps', 'monitor', '--simulate', '--seconds', '3.5', '--json']);
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines<{ seq: number; intervalNs: number | null; missed: number; simulated?: boolean }>(r.stdout);
  t.true(rows.length >= 2, r.stdout);
  t.true(
    rows.every((row) => row.simulated === true),
    r.stdout,
  );
  t.regex(r.stderr, /SIMULATED GPS and PPS .*no real PPS is read/);
  const text = await runCli(['pps', 'monitor', '--simulate', '--seconds', '2.5']);
  t.regex(text.stdout, /^#\d+ .*\[kernel, SIMULATED\]$/m);
  for (const row of rows.slice(1)) t.true(Math.abs(row.intervalNs! - 1e9) < 1e6, `interval ${row.intervalNs}`);
});

test('doctor names each missing piece with its fix and exits 1 without any time source', async (t) => {
  const r = await runCli(['doctor', '--json'], { env: { HOME: '/nonexistent' } });
  const { checks } = JSON.parse(r.stdout) as { checks: Array<{ name: string; verdict: string; fix?: string }> };
  const byName = new Map(checks.map((c) => [c.name, c]));
  t.is(byName.get('ffmpeg')?.verdict, 'ok');
  if (byName.get('I2C bus')?.verdict === 'warn') t.regex(byName.get('I2C bus')!.fix!, /dtparam=i2c_arm=on/);
  t.is(r.code, checks.some((c) => c.verdict === 'fail') ? 1 : 0);
  // Without a GPS port and an I2C bus (any machine but a wired Pi) the time source check fails.
  if (!existsSync('/dev/serial0') && !existsSync('/dev/i2c-1')) t.is(byName.get('time source')?.verdict, 'fail');
});

test('clock monitor on twins given a shared truth 40 ms ahead: the system clock is said to be 40 ms behind', async (t) => {
  // As if the system clock had been stepped back 40 ms after the fleet's twins took their truth.
  const aheadNs = 40_000_000;
  const truth = simTruth();
  const r = await runCli(['clock', 'monitor', '--duration', '9', '--json'], {
    env: { [SIM_TRUTH_ENV]: String(truth.utcMinusMonoNs + BigInt(aheadNs)) },
  });
  const steppedNs = truth.steppedNs();
  t.is(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
  t.is(last.state, 'locked');
  t.regex(r.stderr + r.stdout, /is shared \(JAUDIOSYNC_SIM_UTC_MINUS_MONO_NS\), 40\.0 ms from the system clock/);
  const off = (last.systemMinusUtcNs as number) + aheadNs - steppedNs;
  t.true(Math.abs(off) <= (last.errorBoundNs as number) + 50_000, JSON.stringify(last));
});

test('clock monitor with a shared truth that is not a number names the variable and exits 1', async (t) => {
  const r = await runCli(['clock', 'monitor', '--duration', '2'], { env: { [SIM_TRUTH_ENV]: '12ms' } });
  t.is(r.code, 1);
  t.regex(r.stderr, /JAUDIOSYNC_SIM_UTC_MINUS_MONO_NS="12ms" is not an integer of nanoseconds/);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});

test('clock monitor --json: once a second, state, source, systemMinusUtcNs, errorBoundNs, freqPpm, samples', async (t) => {
  const truth = simTruth();
  const r = await runCli(['clock', 'monitor', '--duration', '9', '--json'], { env: truth.env });
  const steppedNs = truth.steppedNs();
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines<Record<string, unknown>>(r.stdout);
  t.true(rows.length >= 7 && rows.length <= 10, `${rows.length} rows`);
  for (const row of rows)
    for (const k of ['state', 'source', 'systemMinusUtcNs', 'errorBoundNs', 'freqPpm', 'samples']) t.true(k in row, k);
  t.true(
    rows.every((row) => row.simulated === true),
    'every row says its parts are simulated',
  );
  t.regex(r.stderr, /timing: SIMULATED GPS .*; SIMULATED DS3231 at 0x68/);
  t.true(
    rows.some((row) => row.state === 'locking' || row.state === 'unsynchronized'),
    'it starts unlocked',
  );
  const last = rows.at(-1)!;
  t.is(last.state, 'locked');
  t.is(last.source, 'gps+pps');
  // The simulated GPS's truth is the system clock as it was: the system clock is right to the bound,
  // or off by however far it was stepped meanwhile (a VM resumed, timesyncd), said if it was.
  if (Math.abs(steppedNs) > 1_000_000)
    t.log(`the system clock was stepped by ${(steppedNs / 1e6).toFixed(3)} ms meanwhile`);
  const off = (last.systemMinusUtcNs as number) - steppedNs;
  t.true(Math.abs(off) <= (last.errorBoundNs as number) + 50_000, JSON.stringify(last));
});
