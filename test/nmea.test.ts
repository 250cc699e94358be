import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNmeaLine, parseTimeOfDay, ROLLOVER_NS } from '../drivers/gps/nmea.js';
import { sentence, sentencesForSecond } from '../drivers/gps/emulator.js';
import { PACKAGE_DIR } from '../src/service/config.js';

const ms = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

test('RMC with status A gives date and time; fractions are exact', (t) => {
  const r = parseNmeaLine(sentence('GNRMC,171926.020,A,4404.14063,N,12118.85478,W,0.117,,180315,,,A'), 7n);
  t.is(r.kind, 'fix');
  if (r.kind !== 'fix') return;
  t.true(r.fix.valid);
  t.is(r.fix.utcNs, ms('2015-03-18T17:19:26.000Z') + 20_000_000n);
  t.is(r.fix.monoNs, 7n);
  t.is(r.fix.talker, 'GN');
  t.is(parseTimeOfDay('000000.123456789'), 123_456_789n);
  t.is(parseTimeOfDay('235960'), (23n * 3600n + 59n * 60n + 60n) * 1_000_000_000n, 'a leap second is representable');
  t.is(parseTimeOfDay('246000'), undefined);
});

test('RMC status V is no time for disciplining, and says why', (t) => {
  const r = parseNmeaLine(sentence('GPRMC,120000.00,V,,,,,,,010120,,,N'), 0n);
  t.true(r.kind === 'fix' && !r.fix.valid && /no fix \(RMC status V\)/.test(r.fix.reason ?? ''));
});

test('bad checksums, garbage and binary never give a time', (t) => {
  t.is(parseNmeaLine('$GPRMC,120000.00,A,,,,,,,010120,,,A*00', 0n).kind, 'bad-checksum');
  t.is(parseNmeaLine('\xb5\x62\x01\x07garbage', 0n).kind, 'garbage');
  t.is(parseNmeaLine('$GPRMC,120000.00,A,,,,,,,0101', 0n).kind, 'garbage', 'truncated');
  t.is(parseNmeaLine('', 0n).kind, 'garbage');
});

test('ZDA carries its own date; GGA gives context only (its date would come from the system clock)', (t) => {
  const z = parseNmeaLine(sentence('GPZDA,082710.00,16,09,2002,00,00'), 0n);
  t.true(z.kind === 'fix' && z.fix.valid && z.fix.utcNs === ms('2002-09-16T08:27:10Z'));
  const g = parseNmeaLine(sentence('GNGGA,171926.00,4404.14063,N,12118.85478,W,1,12,0.91,1147.2,M,-21.3,M,,'), 0n);
  t.deepEqual(g, {
    kind: 'context',
    context: { monoNs: 0n, quality: 1, satellites: 12, hdop: 0.91 },
    todNs: (17n * 3600n + 19n * 60n + 26n) * 1_000_000_000n,
  });
});

test('week-rollover dates are corrected against the floor, or rejected when asked', (t) => {
  const floor = ms('2026-01-01T00:00:00Z');
  const truth = ms('2026-11-24T12:00:00Z');
  const buggy = sentencesForSecond(Number(truth / 1_000_000_000n), { rolloverBug: true, sentences: ['RMC'] })[0]!.text;
  const c = parseNmeaLine(buggy, 0n, { floorUtcNs: floor });
  t.true(c.kind === 'fix' && c.fix.valid && c.fix.rolloverCorrected === true && c.fix.utcNs === truth);
  const r = parseNmeaLine(buggy, 0n, { floorUtcNs: floor, rollover: 'reject' });
  t.true(
    r.kind === 'fix' && !r.fix.valid && /rollover/.test(r.fix.reason ?? '') && r.fix.utcNs === truth - ROLLOVER_NS,
  );
});

test('the emulator writes sentences this parser reads back to the same second', (t) => {
  const sec = 1_790_000_000;
  const out = sentencesForSecond(sec, { talker: 'GN', sentences: ['RMC', 'GGA', 'ZDA'], latencyMs: 200 });
  t.deepEqual(
    out.map((s) => s.text.slice(3, 6)),
    ['RMC', 'GGA', 'ZDA'],
  );
  t.true(out[0]!.atNs > 200e6 && out[0]!.atNs < 300e6, 'first byte at the latency, last after ~70 chars at 9600 baud');
  for (const s of out) {
    const r = parseNmeaLine(s.text, 0n);
    if (r.kind === 'fix') t.is(r.fix.utcNs, BigInt(sec) * 1_000_000_000n);
    else t.is(r.kind, 'context');
  }
});

test('a real capture (u-blox NEO-M8N) replays with the dates its RMC sentences carry', (t) => {
  const text = readFileSync(join(PACKAGE_DIR, 'test', 'fixtures', 'nmea', 'gpsd', 'neo-m8n.log'), 'latin1');
  const fixes = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => parseNmeaLine(l, 0n))
    .flatMap((r) => (r.kind === 'fix' && r.fix.valid ? [r.fix] : []));
  t.true(fixes.length > 0);
  for (const f of fixes) t.is(new Date(Number(f.utcNs! / 1_000_000n)).toISOString().slice(0, 10), '2015-03-18');
});
