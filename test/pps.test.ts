import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PpsFileEmulator } from '../drivers/pps/emulator.js';
import { FakeGpio, GpioPps, sysfsGpioNumber } from '../drivers/pps/gpio.js';
import { KERNEL_PPS_ERROR_NS, parseAssert, SysfsPps } from '../drivers/pps/sysfs.js';
import type { PpsPulse } from '../drivers/pps/types.js';
import { estimateRealtimeOffset } from '../src/time/realtime.js';
import { RealtimeConverter } from '../src/time/realtime-converter.js';
import { VirtualClock } from '../src/time/clock.js';
import { tempDir } from './helpers/tmp.js';

const S = 1_000_000_000n;

test('sysfs assert lines parse exactly; malformed ones do not', (t) => {
  t.deepEqual(parseAssert('1790000000.000012345#42\n'), { realtimeNs: 1_790_000_000n * S + 12_345n, seq: 42 });
  t.is(parseAssert('0.000000000#0\n')?.seq, 0);
  for (const bad of ['', '1790000000.12345#1', '1790000000.000012345', 'x.000000000#1'])
    t.is(parseAssert(bad), undefined, bad);
});

test('kernel PPS: new pulses reported once, missed ones counted by sequence, conversion applied', async (t) => {
  const dir = tempDir('jas-pps-');
  const path = join(dir, 'assert');
  let n = 0;
  const emu = new PpsFileEmulator({ path, dropProbability: 0.5, random: () => [0.9, 0.9, 0.1, 0.1, 0.9][n++ % 5]! });
  const pulses: PpsPulse[] = [];
  const offsetNs = 1_700_000_000n * S; // realtime = mono + offset
  const pps = new SysfsPps(
    { path, converter: { toMono: (rt) => ({ monoNs: rt - offsetNs, errorNs: 300 }) } },
    { addPulse: (p) => pulses.push(p) },
  );
  await pps.start();
  pps.stop(); // poll by hand
  await pps.poll();
  t.is(pulses.length, 0, 'no pulse before the first edge');
  const edges = [1n, 2n, 3n, 4n, 5n].map((k) => offsetNs + 100n * S + k * S);
  for (const e of edges) {
    emu.pulse(e);
    await pps.poll();
    await pps.poll(); // a second read of the same pulse is not a new one
  }
  // Pulses 3 and 4 were dropped by the twin (random 0.1 < 0.5): seq jumps from 2 to 5.
  t.deepEqual(
    pulses.map((p) => [p.seq, p.missed]),
    [
      [1, 0],
      [2, 0],
      [5, 2],
    ],
  );
  t.deepEqual(
    pulses.map((p) => p.monoNs),
    [101n * S, 102n * S, 105n * S],
  );
  t.is(pulses[0]!.errorNs, 300 + KERNEL_PPS_ERROR_NS);
  t.is(pps.missed, 2);
});

test('a missing PPS device is a clear error naming the overlay', async (t) => {
  const pps = new SysfsPps(
    { path: '/nonexistent/pps0/assert', converter: { toMono: (r) => ({ monoNs: r, errorNs: 0 }) } },
    { addPulse: () => {} },
  );
  await t.throwsAsync(pps.start(), { message: /\/nonexistent\/pps0\/assert.*dtoverlay=pps-gpio,gpiopin=18/s });
});

/** A fake pair of clocks: mono advances 150 ns per read; realtime = mono + offset, read in ms. */
function fakeReaders(offsetNs: { v: bigint }) {
  let mono = 5_000_000_000n;
  return {
    monoNs: () => (mono += 150n),
    realtimeMs: () => Number((mono + offsetNs.v) / 1_000_000n),
  };
}

test('realtime->monotonic estimator: exact to the bracket on a known offset', (t) => {
  const offset = { v: 1_790_000_000_123_456_789n };
  const e = estimateRealtimeOffset(fakeReaders(offset));
  t.true(Math.abs(Number(e.offsetNs - offset.v)) <= 150, `${e.offsetNs - offset.v} ns off`);
  t.true(e.uncertaintyNs <= 151);
});

test('realtime->monotonic conversion follows a stepped system clock and says so', (t) => {
  const offset = { v: 1_790_000_000_000_000_000n };
  const said: string[] = [];
  const conv = new RealtimeConverter(fakeReaders(offset), (m) => said.push(m));
  const rt = 1_790_000_100n * S;
  const before = conv.toMono(rt).monoNs;
  offset.v += 2n * S; // someone stepped the system clock 2 s forward
  conv.refresh();
  t.regex(said.join(), /stepped by 2000\.0\d\d ms/);
  // The same kernel stamp now maps to a mono instant 2 s earlier: the new realtime scale is used.
  t.true(Math.abs(Number(before - conv.toMono(rt).monoNs) - 2e9) <= 300);
  offset.v += 20_000n; // a slew-sized change is not a step
  conv.refresh();
  t.is(said.length, 1);
});

test('GPIO base offset: GPIO18 is 530 when the SoC chip starts at 512 (kernel 6.6+)', (t) => {
  const root = tempDir('jas-gpio-');
  const chip = (name: string, base: number, label: string, ngpio: number) => {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, 'base'), `${base}\n`);
    writeFileSync(join(root, name, 'label'), `${label}\n`);
    writeFileSync(join(root, name, 'ngpio'), `${ngpio}\n`);
  };
  chip('gpiochip570', 570, 'raspberrypi-exp-gpio', 8);
  chip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
  t.is(sysfsGpioNumber(18, root), 530);
  t.throws(() => sysfsGpioNumber(18, join(root, 'nope')), { message: /cannot read GPIO chips/ });
});

test('GPIO PPS: userspace-grade pulses, bounces ignored, gaps counted', (t) => {
  const root = tempDir('jas-gpio-');
  mkdirSync(join(root, 'gpiochip0'));
  writeFileSync(join(root, 'gpiochip0', 'base'), '0');
  writeFileSync(join(root, 'gpiochip0', 'label'), 'pinctrl-bcm2835');
  writeFileSync(join(root, 'gpiochip0', 'ngpio'), '54');
  const clock = new VirtualClock(10n * S);
  let gpio: FakeGpio | undefined;
  const pulses: PpsPulse[] = [];
  const pps = new GpioPps(
    {
      bcmPin: 18,
      edge: 'rising',
      nowNs: () => clock.nowNs(),
      sysfsGpioRoot: root,
      factory: (n, edge) => (gpio = new FakeGpio(n, edge)),
    },
    { addPulse: (p) => pulses.push(p) },
  );
  pps.start();
  t.is(gpio!.sysfsNumber, 18);
  gpio!.fire();
  clock.advance(2_000_000n);
  gpio!.fire(); // contact bounce 2 ms later
  clock.advance(998_000_000n);
  gpio!.fire();
  clock.advance(3n * S);
  gpio!.fire(); // two seconds without edges (lost signal)
  t.deepEqual(
    pulses.map((p) => [p.monoNs - 10n * S, p.seq, p.missed, p.via]),
    [
      [0n, 1, 0, 'gpio'],
      [S, 2, 0, 'gpio'],
      [4n * S, 5, 2, 'gpio'],
    ],
  );
  t.is(pps.bounces, 1);
  pps.stop();
  t.true(gpio!.unexported);
});
