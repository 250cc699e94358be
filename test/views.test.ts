import test from 'ava';
import {
  formatDuration,
  formatInstant,
  formatSatellites,
  formatSky,
  formatStatus,
  formatStatusLine,
  type LiveStatus,
  type StatusLineFields,
} from '../src/service/status.js';
import { formatProgress, Progress } from '../src/cli/progress.js';
import { CounterRate } from '../src/util/rate.js';
import { PpsJitter } from '../src/time/pps-jitter.js';
import { formatMonitorRow, monitorHeader, type MonitorRow } from '../src/cli/clock-monitor.js';
import { fixLine } from '../src/cli/hardware-cli.js';
import type { GpsSky } from '../drivers/gps/types.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { join } from 'node:path';

/** Terminal views: formatters with fixed inputs, the progress utility and the moving rates in virtual time. */

const S = 1_000_000_000n;

test('durations over a day are in days, never "71:59:51" or "60637:42:08"', (t) => {
  t.is(formatDuration(59), '0:59');
  t.is(formatDuration(3599), '59:59');
  t.is(formatDuration(86_399), '23:59:59');
  t.is(formatDuration(3 * 86_400 - 9), '2 d 23:59:51');
  t.is(formatDuration(60637 * 3600 + 42 * 60 + 8), '2526 d 13:42:08');
  t.is(formatDuration(-5), '0:00');
  t.is(formatDuration(Number.NaN), '0:00');
});

test("instants in the schedule's zone beside UTC", (t) => {
  t.is(formatInstant('2026-06-26T19:00:00.000Z', 'Europe/Berlin'), '2026-06-26 21:00:00 CEST (19:00:00 UTC)');
  t.is(
    formatInstant('2026-12-24T23:30:00.000Z', 'Europe/Berlin'),
    '2026-12-25 00:30:00 CET (2026-12-24 23:30:00 UTC)',
    'another day in UTC: its date too',
  );
  t.is(formatInstant('2026-06-26T19:00:00.000Z', 'America/Sao_Paulo'), '2026-06-26 16:00:00 GMT-3 (19:00:00 UTC)');
  t.is(formatInstant('2026-06-26T19:00:00.000Z', 'UTC'), '2026-06-26 19:00:00 UTC');
  t.is(formatInstant('2026-06-26T19:00:00.000Z'), '2026-06-26 19:00:00 UTC');
  t.is(formatInstant('2026-06-26T19:00:00.000Z', 'Not/AZone'), '2026-06-26 19:00:00 UTC', 'a bad zone shows UTC alone');
});

const PLAYING: StatusLineFields = {
  clock: { state: 'locked', source: 'gps+pps', errorBoundNs: 1_234 },
  track: {
    number: 3,
    count: 12,
    positionSec: 83,
    lengthSec: 245,
    title: 'A Very Long Song Title That Goes On And On (Extended Club Remix)',
  },
  sync: { errorUs: 2.14, dacPpm: 0.02, reseeks: 1 },
};

test('run status line: off a terminal the full line, every number labelled', (t) => {
  t.is(
    formatStatusLine(PLAYING),
    'clock locked (gps+pps, ±1.2 µs) | track 3/12 1:23/4:05 A Very Long Song Title That Goes On And On (Extended Club Remix) | sync err 2.1 µs, DAC correction +0.0 ppm, 1 re-seeks',
  );
  t.is(
    formatStatusLine({
      clock: { state: 'unsynchronized', source: 'system', errorBoundNs: Infinity },
      startInSec: 3 * 86_400 - 9,
    }),
    'clock UNSYNCHRONIZED (system, unknown) | start in 2 d 23:59:51',
  );
  t.is(
    formatStatusLine({
      clock: { state: 'locked', source: 'gps+pps', errorBoundNs: 50_000 },
      note: 'waiting for lock (PPS 3, labelled 2)',
    }),
    'clock locked (gps+pps, ±50.0 µs) | waiting for lock (PPS 3, labelled 2)',
  );
});

test('run status line at 72 columns: does not wrap, the sync error shows, the long title is cut with an ellipsis', (t) => {
  const l = formatStatusLine(PLAYING, 72);
  t.true([...l].length <= 71, `${[...l].length}: ${l}`);
  t.regex(l, /sync err 2\.1 µs/);
  t.regex(l, /locked gps\+pps ±1\.2 µs/);
  t.regex(l, /3\/12 .*A Very.*…/);
  t.is(l, 'locked gps+pps ±1.2 µs | 3/12 1:23 A Very Long Song… | sync err 2.1 µs');
  // Every width from 200 down to 45: never longer than the terminal, the clock and sync error always there.
  for (let c = 200; c >= 45; c--) {
    const x = formatStatusLine({ ...PLAYING, underruns: 7 }, c);
    t.true([...x].length <= c - 1, `${c}: ${x}`);
    t.regex(x, /gps\+pps,? ±1\.2 µs/, `${c}: ${x}`);
    t.regex(x, /sync err 2\.1 µs/, `${c}: ${x}`);
  }
  // Wide enough: everything, the title whole.
  t.is(formatStatusLine(PLAYING, 200), formatStatusLine(PLAYING));
  // A short title is never cut when it fits.
  t.is(
    formatStatusLine({ ...PLAYING, track: { ...PLAYING.track!, title: 'Pad' } }, 72),
    'locked gps+pps ±1.2 µs | 3/12 1:23 Pad | sync err 2.1 µs',
  );
  t.is(
    formatStatusLine({ ...PLAYING, track: { ...PLAYING.track!, title: 'Pad' } }, 85),
    'locked gps+pps ±1.2 µs | 3/12 1:23/4:05 Pad | sync err 2.1 µs, DAC corr +0.0 ppm',
  );
});

const SKY: GpsSky = {
  fixMode: '3D',
  hdop: 0.9,
  pdop: 1.6,
  inView: 6,
  used: 4,
  satellites: [
    { system: 'GPS', prn: 5, elevationDeg: 1, azimuthDeg: 47, used: false },
    { system: 'GPS', prn: 18, elevationDeg: 68, azimuthDeg: 358, snrDbHz: 39, used: true },
    { system: 'GLONASS', prn: 68, elevationDeg: 55, azimuthDeg: 168, snrDbHz: 44, used: true },
    { system: 'Galileo', prn: 3, elevationDeg: 44, azimuthDeg: 149, snrDbHz: 40, used: true },
    { system: 'SBAS', prn: 44, elevationDeg: 45, azimuthDeg: 171, snrDbHz: 45, used: false },
    { system: 'BeiDou', prn: 27, elevationDeg: 78, azimuthDeg: 59, snrDbHz: 22, used: true },
  ],
};

test('the sky as cgps sums it up: fix mode, used of in view, strong signals, HDOP; satellites strongest first', (t) => {
  t.is(formatSky(SKY), '3D fix, 4 of 6 satellites used (4 with SNR ≥ 30 dB-Hz), HDOP 0.9');
  t.is(
    formatSky({ fixMode: 'no fix', used: 0, inView: 3, satellites: [] }),
    'NO FIX, 0 of 3 satellites used (0 with SNR ≥ 30 dB-Hz)',
  );
  t.is(
    formatSky({ fixMode: 'fix', used: 9, hdop: 0.9, satellites: [] }),
    'fix (2D/3D not reported), 9 satellites used, HDOP 0.9',
  );
  t.deepEqual(
    formatSatellites(SKY),
    ['S44 45 ', 'R68 44*', 'E03 40*', 'G18 39*', 'C27 22*', 'G05  - '],
    'one width, so wrapped lines keep columns',
  );
});

const STATUS: LiveStatus = {
  pid: 1234,
  version: '0.1.0',
  config: '/etc/jaudiosync/config.toml',
  startedAtUtc: '2026-06-24T18:59:50.000Z',
  clock: {
    state: 'locked',
    source: 'gps+pps',
    errorBoundUs: 1.2,
    freqPpm: -12.3456,
    satellites: 4,
    ppsPulses: 120,
    ppsLabelled: 118,
    rtcTempC: 31.25,
    gps: SKY,
  },
  schedule: {
    nextStartUtc: '2026-06-27T19:00:00.000Z',
    countdownSec: 3 * 86_400 - 9,
    timeZone: 'Europe/Berlin',
    decision: undefined,
  },
  playback: { state: 'waiting' },
  health: { i2cErrors: 0, nmeaPerSec: 4, nmeaBad: 0, problems: [] },
  sources: [
    {
      name: 'gps+pps',
      mode: '#',
      stateChar: '*',
      state: 'in use',
      selected: true,
      reach: 0o377,
      pollSec: 1,
      samples: 64,
      used: 64,
      spanSec: 63,
      lastSampleAgeSec: 0.3,
      offsetNs: 12,
      measuredOffsetNs: 15,
      sampleErrorNs: 10_000,
      freqPpm: -12.3456,
      freqSigmaPpm: 0.002,
      stdDevNs: 1_340,
      boundNs: 1_200,
      fromPrior: false,
    },
  ],
};

test('status: the GPS line (fix mode, satellites with SNR, HDOP, PPS and its jitter), times in the zone beside UTC, days', (t) => {
  const text = formatStatus(STATUS, 80);
  t.is(
    text,
    [
      'jaudiosync 0.1.0, pid 1234, config /etc/jaudiosync/config.toml, up since 2026-06-24 20:59:50 CEST (18:59:50 UTC)',
      'clock     locked on gps+pps, error bound ±1.2 µs, frequency -12.346 ppm',
      'gps       3D fix, 4 of 6 satellites used (4 with SNR ≥ 30 dB-Hz), HDOP 0.9; PPS 120 pulses (118 labelled), jitter 1.3 µs',
      '          S44 45   R68 44*  E03 40*  G18 39*  C27 22*  G05  -',
      'temps     RTC 31.25 °C',
      'schedule  start 2026-06-27 21:00:00 CEST (19:00:00 UTC), in 2 d 23:59:51',
      'playback  waiting',
      'health    I2C errors 0, NMEA 4.0 sentences/s (0 bad)',
      '',
    ].join('\n'),
  );
  // Without the sky (a receiver without GSA/GSV) GGA's count still shows, and a silent PPS says so.
  const bare = formatStatus(
    { ...STATUS, clock: { ...STATUS.clock!, gps: undefined, ppsPulses: 0 }, sources: undefined },
    80,
  );
  t.regex(bare, /^gps {7}4 satellites used; PPS: no pulse seen$/m);
});

test('progress on a terminal: a bar, the amount, an ETA once it can be estimated, redrawn in place and cut to the width', (t) => {
  let now = 0n;
  const written: string[] = [];
  const p = new Progress({
    label: 'timeline build',
    total: 36,
    unit: 'tracks',
    stream: { write: (s) => written.push(s), isTTY: true, columns: 120 },
    nowNs: () => now,
  });
  p.update(0, '01 - Click Track.flac');
  t.is(
    written.at(-1),
    '\r\x1b[2Ktimeline build [····················] 0/36 tracks (0 %), 0:00 elapsed, estimating the time left: 01 - Click Track.flac',
  );
  now += 100_000_000n;
  p.update(1);
  t.is(written.length, 1, 'not redrawn within 200 ms');
  now = 12n * S;
  p.update(12, 'a title long enough to be cut at the edge of a 120-column terminal window, which it is, is it not');
  t.true(
    written
      .at(-1)!
      .startsWith(
        '\r\x1b[2Ktimeline build [#######·············] 12/36 tracks (33 %), 0:12 elapsed, about 0:24 left: a title',
      ),
  );
  t.true([...written.at(-1)!.slice(5)].length <= 119 && written.at(-1)!.endsWith('…'), written.at(-1));
  now = 36n * S;
  p.finish();
  t.is(written.at(-2), '\r\x1b[2K');
  t.is(written.at(-1), 'timeline build: 36/36 tracks in 0:36\n');
});

test('progress off a terminal (journald): a plain line every 10 s, and the last', (t) => {
  let now = 0n;
  const written: string[] = [];
  const mib = (v: number) => `${(v / 1048576).toFixed(0)} MiB`;
  const p = new Progress({
    label: 'calibrate report',
    total: 200 * 1048576,
    amount: mib,
    stream: { write: (s) => written.push(s), isTTY: false },
    nowNs: () => now,
  });
  for (let sec = 1; sec <= 25; sec++) {
    now = BigInt(sec) * S;
    p.update(sec * 8 * 1048576);
  }
  t.deepEqual(written, [
    'calibrate report: 80 MiB/200 MiB (40 %), 0:10 elapsed, about 0:15 left\n',
    'calibrate report: 160 MiB/200 MiB (80 %), 0:20 elapsed, about 0:05 left\n',
  ]);
  p.finish('3 devices');
  t.is(written.at(-1), 'calibrate report: 200 MiB/200 MiB in 0:25; 3 devices\n');
  t.is(formatProgress({ done: 0, total: 10, elapsedSec: 30 }), '0/10 (0 %), 0:30 elapsed, estimating the time left');
});

test('NMEA rate over a moving window: three quick status calls agree (they gave 2.0, 0.0 and 2.6/s "since the last call")', (t) => {
  const rate = new CounterRate(10);
  // A receiver sending 2.5 sentences/s on average, in bursts of 5 every 2 s.
  let count = 0;
  const readings: number[] = [];
  for (let ms = 0; ms <= 60_000; ms += 100) {
    if (ms % 2000 === 300) count += 5;
    if (ms >= 30_000 && ms % 1000 === 0) readings.push(rate.update(BigInt(ms) * 1_000_000n, count)!);
    else if (ms % 1000 === 0) rate.update(BigInt(ms) * 1_000_000n, count);
  }
  for (const r of readings) t.true(Math.abs(r - 2.5) <= 0.5, `${r}`);
  // Three calls 300 ms apart after the loop: the same figure, not 2.0, 0.0, 2.6.
  const quick = [60_100, 60_400, 60_700].map((ms) => rate.update(BigInt(ms) * 1_000_000n, count)!);
  t.true(Math.max(...quick) - Math.min(...quick) < 0.2, `${quick}`);
  t.is(new CounterRate().update(5n, 3), undefined, 'one reading is no rate');
  const r2 = new CounterRate(10);
  r2.update(0n, 100);
  t.is(r2.update(S, 3), undefined, 'a counter that went down starts over');
});

test("PPS jitter: the RMS around a line through the pulses, whatever the local clock's rate; missed pulses keep their place", (t) => {
  let a = 7;
  const g = () => {
    // seeded Gaussian (Box-Muller on an LCG)
    a = (a * 1103515245 + 12345) % 2147483648;
    const u1 = Math.max(a / 2147483648, 1e-12);
    a = (a * 1103515245 + 12345) % 2147483648;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * (a / 2147483648));
  };
  const j = new PpsJitter();
  t.is(j.jitterNs(), undefined);
  for (let seq = 0; seq < 120; seq++) {
    if (seq % 17 === 5) continue; // missed
    j.add(seq, 5_000n * S + BigInt(seq) * 1_000_043_000n + BigInt(Math.round(g() * 2_000))); // 43 ppm fast, σ 2 µs
  }
  const jit = j.jitterNs()!;
  t.true(jit > 1_500 && jit < 2_600, `${jit} ns for σ 2 µs`);
  j.add(3, 9_000n * S); // the device restarted its count
  t.is(j.count, 1);
});

const ROW: MonitorRow = {
  utc: '2026-06-24T19:00:01.000Z',
  local: '21:00:01 CEST',
  state: 'locked',
  source: 'gps+pps',
  simulated: false,
  systemMinusUtcNs: 123_456,
  errorBoundNs: 1_234,
  freqPpm: -12.3456,
  samples: 64,
  samplesBySource: { 'gps+pps': 64 },
  nmeaPerSec: 4,
  satellites: 8,
  satellitesInView: 12,
  fixMode: '3D',
  rtcMinusUtcNs: 2_006_600,
  rtcRatePpm: 0.875,
};

test('clock monitor: a header row over right-aligned figures, with units', (t) => {
  const h = monitorHeader(),
    r = formatMonitorRow(ROW);
  t.is(
    h,
    'UTC                       Local           State               Source    Error bound   Freq ppm   System-UTC  Samples  NMEA/s     Fix   Sats     RTC-UTC   RTC ppm',
  );
  t.is(
    r,
    '2026-06-24T19:00:01.000Z  21:00:01 CEST   locked              gps+pps       ±1.2 µs    -12.346    +0.123 ms       64     4.0      3D   8/12   2006.6 µs    +0.875',
  );
  // Every figure ends where its column name ends.
  const ends = (s: string) => [...s.matchAll(/\S+(?= {2}|$)/g)].map((m) => m.index! + m[0].length);
  t.deepEqual(ends(r).slice(-9), ends(h).slice(-9));
  t.false(monitorHeader(false).includes('Local'));
  t.is(formatMonitorRow({ ...ROW, local: 'x' }, false).indexOf('x'), -1);
  // Twins: SIM on every row (a scrolled terminal no longer shows the lines that said so), columns kept.
  for (const state of ['locked', 'unsynchronized']) {
    const sim = formatMonitorRow({ ...ROW, state, simulated: true });
    t.true(sim.includes(`SIM ${state}`), sim);
    t.deepEqual(ends(sim).slice(-9), ends(h).slice(-9));
  }
});

test('gps monitor lines: fix mode, satellites used/in view, HDOP, PPS seen or not and its jitter', (t) => {
  const fix = { monoNs: 0n, utcNs: 1_782_327_600n * S, valid: true, talker: 'GN', sentence: 'RMC' as const };
  t.is(
    fixLine(fix, { sky: SKY, pps: { pulses: 30, jitterNs: 1_340, lastAgeSec: 0.4 } }),
    '2026-06-24T19:00:00.000Z  GNRMC  3D     sats 4/6   HDOP 0.9  PPS jitter 1.3 µs     valid',
  );
  t.is(
    fixLine(fix, { satellites: 9, pps: { pulses: 30, jitterNs: 1_340, lastAgeSec: 5 } }),
    '2026-06-24T19:00:00.000Z  GNRMC  -      sats 9     HDOP -    PPS none              valid',
  );
  const json = JSON.parse(
    fixLine(fix, { sky: SKY, pps: { pulses: 30, jitterNs: 1_340.4, lastAgeSec: 0.4 } }, true),
  ) as Record<string, unknown>;
  t.like(json, { fixMode: '3D', satellites: 4, satellitesInView: 6, hdop: 0.9, ppsPulses: 30, ppsJitterNs: 1340 });
  t.is((json.sky as unknown[]).length, 6);
});

test('gps monitor --replay: the sky a real capture gives at each fix, and the satellites at the end', async (t) => {
  const r = await runCli(['gps', 'monitor', '--replay', 'test/fixtures/nmea/gpsd/ublox-neo-m9n-nmea.log']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^2020-07-11T22:37:46\.000Z {2}GNRMC {2}3D {5}sats 25\/43 HDOP 0\.5 {2}valid$/m);
  t.regex(r.stdout, /^sky: 3D fix, 25 of 43 satellites used \(\d+ with SNR ≥ 30 dB-Hz\), HDOP 0\.6$/m);
  t.regex(r.stdout, /^ {5}S44 45\*/m);
});

test('timeline build shows its progress off a terminal, and ends with the result', async (t) => {
  const r = await runCli([
    'timeline',
    'build',
    'Music/Playlist.m3u8',
    '--out',
    join(tempDir('jas-views-'), 'manifest.json'),
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^timeline build: 4\/4 tracks in \d+:\d\d\n$/m);
  t.regex(r.stdout, /4 tracks, 1:39 at 48000 Hz/);
});

test('clock monitor (simulated hardware): the header row first, then a row a second with the NMEA rate over a window', async (t) => {
  const r = await runCli(['clock', 'monitor', '--duration', '7'], { env: { TZ: 'Europe/Berlin' } });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const h = lines.findIndex((l) => l.startsWith('UTC '));
  t.true(h >= 0, r.stdout);
  t.is(lines[h], monitorHeader(true), 'the Local column: the system zone is not UTC');
  const rows = lines.slice(h + 1).filter((l) => /^\d{4}-\d\d-\d\dT/.test(l));
  t.true(rows.length >= 5, r.stdout);
  t.regex(rows.at(-1)!, /^\S+Z {2}\d\d:\d\d:\d\d CES?T +SIM locked +gps\+pps /);
  // The simulated receiver sends a fixed number of sentences a second: once the window has a few
  // seconds in it, every row says the same rate (not 2.0, 0.0, 2.6 as "since the last call" did).
  const rates = rows
    .slice(3)
    .map((l) => Number(l.slice(monitorHeader(true).indexOf('NMEA/s'), monitorHeader(true).indexOf('NMEA/s') + 6)));
  t.true(rates.every((x) => x > 0) && Math.max(...rates) - Math.min(...rates) <= 0.6, `${rates}`);
});
