import test from 'ava';
import { rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPortMock } from 'serialport';
import { sentence, sentencesForSecond } from '../drivers/gps/emulator.js';
import { SerialGps, type SerialBinding } from '../drivers/gps/serial-gps.js';
import type { GpsTimeFix } from '../drivers/gps/types.js';
import { PtyPair } from '../drivers/pty.js';
import { hrtimeClock, sleepNs } from '../src/time/clock.js';
import { tempDir } from './helpers/tmp.js';

/**
 * One contract, two wires: what the GPS driver must do with whatever arrives on its serial port,
 * run on serialport's own full fake (MockBinding, through the binding the driver takes) and on a
 * real pseudo-terminal made by socat (the twin the service's simulated GPS uses), where
 * serialport's native binding reads for real. Bytes are written by hand: the contract is about
 * the driver, not the emulator's timing.
 */

interface Wire {
  /** What the driver opens (survives a replug). */
  path: string;
  binding?: SerialBinding;
  write(text: string | Buffer): Promise<void>;
  /** The device goes away (a USB GPS pulled out) and comes back under the same name. */
  unplug(): Promise<void>;
  replug(): Promise<void>;
  close(): Promise<void>;
}

type MockPort = Awaited<ReturnType<typeof SerialPortMock.binding.open>>;

let mockCount = 0;

/** serialport's MockBinding, wrapped to hand out the open port (to emit data) and to fail while unplugged. */
async function mockWire(): Promise<Wire> {
  const mock = SerialPortMock.binding;
  const path = `/dev/mock-gps-${++mockCount}`;
  mock.createPort(path);
  let port: MockPort | undefined;
  let plugged = true;
  const binding: SerialBinding = {
    ...mock,
    open: async (o: Parameters<typeof mock.open>[0]) => {
      if (!plugged) throw new Error(`Error: No such file or directory, cannot open ${path}`);
      const p = await mock.open(o);
      // A read on a port whose device went away fails as the kernel's would (EIO), not "canceled".
      const read = p.read.bind(p);
      p.read = async (...a) => {
        if (!plugged) throw new Error('EIO: i/o error, read');
        const r = read(...a);
        return Promise.race([
          r,
          new Promise<never>((_, reject) => {
            unplugWaiters.push(() => reject(new Error('EIO: i/o error, read')));
          }),
        ]);
      };
      port = p;
      return p;
    },
  };
  const unplugWaiters: Array<() => void> = [];
  return {
    path,
    binding,
    write: async (text) => {
      if (!port?.isOpen) throw new Error('nothing has the port open');
      port.emitData(text);
    },
    unplug: async () => {
      plugged = false;
      port = undefined;
      for (const w of unplugWaiters.splice(0)) w();
    },
    replug: async () => {
      plugged = true;
    },
    close: async () => {},
  };
}

/** A socat pty pair; the driver opens the symlink, as it would a udev name. */
async function ptyWire(): Promise<Wire> {
  const dir = tempDir('jas-gpsc-');
  let pty = await PtyPair.create(dir);
  let writer: FileHandle | undefined = await open(pty.emulatorPath, 'w');
  return {
    path: join(dir, 'gps-device'),
    write: async (text) => {
      await writer!.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
    },
    unplug: async () => {
      await writer?.close();
      writer = undefined;
      await pty.close();
    },
    replug: async () => {
      pty = await PtyPair.create(dir);
      writer = await open(pty.emulatorPath, 'w');
    },
    close: async () => {
      await writer?.close().catch(() => {});
      await pty.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const wires: Array<[string, () => Promise<Wire>]> = [
  ['MockBinding', mockWire],
  ['socat pty', ptyWire],
];
const SEC = Date.UTC(2026, 5, 27, 16, 55, 0) / 1000;
const rmc = (utcSec: number, o: { rolloverBug?: boolean } = {}) =>
  sentencesForSecond(utcSec, { sentences: ['RMC'], ...o })[0]!.text;

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = hrtimeClock.nowNs() + BigInt(timeoutMs) * 1_000_000n;
  while (!cond()) {
    if (hrtimeClock.nowNs() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleepNs(hrtimeClock, 10e6);
  }
}

async function driver(wire: Wire, floorUtcNs?: bigint) {
  const fixes: GpsTimeFix[] = [];
  const said: string[] = [];
  const gps = new SerialGps(
    { path: wire.path, baudRate: 9600, nowNs: hrtimeClock.nowNs, binding: wire.binding, floorUtcNs },
    { onFix: (f) => fixes.push(f), onStatus: (m) => said.push(m) },
  );
  await gps.open();
  return { gps, fixes, said };
}

for (const [name, make] of wires) {
  test.serial(
    `GPS contract (${name}): sentences arrive as fixes, stamped when their line ends; a sentence split across writes is one fix`,
    async (t) => {
      const wire = await make();
      const { gps, fixes } = await driver(wire);
      t.teardown(async () => {
        await gps.close();
        await wire.close();
      });
      const before = hrtimeClock.nowNs();
      await wire.write(rmc(SEC));
      await until(() => fixes.length === 1, 'the first fix');
      t.true(fixes[0]!.valid);
      t.is(fixes[0]!.utcNs, BigInt(SEC) * 1_000_000_000n);
      t.is(fixes[0]!.sentence, 'RMC');
      t.true(fixes[0]!.monoNs >= before && fixes[0]!.monoNs <= hrtimeClock.nowNs());
      const text = rmc(SEC + 1);
      await wire.write(text.slice(0, 30));
      await sleepNs(hrtimeClock, 150e6);
      t.is(fixes.length, 1, 'half a sentence is no fix');
      const secondHalfNs = hrtimeClock.nowNs();
      await wire.write(text.slice(30));
      await until(() => fixes.length === 2, 'the split fix');
      t.is(fixes[1]!.utcNs, BigInt(SEC + 1) * 1_000_000_000n);
      t.true(fixes[1]!.monoNs >= secondHalfNs, 'stamped when the line ended, not when it began');
      t.is(gps.counters.sentences, 2);
    },
  );

  test.serial(
    `GPS contract (${name}): line noise and binary are counted, never a time; a rollover receiver is corrected by the floor`,
    async (t) => {
      const wire = await make();
      const { gps, fixes } = await driver(wire, BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n);
      t.teardown(async () => {
        await gps.close();
        await wire.close();
      });
      const good = rmc(SEC);
      await wire.write(good.replace('A,5230', 'A,5231')); // one byte changed: the checksum fails
      await wire.write(Buffer.from([0xb5, 0x62, 0x01, 0x07, 0x00, 0xff, 0x0d, 0x0a])); // a UBX burst and a line end
      await wire.write(sentence('GPTXT,01,01,02,ANTSTATUS=OK'));
      await wire.write(rmc(SEC + 2, { rolloverBug: true }));
      await until(() => fixes.length === 1, 'the rollover fix');
      t.is(gps.counters.badChecksum, 1);
      t.is(gps.counters.garbage, 1);
      t.is(gps.counters.unsupported, 1);
      t.true(fixes[0]!.valid);
      t.true(fixes[0]!.rolloverCorrected);
      t.is(fixes[0]!.utcNs, BigInt(SEC + 2) * 1_000_000_000n, 'the date 1024 weeks back, put right');
    },
  );

  test.serial(
    `GPS contract (${name}): unplugged, the driver says so once, reopens with backoff and says it is back once`,
    async (t) => {
      const wire = await make();
      const { gps, fixes, said } = await driver(wire);
      t.teardown(async () => {
        await gps.close();
        await wire.close();
      });
      await wire.write(rmc(SEC));
      await until(() => fixes.length === 1, 'a fix before the unplug');
      await wire.unplug();
      await until(() => said.some((m) => /lost/.test(m)), 'the lost message');
      await sleepNs(hrtimeClock, 1.2e9); // several reopen attempts fail meanwhile
      await wire.replug();
      // Until the device talks again it is not "back": keep writing until the reopened port hears it.
      let k = 1;
      await until(
        () => {
          if (fixes.length < 2) void wire.write(rmc(SEC + k++)).catch(() => {});
          return fixes.length >= 2;
        },
        'a fix after the replug',
        20_000,
      );
      t.is(said.filter((m) => /lost/.test(m)).length, 1, said.join(' | '));
      t.is(said.filter((m) => /is back$/.test(m)).length, 1, said.join(' | '));
    },
  );

  test.serial(
    `GPS contract (${name}): a port that is not there is refused naming it and the UART settings; close stops the fixes`,
    async (t) => {
      const wire = await make();
      t.teardown(() => wire.close());
      const gps = new SerialGps(
        { path: `${wire.path}-missing`, baudRate: 9600, nowNs: hrtimeClock.nowNs, binding: wire.binding },
        { onFix: () => {} },
      );
      await t.throwsAsync(gps.open(), { message: /GPS serial port .*-missing: .*enable_uart=1/ });
      await gps.close();
      const { gps: g2, fixes } = await driver(wire);
      await g2.close();
      await wire.write(rmc(SEC)).catch(() => {}); // nobody listens any more
      await sleepNs(hrtimeClock, 200e6);
      t.is(fixes.length, 0);
    },
  );
}
