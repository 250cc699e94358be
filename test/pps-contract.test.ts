import test from 'ava';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PpsFileEmulator } from '../drivers/pps/emulator.js';
import { FakeGpio, GpioPps } from '../drivers/pps/gpio.js';
import { PPS_FROZEN_AFTER_NS, SysfsPps } from '../drivers/pps/sysfs.js';
import type { PpsPulse, PpsSink } from '../drivers/pps/types.js';
import { VirtualClock } from '../src/time/clock.js';
import { tempDir } from './helpers/tmp.js';

/**
 * One contract for every PPS path: what the clock layer may rely on from a PPS driver, run on the
 * kernel sysfs driver over its file twin and on the GPIO driver over its onoff twin (and on a real
 * device when one is named: JAUDIOSYNC_TEST_PPS=/sys/class/pps/pps0/assert). Edges are placed on
 * the local monotonic axis by the test; each driver must report each one once, in order, within
 * its stated error of the edge, count the ones it missed, and fall silent when stopped.
 */

const S = 1_000_000_000n;

interface PpsRig {
  via: 'kernel' | 'gpio';
  start(sink: PpsSink): Promise<void>;
  /** An edge at local monotonic `monoNs` (non-decreasing), handed to the driver as its twin would. */
  edge(monoNs: bigint): Promise<void>;
  /** A pulse the driver never sees (the kernel still counts it; a GPIO line simply stays quiet). */
  lose(monoNs: bigint): Promise<void>;
  stop(): void;
}

/** Kernel PPS: realtime = mono + offset; the file twin writes the stamp, the driver polls it. */
function sysfsRig(): PpsRig {
  const dir = tempDir('jas-ppsc-');
  const path = join(dir, 'assert');
  const offset = 1_790_000_000n * S;
  let dropNext = false;
  const emu = new PpsFileEmulator({ path, dropProbability: 0.5, random: () => (dropNext ? 0 : 1) });
  const clock = new VirtualClock(0n);
  let pps: SysfsPps | undefined;
  return {
    via: 'kernel',
    async start(sink) {
      pps = new SysfsPps(
        { path, nowNs: () => clock.nowNs(), converter: { toMono: (rt) => ({ monoNs: rt - offset, errorNs: 200 }) } },
        sink,
      );
      await pps.start();
      pps.stop(); // polled by hand below: the contract is about what a poll sees
    },
    async edge(monoNs) {
      clock.advance(monoNs - clock.nowNs());
      dropNext = false;
      emu.pulse(monoNs + offset);
      await pps!.poll();
      await pps!.poll(); // a second read of the same stamp is not a new pulse
    },
    async lose(monoNs) {
      clock.advance(monoNs - clock.nowNs());
      dropNext = true;
      emu.pulse(monoNs + offset);
      await pps!.poll();
    },
    stop() {
      pps?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** GPIO PPS: the twin GPIO fires at the instant the virtual clock says; chip base 512 (kernel 6.6+). */
function gpioRig(): PpsRig {
  const root = tempDir('jas-gpioc-');
  mkdirSync(join(root, 'gpiochip512'));
  writeFileSync(join(root, 'gpiochip512', 'base'), '512\n');
  writeFileSync(join(root, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
  writeFileSync(join(root, 'gpiochip512', 'ngpio'), '58\n');
  const clock = new VirtualClock(0n);
  let gpio: FakeGpio | undefined;
  let pps: GpioPps | undefined;
  return {
    via: 'gpio',
    async start(sink) {
      pps = new GpioPps(
        {
          bcmPin: 18,
          edge: 'rising',
          nowNs: () => clock.nowNs(),
          sysfsGpioRoot: root,
          factory: (n, e) => (gpio = new FakeGpio(n, e)),
        },
        sink,
      );
      pps.start();
    },
    async edge(monoNs) {
      clock.advance(monoNs - clock.nowNs());
      gpio!.fire();
      clock.advance(1_500_000n);
      gpio!.fire(); // contact bounce 1.5 ms later is not a new pulse
    },
    async lose(monoNs) {
      clock.advance(monoNs - clock.nowNs());
    },
    stop() {
      pps?.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

const rigs: Array<[string, () => PpsRig]> = [
  ['sysfs file twin', sysfsRig],
  ['GPIO twin', gpioRig],
];

for (const [name, make] of rigs) {
  test(`PPS contract (${name}): each edge once, in order, within the stated error; missed pulses counted; silent once stopped`, async (t) => {
    const rig = make();
    const pulses: PpsPulse[] = [];
    await rig.start({ addPulse: (p) => pulses.push(p) });
    t.teardown(() => rig.stop());
    const t0 = 100n * S + 123_456n;
    await rig.edge(t0);
    await rig.edge(t0 + S);
    await rig.lose(t0 + 2n * S);
    await rig.lose(t0 + 3n * S);
    await rig.edge(t0 + 4n * S);
    await rig.edge(t0 + 5n * S);
    t.deepEqual(
      pulses.map((p) => p.missed),
      [0, 0, 2, 0],
      'two lost pulses counted on the next one',
    );
    const edges = [t0, t0 + S, t0 + 4n * S, t0 + 5n * S];
    pulses.forEach((p, i) => {
      t.true(
        Math.abs(Number(p.monoNs - edges[i]!)) <= p.errorNs,
        `pulse ${i}: ${p.monoNs - edges[i]!} ns off, error ${p.errorNs}`,
      );
      t.is(p.via, rig.via);
    });
    t.deepEqual(
      pulses.slice(1).map((p, i) => p.seq - pulses[i]!.seq),
      [1, 3, 1],
      'sequence numbers count every second, seen or not',
    );
    rig.stop();
    const n = pulses.length;
    await rig.edge(t0 + 6n * S).catch(() => {});
    t.is(pulses.length, n, 'nothing after stop');
  });
}

const realPps = process.env.JAUDIOSYNC_TEST_PPS;
if (realPps) {
  test('PPS contract (real kernel device): pulses a second apart, each once, sequence counting', async (t) => {
    const { RealtimeConverter } = await import('../src/time/realtime-converter.js');
    const conv = new RealtimeConverter();
    conv.start();
    const pulses: PpsPulse[] = [];
    const pps = new SysfsPps({ path: realPps, converter: conv }, { addPulse: (p) => pulses.push(p) });
    await pps.start();
    await new Promise((r) => setTimeout(r, 4_500));
    pps.stop();
    conv.stop();
    t.true(pulses.length >= 3, `${pulses.length} pulses in 4.5 s`);
    for (const [i, p] of pulses.slice(1).entries()) {
      t.is(p.seq - pulses[i]!.seq, 1 + p.missed);
      t.true(Math.abs(Number(p.monoNs - pulses[i]!.monoNs) - 1e9 * (1 + p.missed)) < 1e6, 'a second apart');
    }
  });
} else {
  test.skip('PPS contract on a real device: set JAUDIOSYNC_TEST_PPS=/sys/class/pps/pps0/assert on a Pi with a GPS', () => {});
}

/** The sysfs driver's faults: each said once with the right hint, and said again when it clears. */
function faultRig() {
  const dir = tempDir('jas-ppsf-');
  const path = join(dir, 'assert');
  writeFileSync(path, '0.000000000#0\n');
  const clock = new VirtualClock(0n);
  const said: string[] = [];
  const faults: Array<string | undefined> = [];
  const pulses: PpsPulse[] = [];
  const pps = new SysfsPps(
    { path, nowNs: () => clock.nowNs(), converter: { toMono: (rt) => ({ monoNs: rt, errorNs: 0 }) } },
    { addPulse: (p) => pulses.push(p), onStatus: (m) => said.push(m), onFault: (m) => faults.push(m) },
  );
  return { dir, path, clock, said, faults, pulses, pps };
}

test('PPS faults: garbage in the file is said once, with what the file should hold; pulses clear it', async (t) => {
  const r = faultRig();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  await r.pps.start();
  r.pps.stop();
  writeFileSync(r.path, 'hello world\n');
  await r.pps.poll();
  await r.pps.poll();
  t.is(r.said.length, 1);
  t.regex(r.said[0]!, /reads "hello world", not "SECONDS\.NANOSECONDS#SEQUENCE": Is it a kernel PPS assert file/);
  t.is(r.pps.fault, r.said[0]);
  writeFileSync(r.path, '1790000000.000000123#7\n');
  await r.pps.poll();
  t.is(r.pulses.length, 1);
  t.regex(r.said[1]!, /readable again/);
  t.deepEqual(r.faults, [r.said[0], undefined]);
});

test('PPS faults: a device that stops pulsing (frozen) is said once after 3 s, and "pulses again" when it does', async (t) => {
  const r = faultRig();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  await r.pps.start();
  r.pps.stop();
  r.clock.advance(PPS_FROZEN_AFTER_NS + S);
  await r.pps.poll();
  t.regex(r.said[0]!, /no pulse on PPS device .* for 4 s: the GPS has no fix yet .*gpiopin/);
  writeFileSync(r.path, '1790000000.000000123#7\n');
  await r.pps.poll();
  t.regex(r.said[1]!, /pulses again/);
  for (let k = 0; k < 5; k++) {
    r.clock.advance(S);
    await r.pps.poll();
  }
  t.regex(r.said[2]!, /no new pulse for 3 s \(sequence stuck at 7\): the GPS lost its fix or its PPS wire is loose/);
  t.is(r.said.length, 3, 'said once, not once a poll');
  t.is(r.pps.fault, r.said[2]);
});

const root = process.getuid?.() === 0;

test('PPS faults: unreadable is a permission (a group), not a missing overlay; missing names the overlay', async (t) => {
  const r = faultRig();
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  const missing = new SysfsPps(
    { path: join(r.dir, 'nope'), converter: { toMono: (rt) => ({ monoNs: rt, errorNs: 0 }) } },
    { addPulse: () => {} },
  );
  await t.throwsAsync(missing.start(), { message: /nope: ENOENT.*dtoverlay=pps-gpio,gpiopin=18/ });
  await r.pps.start();
  r.pps.stop();
  chmodSync(r.path, 0o000);
  if (root) {
    // root reads whatever the mode: the permission path is checked through the hint alone.
    const { ppsReadHint } = await import('../drivers/pps/sysfs.js');
    t.regex(ppsReadHint('EACCES', r.path), /may not read it: give the user .* read access through a group/);
    t.notRegex(ppsReadHint('EACCES', r.path), /dtoverlay/);
    return;
  }
  await r.pps.poll();
  t.regex(
    r.said[0]!,
    /cannot be read \(EACCES.*may not read it: give the user running jaudiosync read access through a group/,
  );
  t.notRegex(r.said[0]!, /dtoverlay/);
  await t.throwsAsync(
    new SysfsPps(
      { path: r.path, converter: { toMono: (rt) => ({ monoNs: rt, errorNs: 0 }) } },
      { addPulse: () => {} },
    ).start(),
    { message: /EACCES.*through a group/ },
  );
});

test('kernel PPS reads once just after each edge is due, at pollMs while it is overdue, never much more than a second apart', async (t) => {
  const dir = tempDir('jas-ppsr-');
  const path = join(dir, 'assert');
  const offset = 1_790_000_000n * S;
  const emu = new PpsFileEmulator({ path });
  const clock = new VirtualClock(10n * S);
  const pps = new SysfsPps(
    {
      path,
      pollMs: 50,
      nowNs: () => clock.nowNs(),
      converter: { toMono: (rt) => ({ monoNs: rt - offset, errorNs: 200 }) },
    },
    { addPulse: () => {} },
  );
  try {
    await pps.start();
    pps.stop();
    t.is(pps.nextReadMs(), 50, 'no pulse yet: poll');
    emu.pulse(10n * S + offset);
    clock.advance(3_000_000n); // read 3 ms after the edge
    await pps.poll();
    t.is(pps.pulses, 1);
    t.is(pps.nextReadMs(), 1017, 'next read 20 ms after the next edge is due');
    clock.advance(1_017_000_000n);
    await pps.poll(); // the edge did not come (no fix, a late pulse)
    t.is(pps.nextReadMs(), 50, 'overdue: poll');
    pps['opts'].converter = { toMono: (rt) => ({ monoNs: rt - offset + 60n * S, errorNs: 200 }) };
    t.is(pps.nextReadMs(), 1100, 'a converter gone wrong never stops the reads');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
