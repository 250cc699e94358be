import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualClock } from '../src/time/clock.js';
import { ClockLayer, reachRegister, typicalSpacingNs, type SourceReport } from '../src/time/clock-layer.js';
import type { SourceName } from '../src/time/timescale.js';
import { compactAge, compactNs, formatSources } from '../src/cli/clock-sources.js';
import { startStatusServer } from '../src/service/status-server.js';
import type { LiveStatus } from '../src/service/status.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const S = 1_000_000_000n;
const UTC0 = 1_790_000_000n * S;

/** Seeded PRNG (mulberry32) and a Gaussian from it: replayable noise. */
function rng(seed: number) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { u, g: () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u()) };
}

/**
 * A local clock running `freqPpm` fast against UTC, in virtual time: GPS+PPS every second with
 * kernel-grade jitter, an RTC whose labels run `rtcAheadNs` ahead of UTC, NTP every 64 s.
 */
function world(o: { seed: number; freqPpm: number; jitterNs: number; rtcAheadNs: number }) {
  const clock = new VirtualClock(1_000n * S);
  const layer = new ClockLayer(clock, {}, () => 0n);
  const { g } = rng(o.seed);
  const mono0 = clock.nowNs();
  /** The local monotonic instant at which UTC reads UTC0 + k seconds. */
  const monoAtSec = (k: number) => mono0 + BigInt(Math.round(k * 1e9 * (1 + o.freqPpm * 1e-6)));
  let k = 0;
  const run = (seconds: number, which: { gps?: boolean; rtc?: boolean; ntp?: boolean }) => {
    for (const end = k + seconds; k < end; k++) {
      const mono = monoAtSec(k);
      clock.advance(mono - clock.nowNs());
      const utc = UTC0 + BigInt(k) * S;
      if (which.gps)
        layer.addSample({
          monoNs: mono + BigInt(Math.round(g() * o.jitterNs)),
          utcNs: utc,
          errorNs: 10_000,
          source: 'gps+pps',
        });
      if (which.rtc)
        layer.addSample({
          monoNs: mono + BigInt(Math.round(g() * o.jitterNs)),
          utcNs: utc + BigInt(o.rtcAheadNs),
          errorNs: 20_000,
          source: 'rtc',
        });
      if (which.ntp && k % 64 === 0)
        layer.addSample({
          monoNs: mono,
          utcNs: utc + BigInt(Math.round(g() * 1e6)),
          errorNs: 5_000_000,
          source: 'ntp',
        });
    }
    clock.advance(monoAtSec(k) - 400_000_000n - clock.nowNs()); // report between two pulses
  };
  return { clock, layer, run };
}

const row = (rows: SourceReport[], name: SourceName) => rows.find((r) => r.name === name)!;

for (const seed of [1, 2]) {
  test(`sources report: selection, reach, offsets and frequency of every source in virtual time (seed ${seed})`, (t) => {
    const freqPpm = 12.5 + seed,
      jitterNs = 2_000,
      rtcAheadNs = 50_000;
    const w = world({ seed, freqPpm, jitterNs, rtcAheadNs });
    w.run(600, { gps: true, rtc: true, ntp: true });
    const rows = w.layer.sourcesReport(['gps+pps', 'rtc', 'ntp']);
    t.deepEqual(
      rows.map((r) => r.name),
      ['gps+pps', 'rtc', 'ntp'],
      'in order of preference',
    );
    const gps = row(rows, 'gps+pps'),
      rtc = row(rows, 'rtc'),
      ntp = row(rows, 'ntp');
    t.like(gps, {
      mode: '#',
      stateChar: '*',
      state: 'in use',
      selected: true,
      reach: 0o377,
      samples: 64,
      fromPrior: false,
    });
    t.like(rtc, { mode: '#', stateChar: '-', state: 'standby', selected: false, reach: 0o377 });
    t.like(ntp, { mode: '^', reach: 0o377, selected: false });
    t.true(
      Math.abs(gps.pollSec! - 1) < 0.01 && Math.abs(ntp.pollSec! - 64) < 0.1,
      `poll ${gps.pollSec} / ${ntp.pollSec}`,
    );
    // The local clock's frequency against each source, within a few of its own sigmas.
    t.true(
      Math.abs(gps.freqPpm! - freqPpm) < 5 * gps.freqSigmaPpm! + 0.01,
      `freq ${gps.freqPpm} ± ${gps.freqSigmaPpm} vs ${freqPpm}`,
    );
    t.true(gps.freqSigmaPpm! > 0 && gps.freqSigmaPpm! < 0.05, `sigma ${gps.freqSigmaPpm}`);
    // Std Dev is the jitter fed in; the offsets have chrony's sign: our clock minus the source.
    t.true(gps.stdDevNs! > 0.6 * jitterNs && gps.stdDevNs! < 1.5 * jitterNs, `std dev ${gps.stdDevNs}`);
    t.true(Math.abs(gps.offsetNs!) < 4 * jitterNs, `gps offset ${gps.offsetNs}`);
    t.true(
      Math.abs(rtc.offsetNs! + rtcAheadNs) < 4 * jitterNs,
      `rtc offset ${rtc.offsetNs} (the RTC is ${rtcAheadNs} ns ahead: ours is behind it)`,
    );
    t.true(Math.abs(gps.lastSampleAgeSec! - 0.6) < 0.01, `age ${gps.lastSampleAgeSec}`);
    t.is(gps.sampleErrorNs, 10_000);
    t.notThrows(() => JSON.stringify(rows), 'JSON-safe: no bigint');
  });
}

test('sources report: a GPS outage empties the reach from the right, the RTC takes over, GPS reads "silent"', (t) => {
  const w = world({ seed: 3, freqPpm: -40, jitterNs: 1_000, rtcAheadNs: 0 });
  w.run(120, { gps: true, rtc: true });
  w.run(5, { rtc: true });
  let rows = w.layer.sourcesReport();
  t.like(row(rows, 'gps+pps'), { reach: 0o340, stateChar: '?', state: 'silent', selected: false });
  t.like(row(rows, 'rtc'), { reach: 0o377, stateChar: '*', selected: true });
  w.run(3, { gps: true, rtc: true });
  rows = w.layer.sourcesReport();
  t.is(row(rows, 'gps+pps').reach, 0o7, 'three pulses back after eight polls without');
});

test('sources report: a source with samples but no estimate is "locking"; one expected but silent has reach 0', (t) => {
  const w = world({ seed: 4, freqPpm: 3, jitterNs: 1_000, rtcAheadNs: 0 });
  w.run(2, { gps: true });
  const rows = w.layer.sourcesReport(['gps+pps', 'rtc']);
  t.like(row(rows, 'gps+pps'), {
    stateChar: '?',
    state: 'locking',
    samples: 2,
    freqPpm: null,
    offsetNs: rows[0]!.offsetNs,
  });
  t.like(row(rows, 'rtc'), {
    stateChar: '?',
    state: 'no samples',
    reach: 0,
    samples: 0,
    lastSampleAgeSec: null,
    offsetNs: null,
  });
});

test("sources report: with the last run's frequency two pulses lock, and the row says the frequency is the prior's", (t) => {
  const w = world({ seed: 5, freqPpm: 7, jitterNs: 1_000, rtcAheadNs: 0 });
  w.layer.setFrequencyPrior({ freqPpm: 7, sigmaPpm: 0.5 });
  w.run(2, { gps: true });
  const gps = row(w.layer.sourcesReport(), 'gps+pps');
  t.like(gps, { stateChar: '*', fromPrior: true, freqPpm: 7, freqSigmaPpm: 0.5, stdDevNs: null });
});

test('reach register: jitter within half a poll still counts; misses are the bits that are 0', (t) => {
  const P = 1e9;
  const at = (secs: number[]) => secs.map((s) => BigInt(Math.round(s * 1e9)));
  t.is(reachRegister(at([1, 2.3, 2.9, 4.2, 5, 5.8, 7.1, 8]), 8_200_000_000n, P), 0o377);
  t.is(reachRegister(at([1, 2, 3, 4, 6, 7, 8]), 8_200_000_000n, P), 0o367, 'the 4th latest missing');
  t.is(reachRegister(at([1, 2, 3, 4, 5, 6, 7, 8]), 9_400_000_000n, P), 0o377, 'the next pulse is not late yet');
  t.is(reachRegister(at([1, 2, 3, 4, 5, 6, 7, 8]), 9_600_000_000n, P), 0o376, 'now it is');
  t.is(reachRegister(at([8]), 30_000_000_000n, P), 0, 'long silent');
  t.is(reachRegister([], 0n, P), 0);
  t.is(typicalSpacingNs(at([0, 1, 2, 30, 31])), 1e9, 'an outage does not change the spacing');
  t.is(typicalSpacingNs(at([5])), undefined);
});

test('compact figures as chronyc prints them', (t) => {
  t.is(compactNs(-479), '-479ns');
  t.is(compactNs(9_999), '+9999ns');
  t.is(compactNs(-16_400), '-16µs');
  t.is(compactNs(3_215_000), '+3215µs');
  t.is(compactNs(12_000_000), '+12ms');
  t.is(compactNs(86_400e9), '+86400s');
  t.is(compactNs(null), '-');
  t.is(compactNs(10_000, false), '10µs');
  t.deepEqual([0.4, 11, 999, 3600, 86_400, 30 * 86_400].map(compactAge), ['0', '11', '999', '60m', '24h', '30d']);
});

const FIXED: SourceReport[] = [
  {
    name: 'gps+pps',
    mode: '#',
    stateChar: '*',
    state: 'in use',
    selected: true,
    reach: 0o377,
    pollSec: 1,
    samples: 64,
    used: 63,
    spanSec: 63,
    lastSampleAgeSec: 0.6,
    offsetNs: -479,
    measuredOffsetNs: -621,
    sampleErrorNs: 10_000,
    freqPpm: -12.3456,
    freqSigmaPpm: 0.0021,
    stdDevNs: 1_734,
    boundNs: 2_520,
    fromPrior: false,
  },
  {
    name: 'rtc',
    mode: '#',
    stateChar: '-',
    state: 'standby',
    selected: false,
    reach: 0o376,
    pollSec: 1,
    samples: 64,
    used: 64,
    spanSec: 63,
    lastSampleAgeSec: 1.6,
    offsetNs: 3_215_000,
    measuredOffsetNs: 3_190_000,
    sampleErrorNs: 20_000,
    freqPpm: -11.002,
    freqSigmaPpm: 0.01,
    stdDevNs: 2_100,
    boundNs: 40_100,
    fromPrior: false,
  },
  {
    name: 'ntp',
    mode: '^',
    stateChar: '?',
    state: 'no samples',
    selected: false,
    reach: 0,
    pollSec: null,
    samples: 0,
    used: null,
    spanSec: 0,
    lastSampleAgeSec: null,
    offsetNs: null,
    measuredOffsetNs: null,
    sampleErrorNs: null,
    freqPpm: null,
    freqSigmaPpm: null,
    stdDevNs: null,
    boundNs: null,
    fromPrior: false,
  },
];

test('clock sources table: fixed rows, chrony-like columns within 80 characters', (t) => {
  const text = formatSources(FIXED);
  t.is(
    text,
    [
      'MS Name      Reach Poll LastRx  Last sample                  Freq ppm    ± 1σ',
      '=============================================================================',
      '#* gps+pps     377   1s      1   -479ns[ -621ns] +/-   10µs   -12.346   0.002',
      '#- rtc         376   1s      2  +3215µs[+3190µs] +/-   20µs   -11.002   0.010',
      '^? ntp           0    -      -                                      -       -',
      '',
    ].join('\n'),
  );
  for (const l of text.split('\n')) t.true(l.length <= 80, `${l.length}: ${l}`);
  const v = formatSources(FIXED, { verbose: true });
  t.regex(v, /Source state '\*' = in use/);
  t.regex(v, /377 = all 8 came/);
  t.regex(v, /gps\+pps\s+in use\s+64\s+63\s+63s\s+1734ns\s+±2\.5 µs/);
  t.regex(v, /ntp\s+no samples\s+0\s+-\s+-\s+-\s+-/);
  for (const l of v.split('\n')) t.true(l.length <= 100, `${l.length}: ${l}`);
});

test('clock sources and status through a real status socket; no service: a clear message', async (t) => {
  const dir = tempDir('jas-sources-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const w = world({ seed: 6, freqPpm: 20, jitterNs: 1_500, rtcAheadNs: 0 });
  w.run(100, { gps: true, rtc: true });
  const status: LiveStatus = {
    pid: 4242,
    version: 'test',
    config: 'test.toml',
    startedAtUtc: '2026-06-24T19:00:00.000Z',
    clock: { state: 'locked', source: 'gps+pps', errorBoundUs: 2.5, freqPpm: 20, ppsPulses: 100, ppsLabelled: 100 },
    schedule: { nextStartUtc: '2026-06-27T19:00:00.000Z', countdownSec: 3 * 86_400 - 9, timeZone: 'Europe/Berlin' },
    health: { problems: [] },
    sources: w.layer.sourcesReport(['gps+pps', 'rtc']),
  };
  const server = await startStatusServer(join(dir, 'run'), () => status);
  t.teardown(() => server.close());
  const table = await runCli(['clock', 'sources', '--socket', server.path]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /clock locked on gps\+pps, error bound ±2\.5 µs/);
  // The same from twins: said on the line above the table, as status says it.
  status.clock = { ...status.clock!, simulated: true };
  const sim = await runCli(['clock', 'sources', '--socket', server.path]);
  t.regex(sim.stdout, /^clock SIMULATED \(twins on this machine's own clock\) locked on gps\+pps/m);
  status.clock = { ...status.clock, simulated: false };
  t.regex(table.stdout, /^#\* gps\+pps\s+377\s+1s\s+1\s/m);
  t.regex(table.stdout, /^#- rtc\s+377/m);
  const json = await runCli(['clock', 'sources', '--socket', server.path, '--json']);
  t.deepEqual(
    (JSON.parse(json.stdout) as { sources: SourceReport[] }).sources,
    JSON.parse(JSON.stringify(status.sources)),
  );
  const human = await runCli(['status', '--socket', server.path]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /start 2026-06-27 21:00:00 CEST \(19:00:00 UTC\), in 2 d 23:59:51/);
  t.notRegex(human.stdout, /71:59:51/);
  t.regex(human.stdout, /PPS 100 pulses \(100 labelled\), jitter \d+(\.\d)? (ns|µs)/);
  const none = await runCli(['clock', 'sources', '--socket', join(dir, 'nothing.sock')]);
  t.is(none.code, 1);
  t.regex(none.stderr, /cannot read the status at .*nothing\.sock: no such socket: is the service running\?/);
  t.notRegex(none.stderr, /at .*\.ts:\d+/, 'no stack trace');
  // A service from before this version answers without sources.
  delete status.sources;
  const old = await runCli(['clock', 'sources', '--socket', server.path]);
  t.is(old.code, 1);
  t.regex(old.stderr, /does not report its sources: restart it/);
});
