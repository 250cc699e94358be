import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayCapture } from '../drivers/gps/replay.js';
import { sentencesForSecond } from '../drivers/gps/emulator.js';
import { PACKAGE_DIR } from '../src/service/config.js';

/**
 * Every real capture against what gpsd reported for it. gpsd is lenient (times without a fix,
 * dates it cannot check); where our rules are stricter, the exception is listed here with why.
 */

const dir = join(PACKAGE_DIR, 'test', 'fixtures', 'nmea', 'gpsd');
const logs = readdirSync(dir).filter((f) => f.endsWith('.log'));
const DAY_MS = 86_400_000;

/** gpsd TPVs we deliberately give no valid fix for. */
const STRICTER: Record<string, { times: string[]; why: string }> = {
  'ublox-lea-5h.log': {
    times: ['2010-08-21T08:55:15.000Z'],
    why: 'the capture ends after GGA/GLL for this second: no dated sentence, and GGA/GLL dates are never used',
  },
};

interface Tpv {
  mode: number;
  time?: string;
}

for (const log of logs) {
  test(`capture ${log}: every gpsd fix is ours to the millisecond, with the date the sentences carry`, (t) => {
    const text = readFileSync(join(dir, log), 'latin1');
    const { fixes } = replayCapture(text);
    const tpvs = readFileSync(join(dir, `${log}.chk`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"class":"TPV"'))
      .map((l) => JSON.parse(l) as Tpv);
    const valid = fixes.filter((f) => f.valid);
    const ourTods = new Set(valid.map((f) => Number(f.utcNs! / 1_000_000n) % DAY_MS));
    const stricter = STRICTER[log];
    let checked = 0;
    for (const tpv of tpvs) {
      if (tpv.mode < 2 || !tpv.time) continue;
      if (stricter?.times.includes(tpv.time)) continue;
      checked++;
      if (!ourTods.has(Date.parse(tpv.time) % DAY_MS)) t.fail(`gpsd fix at ${tpv.time} has no valid fix of ours`);
    }
    t.true(checked > 0);
    // Our dates are those of the RMC/ZDA sentences themselves (gpsd's are no reference).
    for (const f of valid) {
      const raw = text.split('\n')[f.line - 1]!;
      const fields = raw.slice(raw.lastIndexOf('$')).split(',');
      const iso = new Date(Number(f.utcNs! / 1_000_000n)).toISOString();
      const [y, m, d] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
      if (f.sentence === 'RMC') t.is(fields[9], `${d}${m}${y.slice(2)}`, `line ${f.line}`);
      else t.deepEqual([fields[2], fields[3], fields[4]], [d, m, y], `line ${f.line}`);
    }
    // No valid fix where gpsd saw the receiver without one (mode 0/1 at that time).
    const noFix = new Set(tpvs.filter((o) => o.mode < 2 && o.time).map((o) => Date.parse(o.time!) % DAY_MS));
    const withFix = new Set(tpvs.filter((o) => o.mode >= 2 && o.time).map((o) => Date.parse(o.time!) % DAY_MS));
    for (const f of valid) {
      const tod = Number(f.utcNs! / 1_000_000n) % DAY_MS;
      if (noFix.has(tod) && !withFix.has(tod))
        t.fail(`valid ${f.sentence} at line ${f.line} while gpsd reports no fix`);
    }
    if (stricter) t.log(`stricter than gpsd: ${stricter.why}`);
  });
}

test('captures: no rollover is flagged in genuine old captures; binary noise never throws', (t) => {
  for (const log of logs) {
    const { fixes, stats } = replayCapture(readFileSync(join(dir, log), 'latin1'));
    t.false(
      fixes.some((f) => f.rolloverCorrected),
      log,
    );
    t.true(stats.sentences > 0, log);
  }
  // The emulator's buggy receiver, replayed with a floor, is corrected and says so.
  const buggy = sentencesForSecond(Date.UTC(2026, 10, 24, 12) / 1000, { rolloverBug: true, sentences: ['RMC'] })[0]!
    .text;
  const { fixes } = replayCapture(buggy, { floorUtcNs: BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n });
  t.true(fixes[0]!.rolloverCorrected);
  t.is(new Date(Number(fixes[0]!.utcNs! / 1_000_000n)).toISOString(), '2026-11-24T12:00:00.000Z');
});

test('ZDA counts only while the receiver reports a fix (u-blox LEA-4H sends ZDA before its fix)', (t) => {
  const { fixes } = replayCapture(readFileSync(join(dir, 'ublox-lea-4h.log'), 'latin1'));
  const zda = fixes.filter((f) => f.sentence === 'ZDA');
  t.true(zda.some((f) => !f.valid && /ZDA/.test(f.reason ?? '')));
  t.true(zda.some((f) => f.valid));
});
