import test from 'ava';
import { Ds3231, Ds3231Error } from '../drivers/rtc/ds3231.js';
import { Ds3231Emulator } from '../drivers/rtc/ds3231-emulator.js';
import {
  decodeTemperature,
  decodeTime,
  encodeHours12,
  encodeTemperature,
  encodeTime,
  REG,
  dateTimeFromUtcSec,
  utcSecFromDateTime,
} from '../drivers/rtc/registers.js';
import { VirtualClock } from '../src/time/clock.js';

const S = 1_000_000_000n;
const T0 = 1_790_000_000n * S; // a true UTC instant to start the virtual world at

function rig(opts: Partial<ConstructorParameters<typeof Ds3231Emulator>[0]> = {}) {
  const clock = new VirtualClock(T0);
  const chip = new Ds3231Emulator({ trueNowNs: () => clock.nowNs(), ...opts });
  const rtc = new Ds3231(chip, {
    busNumber: 1,
    nowNs: () => clock.nowNs(),
    backoffMs: 1,
    sleep: async (ms) => clock.advance(BigInt(Math.round(ms * 1e6))),
    waitUntilNs: async (t) => {
      if (t > clock.nowNs()) clock.advance(t - clock.nowNs());
    },
  });
  return { clock, chip, rtc };
}

test('BCD time registers round-trip for every day 2000-2099', (t) => {
  let days = 0;
  for (let sec = Date.UTC(2000, 0, 1) / 1000 + 86399; sec < Date.UTC(2100, 0, 1) / 1000; sec += 86400) {
    const back = decodeTime(encodeTime(dateTimeFromUtcSec(sec)));
    if (!back || utcSecFromDateTime(back) !== sec) t.fail(`day ${new Date(sec * 1000).toISOString()}`);
    days++;
  }
  t.is(days, 36525);
  t.throws(() => encodeTime(dateTimeFromUtcSec(Date.UTC(2100, 0, 1) / 1000)), { instanceOf: RangeError });
});

test('12 h mode is read correctly (a chip set by another tool)', async (t) => {
  const { chip, rtc } = rig();
  for (const [h, expected] of [
    [0, 0],
    [11, 11],
    [12, 12],
    [13, 13],
    [23, 23],
  ] as const) {
    await rtc.set(Date.UTC(2030, 4, 6, h, 7, 8) / 1000);
    await chip.writeByte(0x68, REG.HOURS, encodeHours12(h));
    const r = await rtc.read();
    t.is(new Date(Number(r.utcNs / 1_000_000n)).getUTCHours(), expected, `hour ${h}`);
  }
});

test('negative temperatures in quarter degrees', async (t) => {
  t.is(decodeTemperature(...encodeTemperature(-12.75)), -12.75);
  t.is(decodeTemperature(0xf3, 0x40), -12.75);
  t.is(decodeTemperature(0x19, 0x40), 25.25);
  const { rtc } = rig({ temperatureC: () => -7.5 });
  t.is(await rtc.temperatureC(), -7.5);
});

test('aging offset: positive slows the oscillator ~0.1 ppm per LSB, applied at once', async (t) => {
  const { clock, chip, rtc } = rig({ basePpm: 1.5 });
  await rtc.set(Number(T0 / S));
  const drift = (seconds: bigint) => {
    const start = clock.nowNs(),
      rtcStart = chip.rtcNsAt(start);
    // ns per s = ppm * 1000
    return Number(chip.rtcNsAt(start + seconds * S) - rtcStart - seconds * S) / Number(seconds);
  };
  t.true(Math.abs(drift(1000n) - 1500) < 1);
  await rtc.setAging(10);
  t.deepEqual(await rtc.aging(), { lsb: 10, ppm: -1 });
  t.true(Math.abs(drift(1000n) - 500) < 1, 'slower by 1 ppm right after the forced conversion');
  await rtc.setAging(-20);
  t.true(Math.abs(drift(1000n) - 3500) < 1, 'negative speeds it up');
});

test('OSF: after a power loss the time is not trustworthy until it is set', async (t) => {
  const { chip, rtc } = rig();
  t.true((await rtc.read()).trustworthy);
  chip.powerLoss();
  const r = await rtc.read();
  t.false(r.trustworthy);
  t.regex(r.reason ?? '', /lost power/);
  await rtc.set(Number(T0 / S) + 5);
  const ok = await rtc.read();
  t.true(ok.trustworthy);
  t.is(ok.utcNs, T0 + 5n * S);
});

test('transient I2C errors are retried; persistent ones are reported with what to check', async (t) => {
  const { chip, rtc } = rig();
  chip.faults.push('EIO', 'EIO');
  t.true((await rtc.read()).trustworthy);
  t.is(rtc.i2cErrors, 2);
  chip.faults.push(...Array(10).fill('NACK'));
  const nack = await t.throwsAsync(rtc.read(), { instanceOf: Ds3231Error });
  t.regex(
    nack!.message,
    /DS3231 at 0x68 on I2C bus 1: reading the time failed after 4 attempts \(EREMOTEIO\).*i2cdetect -y 1/,
  );
  chip.faults.splice(0);
  chip.faults.push(...Array(10).fill('EBUSY'));
  const busy = await t.throwsAsync(rtc.read(), { instanceOf: Ds3231Error });
  t.regex(busy!.message, /rtc-ds1307 driver owns 0x68: remove dtoverlay=i2c-rtc,ds3231/);
  chip.faults.splice(0);
  const other = new Ds3231(chip, { busNumber: 1, address: 0x57, nowNs: () => 0n, attempts: 2, sleep: async () => {} });
  await t.throwsAsync(other.read(), { message: /nothing answers at 0x57/ });
});

test('a stuck BSY is a clear error, not a hang', async (t) => {
  const { chip, rtc } = rig();
  chip.stuckBsy = true;
  await t.throwsAsync(rtc.convert(), { instanceOf: Ds3231Error, message: /BSY.*power-cycle/ });
});

test('aligned set: the RTC second boundary lands on the UTC second', async (t) => {
  const { clock, chip, rtc } = rig({ initialUtcSec: Number(T0 / S) - 3600 }); // an hour off, arbitrary phase
  clock.advance(123_456_789n);
  const target = Number(T0 / S) + 2;
  const res = await rtc.setAligned(target, (utcNs) => utcNs); // the virtual clock is UTC itself here
  t.is(res.lateNs, 0);
  t.is(chip.rtcNsAt(BigInt(target) * S), BigInt(target) * S, 'the countdown chain restarted on the second');
  t.true((await rtc.read()).trustworthy);
});

test('aligned set retried after a bus error: it says how late the write that set it started', async (t) => {
  const { clock, chip, rtc } = rig({ initialUtcSec: Number(T0 / S) - 3600 });
  clock.advance(123_456_789n);
  const target = Number(T0 / S) + 2;
  chip.faults.push('EIO'); // the first attempt fails; the retry comes after the 1 ms backoff
  const res = await rtc.setAligned(target, (utcNs) => utcNs);
  const offNs = Number(chip.rtcNsAt(BigInt(target) * S) - BigInt(target) * S);
  t.true(res.lateNs >= 1_000_000, `late ${res.lateNs} ns`);
  t.is(-offNs, res.lateNs, 'the chain restarted as late as the write said (the RTC is behind by as much)');
});

test('pointer auto-increment wraps after 0x12; SQW edges fall on the RTC seconds', async (t) => {
  const { clock, chip, rtc } = rig({ basePpm: 2 });
  const b = Buffer.alloc(3);
  await chip.readI2cBlock(0x68, 0x12, 3, b);
  const time = Buffer.alloc(2);
  await chip.readI2cBlock(0x68, 0x00, 2, time);
  t.deepEqual([...b.subarray(1)], [...time], 'bytes after 0x12 are 0x00, 0x01');
  t.deepEqual(chip.sqwEdges(clock.nowNs(), clock.nowNs() + 3n * S), [], 'no SQW while INTCN=1');
  await rtc.enableSqw1Hz({ batteryBacked: true });
  const info = await rtc.info();
  t.true(info.sqw1Hz && info.batteryBackedSqw && !info.out32kHz);
  clock.advance(1000n * S);
  const edges = chip.sqwEdges(clock.nowNs(), clock.nowNs() + 3n * S);
  t.is(edges.length, 3);
  for (const e of edges) t.is(chip.rtcNsAt(e) % S, 0n);
  t.true(Number(edges[1]! - edges[0]!) < 1e9, 'a 2 ppm fast RTC ticks slightly short seconds');
});
