import test from 'ava';
import { sentencesForSecond } from '../drivers/gps/emulator.js';
import { captureDate, parseLenientDateMs, replayCapture } from '../drivers/gps/replay.js';
import {
  configIntOption,
  configNumberOption,
  explainStartSpec,
  instantOption,
  intOption,
  OptionError,
  pathOption,
  secondsOption,
  startOption,
} from '../src/cli/options.js';
import { ConfigError, parseConfig } from '../src/service/config.js';
import { parseCron } from '../src/service/schedule.js';

/** Options checked like the config, and the small parsers behind the bad-input messages. */

test('option numbers: whole, within limits, never NaN; the message names the option, the value and what is expected', (t) => {
  t.is(intOption('--from-track', '3', 1), 3);
  for (const bad of ['abc', '', '1.5', '1e3', '12abc', '0'])
    t.throws(() => intOption('--from-track', bad, 1, undefined, 'a track number'), {
      instanceOf: OptionError,
      message: new RegExp(`--from-track "${bad}": expected a track number from 1`),
    });
  t.throws(() => intOption('--gpio', '54', 0, 53, 'a BCM GPIO number'), {
    message: '--gpio "54": expected a BCM GPIO number from 0 to 53',
  });
  t.is(secondsOption('--duration', '90'), 90);
  t.is(secondsOption('--duration', '1.5m'), 90);
  t.is(secondsOption('--duration', '2d'), 172_800);
  for (const bad of ['abc', '0', '-5', '', '5x'])
    t.throws(() => secondsOption('--duration', bad), { message: /--duration ".*": expected/ });
});

test("an option for a config setting has the config's limits and words", (t) => {
  t.is(configNumberOption('--trim-ms', '-12.5', 'audio', 'latency_trim_ms'), -12.5);
  t.throws(() => configNumberOption('--trim-ms', '99999', 'audio', 'latency_trim_ms'), {
    message: '--trim-ms "99999": expected at most 1000 (as audio.latency_trim_ms in the config)',
  });
  // The config says the same of the same value.
  const e = t.throws(() => parseConfig('[audio]\nlatency_trim_ms = 99999\n', 'c.toml', '/'), {
    instanceOf: ConfigError,
  });
  t.regex(e.message, /audio\.latency_trim_ms = 99999: expected at most 1000/);
  t.is(configIntOption('--address', '0x68', 'rtc', 'address'), 0x68);
  t.throws(() => configIntOption('--address', '0x99', 'rtc', 'address'), {
    message: '--address "0x99": expected at most 119 (as rtc.address in the config)',
  });
  t.throws(() => configIntOption('--baud', '9601', 'gps', 'baud'), {
    message: /--baud "9601": expected a standard baud rate: 4800, 9600/,
  });
  t.throws(() => configIntOption('--bus', 'abc', 'rtc', 'bus', 'an I2C bus number'), {
    message: '--bus "abc": expected an I2C bus number',
  });
});

test('start instants: a local time without an offset, +abc, a cron that never happens each get their own words', (t) => {
  t.deepEqual(startOption('--at', '+30'), { kind: 'relative', sec: 30 });
  t.throws(() => startOption('--at', '2026-12-24T18:00'), {
    message: /--at "2026-12-24T18:00" has no UTC offset, .*"2026-12-24T18:00\+01:00" or "2026-12-24T18:00Z"/,
  });
  t.throws(() => startOption('--at', '+abc'), { message: /--at "\+abc": expected \+SECONDS/ });
  t.throws(() => startOption('--at', 'cron 0 0 31 2 *'), { message: /never happens/ });
  t.throws(() => startOption('--at', 'tomorrow'), {
    message: /--at "tomorrow": expected "next-10s", "\+SECONDS", an ISO 8601 instant with offset/,
  });
  t.throws(() => instantOption('--start', 'next-10s'), {
    message: /--start "next-10s": expected an ISO 8601 instant with offset/,
  });
  t.is(instantOption('--start', '2026-06-27T18:55:00+02:00'), BigInt(Date.UTC(2026, 5, 27, 16, 55)) * 1_000_000n);
  t.regex(explainStartSpec('daily 25:00'), /expected "daily HH:MM"/);
  t.is(pathOption('x/y.wav'), `${process.cwd()}/x/y.wav`, 'relative to the current directory');
});

test('an instant the calendar does not have is refused, never rolled over to another day (30 February is not 2 March)', (t) => {
  for (const [bad, why] of [
    ['2026-02-30T10:00:00+01:00', /--at "2026-02-30T10:00:00\+01:00": February 2026 has no day 30 \(it has 28\)/],
    ['2027-02-29T10:00Z', /February 2027 has no day 29/],
    ['2026-11-31T10:00:00Z', /November 2026 has no day 31/],
    ['2026-12-24T24:00:00+01:00', /24:00:00 is not a time of day/],
    ['2026-12-24T18:60Z', /18:60 is not a time of day/],
    ['2026-12-24T18:00:00+24:00', /the UTC offset is out of range/],
    ['2026-00-10T18:00:00Z', /has no month 0/],
  ] as const)
    t.throws(() => startOption('--at', bad), { instanceOf: OptionError, message: why }, bad);
  t.is(
    instantOption('--start', '2028-02-29T12:00:00Z'),
    BigInt(Date.UTC(2028, 1, 29, 12)) * 1_000_000n,
    'a leap day is',
  );
  t.is(instantOption('--start', '2026-12-31T23:59:59-12:00'), BigInt(Date.UTC(2027, 0, 1, 11, 59, 59)) * 1_000_000n);
  const e = t.throws(() => parseConfig('[schedule]\nstart = "2026-04-31T18:55:00+02:00"\n', 'c.toml', '/'));
  t.true(e instanceof ConfigError);
  t.regex(e!.message, /schedule\.start = "2026-04-31T18:55:00\+02:00": April 2026 has no day 31/);
  const p = t.throws(() =>
    parseConfig('[schedule]\npauses = ["2026-12-24T18:00:00Z/2026-12-32T18:00:00Z"]\n', 'c.toml', '/'),
  );
  t.regex(p!.message, /December 2026 has no day 32/);
});

test('cron: an expression whose day never comes says "never happens"; a leap day and bad fields do not', (t) => {
  for (const never of ['0 0 31 2 *', '0 0 30 2 *', '0 0 31 4,6,9,11 *'])
    t.regex(
      (parseCron(`cron ${never}`, 'UTC') as { error: string }).error,
      /never happens: no month it names has that day/,
      never,
    );
  t.deepEqual(parseCron('cron 0 0 29 2 *', 'UTC'), { expr: '0 0 29 2 *' }, 'every four years is not never');
  t.regex(
    (parseCron('cron 61 0 * * *', 'UTC') as { error: string }).error,
    /got value 61 expected range 0-59 \(expected MIN HOUR DOM MON DOW\)/,
  );
  t.regex((parseCron('cron 0 18 * *', 'UTC') as { error: string }).error, /expected 5 fields, MIN HOUR DOM MON DOW/);
  const e = t.throws(() => parseConfig('[schedule]\nstart = "cron 0 0 31 2 *"\n', 'c.toml', '/'));
  t.regex(e.message, /schedule\.start = "cron 0 0 31 2 \*": cron expression "0 0 31 2 \*" never happens/);
});

test('capture dates are read leniently; an unpadded "# Date: 2019-3-14" sets the rollover floor', (t) => {
  const day = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d);
  for (const [s, want] of [
    ['2019-3-14', day(2019, 3, 14)],
    ['2019/03/14', day(2019, 3, 14)],
    ['2019.3.4 12:00', day(2019, 3, 4)],
    ['20190314', day(2019, 3, 14)],
    ['14 Mar 2019', day(2019, 3, 14)],
    ['March 14, 2019', day(2019, 3, 14)],
    ['2019-03-14T10:00:00Z', day(2019, 3, 14)],
  ] as const)
    t.is(parseLenientDateMs(s), want, s);
  for (const bad of ['2019-2-30', '2019-13-01', 'soon', '14/03/2019']) t.is(parseLenientDateMs(bad), undefined, bad);
  // A receiver with the week-rollover bug in 2019 says 1999; the unpadded header must catch it.
  const rolled = sentencesForSecond(Date.UTC(2019, 2, 14, 12) / 1000, { rolloverBug: true, sentences: ['RMC'] })[0]!
    .text;
  const r = replayCapture(`# Date: 2019-3-14\n${rolled}`);
  t.is(r.floorUtcNs, BigInt(day(2019, 3, 14)) * 1_000_000n);
  t.true(r.fixes[0]!.rolloverCorrected, 'corrected by +1024 weeks');
  t.is(new Date(Number(r.fixes[0]!.utcNs! / 1_000_000n)).toISOString(), '2019-03-14T12:00:00.000Z');
  const rejected = replayCapture(`# Date: 2019-3-14\n${rolled}`, { rollover: 'reject' });
  t.false(rejected.fixes[0]!.valid, 'or refused, never taken as 1999');
  t.regex(captureDate('# Date: sometime\n').problem!, /"sometime" is not a date .*no week-rollover floor/);
});
