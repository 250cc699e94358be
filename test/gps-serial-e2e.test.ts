import test from 'ava';
import { SerialGps } from '../drivers/gps/serial-gps.js';
import { SysfsPps } from '../drivers/pps/sysfs.js';
import { seededRandom } from '../src/sim/oscillator.js';
import { RealtimeGpsRig } from '../src/sim/realtime-gps-rig.js';
import { hrtimeClock, sleepNs } from '../src/time/clock.js';
import { ClockLayer } from '../src/time/clock-layer.js';
import { RealtimeConverter } from '../src/time/realtime-converter.js';
import { GpsPpsSource } from '../src/time/sources/gps-pps.js';

/**
 * End to end through real I/O: the GPS twin writes NMEA into a socat pty and PPS stamps into a
 * sysfs-format file; serialport and the PPS poller read them back; the clock layer locks. The twin's
 * truth is this machine's realtime clock, so the locked timescale must agree with it.
 */
test('simulated GPS through a socat pty and a PPS file: the clock locks on the right second', async (t) => {
  const conv = new RealtimeConverter();
  const rig = await RealtimeGpsRig.create(conv, { latencyMs: 180, talker: 'GN', sentences: ['RMC', 'GGA', 'ZDA'] });
  const clock = new ClockLayer(hrtimeClock);
  const source = new GpsPpsSource(clock);
  const gps = new SerialGps({ path: rig.serialPath, baudRate: 9600, nowNs: hrtimeClock.nowNs }, source);
  const pps = new SysfsPps({ path: rig.ppsPath, converter: conv, pollMs: 20 }, source);
  t.teardown(async () => {
    pps.stop();
    await gps.close();
    await rig.stop();
  });
  await rig.start();
  await gps.open();
  await pps.start();
  const deadline = hrtimeClock.nowNs() + 15_000_000_000n;
  while (clock.timescale().state !== 'locked' && hrtimeClock.nowNs() < deadline) await sleepNs(hrtimeClock, 100e6);
  const ts = clock.timescale();
  t.is(
    ts.state,
    'locked',
    `pulses ${source.status.pulses}, labelled ${source.status.labelled}, rejected ${source.status.rejected}`,
  );
  t.is(ts.source, 'gps+pps');
  t.true(gps.counters.sentences >= 9, 'sentences really travelled through serialport');
  t.is(gps.counters.badChecksum + gps.counters.garbage, 0);
  t.is(source.status.satellites, 9);
  // The learned label delay is the receiver's latency plus the RMC's serial time (~70 chars at 9600 baud).
  t.true(
    source.status.labelDelayMs! > 180 && source.status.labelDelayMs! < 320,
    `label delay ${source.status.labelDelayMs} ms`,
  );
  // Truth is the realtime clock; allow the converter's own uncertainty besides the bound.
  const nowNs = hrtimeClock.nowNs();
  const errNs = Math.abs(Number(ts.utcAt(nowNs) - conv.toRealtime(nowNs)));
  t.true(errNs < ts.errorBoundAt(nowNs) + 50_000, `error ${errNs} ns, bound ${ts.errorBoundAt(nowNs)} ns`);
  t.true(ts.errorBoundAt(nowNs) < 1_000_000, 'a PPS lock is good to well under a millisecond');
});

test('GPS unplugged and replugged: the driver says so once and reads again', async (t) => {
  const conv = new RealtimeConverter();
  const rig = await RealtimeGpsRig.create(conv, { latencyMs: 150 });
  const messages: string[] = [];
  let fixes = 0;
  const sink = {
    onFix: () => {
      fixes++;
    },
    onStatus: (m: string) => messages.push(m),
  };
  // Open the symlink, as a udev name would be: it survives the replug.
  const gps = new SerialGps({ path: `${rig.dir}/gps-device`, baudRate: 9600, nowNs: hrtimeClock.nowNs }, sink);
  t.teardown(async () => {
    await gps.close();
    await rig.stop();
  });
  await rig.start();
  await gps.open();
  while (fixes < 2) await sleepNs(hrtimeClock, 100e6);
  await rig.unplug();
  await sleepNs(hrtimeClock, 1.5e9);
  await rig.replug();
  const before = fixes;
  const deadline = hrtimeClock.nowNs() + 20_000_000_000n;
  while (fixes <= before && hrtimeClock.nowNs() < deadline) await sleepNs(hrtimeClock, 100e6);
  t.true(fixes > before, 'fixes again after the replug');
  t.is(messages.filter((m) => /lost/.test(m)).length, 1, messages.join(' | '));
  t.is(messages.filter((m) => /is back$/.test(m)).length, 1, messages.join(' | '));
});

test('line noise, an outage and a no-fix spell through the pty: counted, never a wrong time', async (t) => {
  const conv = new RealtimeConverter();
  const startSec = Math.floor(Date.now() / 1000);
  // Seeded: about half the noise is a binary burst the parser rightly recovers from (the sentence
  // after it is whole), so an unseeded run could now and then damage no sentence at all.
  // Seconds 3-4 from now: a tunnel (silence); 5-6: fix lost (status V, no PPS); noise all along.
  const rig = await RealtimeGpsRig.create(conv, {
    latencyMs: 120,
    sentences: ['RMC', 'GGA', 'GSA', 'ZDA'],
    lineNoise: 0.3,
    random: seededRandom(7),
    outage: (s) => s - startSec >= 3 && s - startSec < 5,
    noFixAt: (s) => s - startSec >= 5 && s - startSec < 7,
  });
  const fixes: Array<{ valid: boolean; utcNs: bigint | null; monoNs: bigint; reason?: string }> = [];
  const gps = new SerialGps(
    { path: rig.serialPath, baudRate: 9600, nowNs: hrtimeClock.nowNs },
    { onFix: (f) => fixes.push(f) },
  );
  t.teardown(async () => {
    await gps.close();
    await rig.stop();
  });
  await gps.open(); // listening before the first (seeded to be damaged) sentence goes out
  await rig.start();
  await sleepNs(hrtimeClock, 8.5e9);
  t.true(gps.counters.badChecksum + gps.counters.garbage > 0, 'noise was seen and counted');
  const valid = fixes.filter((f) => f.valid);
  t.true(valid.length > 0);
  for (const f of valid) {
    // Every valid time is the second that was being labelled: within a second of the truth.
    const truthNs = conv.toRealtime(f.monoNs);
    const ageMs = Number(truthNs - f.utcNs!) / 1e6;
    t.true(ageMs > 0 && ageMs < 1000, `fix ${ageMs} ms behind truth`);
    const sec = Number(f.utcNs! / 1_000_000_000n) - startSec;
    t.false(sec >= 3 && sec < 7, `no valid fix in the outage or the no-fix spell (second ${sec})`);
  }
  t.true(
    fixes.some((f) => !f.valid && /status V|no fix/.test(f.reason ?? '')),
    'the no-fix spell is reported as such',
  );
});
