import test from 'ava';
import { parseConfig, parseStartSpec, resolveStart } from '../src/service/config.js';
import { nextOccurrence, previousOccurrence, zonedToUtcMs, type Occurrences } from '../src/service/schedule.js';
import { tempDir } from './helpers/tmp.js';

/** Every device computes the same UTC instant from the same config, right across DST changes. */

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const daily = (hour: number, minute: number, timeZone: string): Occurrences => ({
  kind: 'daily',
  hour,
  minute,
  second: 0,
  timeZone,
});

test('daily 18:55 Europe/Berlin: 17:55 UTC in winter, 16:55 UTC in summer, across both changes of 2026', (t) => {
  const o = daily(18, 55, 'Europe/Berlin');
  // Spring forward on Sun 29 March 2026, fall back on Sun 25 October 2026.
  const days = ['2026-03-27', '2026-03-28', '2026-03-29', '2026-03-30', '2026-10-24', '2026-10-25', '2026-10-26'];
  const got = days.map((d) => iso(nextOccurrence(o, Date.parse(`${d}T00:00:00Z`))));
  t.deepEqual(got, [
    '2026-03-27T17:55:00.000Z',
    '2026-03-28T17:55:00.000Z',
    '2026-03-29T16:55:00.000Z',
    '2026-03-30T16:55:00.000Z',
    '2026-10-24T16:55:00.000Z',
    '2026-10-25T17:55:00.000Z',
    '2026-10-26T17:55:00.000Z',
  ]);
});

test('daily 18:55 America/New_York across its changes (8 March and 1 November 2026)', (t) => {
  const o = daily(18, 55, 'America/New_York');
  t.is(iso(nextOccurrence(o, Date.parse('2026-03-07T12:00:00Z'))), '2026-03-07T23:55:00.000Z');
  t.is(iso(nextOccurrence(o, Date.parse('2026-03-08T12:00:00Z'))), '2026-03-08T22:55:00.000Z');
  t.is(iso(nextOccurrence(o, Date.parse('2026-10-31T12:00:00Z'))), '2026-10-31T22:55:00.000Z');
  t.is(iso(nextOccurrence(o, Date.parse('2026-11-01T12:00:00Z'))), '2026-11-01T23:55:00.000Z');
  // Just after the evening's start, the next one is tomorrow's; the previous one is tonight's.
  t.is(iso(nextOccurrence(o, Date.parse('2026-11-01T23:56:00Z'))), '2026-11-02T23:55:00.000Z');
  t.is(iso(previousOccurrence(o, Date.parse('2026-11-01T23:56:00Z'))), '2026-11-01T23:55:00.000Z');
});

test('a wall time in the spring gap moves forward by the gap; one that happens twice is the first', (t) => {
  // 02:30 does not exist in Berlin on 29 March 2026 (02:00 -> 03:00): it becomes 03:30 CEST = 01:30 UTC.
  t.is(iso(zonedToUtcMs(2026, 3, 29, 2, 30, 0, 'Europe/Berlin')), '2026-03-29T01:30:00.000Z');
  // 02:30 happens twice on 25 October 2026 (03:00 CEST -> 02:00 CET): the first, in CEST = 00:30 UTC.
  t.is(iso(zonedToUtcMs(2026, 10, 25, 2, 30, 0, 'Europe/Berlin')), '2026-10-25T00:30:00.000Z');
  // The southern hemisphere changes the other way round (Sydney: forward on 4 October 2026).
  t.is(iso(zonedToUtcMs(2026, 10, 4, 2, 30, 0, 'Australia/Sydney')), '2026-10-03T16:30:00.000Z');
  t.is(iso(zonedToUtcMs(2026, 7, 1, 18, 55, 0, 'Australia/Sydney')), '2026-07-01T08:55:00.000Z');
});

test('cron in a zone: last Friday-of-month style rides, DST included', (t) => {
  const o: Occurrences = { kind: 'cron', expr: '55 18 * * 5', timeZone: 'Europe/Berlin' };
  t.is(iso(nextOccurrence(o, Date.parse('2026-03-23T00:00:00Z'))), '2026-03-27T17:55:00.000Z');
  t.is(iso(nextOccurrence(o, Date.parse('2026-03-28T00:00:00Z'))), '2026-04-03T16:55:00.000Z');
  t.is(iso(previousOccurrence(o, Date.parse('2026-04-03T17:00:00Z'))), '2026-04-03T16:55:00.000Z');
});

test('config: daily and cron starts use schedule.timezone; a playlist still playing is joined, else the next', (t) => {
  const c = parseConfig('[schedule]\nstart = "daily 18:55"\ntimezone = "Europe/Berlin"\n', 'c.toml', '/');
  const spec = parseStartSpec(c.schedule.start)!;
  const now = BigInt(Date.parse('2026-06-26T17:30:00Z')) * 1_000_000n; // 19:30 in Berlin
  const opts = { timeZone: c.schedule.timezone };
  t.is(
    iso(Number(resolveStart(spec, now, opts) / 1_000_000n)),
    '2026-06-27T16:55:00.000Z',
    'nothing playing: tomorrow',
  );
  t.is(
    iso(Number(resolveStart(spec, now, { ...opts, playingSec: 3 * 3600 }) / 1_000_000n)),
    '2026-06-26T16:55:00.000Z',
    'a 3 h playlist began 35 min ago: join it',
  );
});

test('config: a bad time zone, daily time or cron expression names the key and what is expected', (t) => {
  const bad = (toml: string, re: RegExp) => {
    const e = t.throws(() => parseConfig(toml, 'c.toml', '/'));
    t.regex(e!.message, re);
  };
  bad(
    '[schedule]\nstart = "daily 18:55"\ntimezone = "Europe/Berlinn"\n',
    /schedule\.timezone = "Europe\/Berlinn": expected an IANA time zone/,
  );
  bad(
    '[schedule]\nstart = "daily 25:00"\n',
    /schedule\.start = "daily 25:00": expected an ISO 8601 instant .* "daily HH:MM"/,
  );
  bad('[schedule]\nstart = "cron 61 18 * * 5"\n', /schedule\.start = "cron 61 18 \* \* 5"/);
});

test('config check says the next start, and which time zone a daily start is in', async (t) => {
  const { runCli } = await import('./helpers/cli.js');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir('jas-sched-');
  writeFileSync(join(dir, 'c.toml'), '[schedule]\nstart = "daily 18:55"\ntimezone = "Europe/Berlin"\n');
  const r = await runCli(['config', 'check', '--no-machine', join(dir, 'c.toml')]);
  t.is(r.code, 0, r.stderr);
  const m = /# next start: (\S+); time zone Europe\/Berlin/.exec(r.stdout);
  t.truthy(m, r.stdout);
  const next = Date.parse(m![1]!);
  t.true(next > Date.now() && next - Date.now() <= 86_400_000, 'within the next day');
  t.true(
    [16, 17].includes(new Date(next).getUTCHours()) && new Date(next).getUTCMinutes() === 55,
    '18:55 in Berlin is 16:55 or 17:55 UTC',
  );
  t.regex(
    r.stdout,
    /; time zone Europe\/Berlin; local time \d{4}-\d\d-\d\d 18:55:00 CES?T\n/,
    'the wall clock beside UTC',
  );
});
