import test from 'ava';
import { Ds3231 } from '../drivers/rtc/ds3231.js';
import { Ds3231Emulator } from '../drivers/rtc/ds3231-emulator.js';
import { openI2cBus, type I2cBus } from '../drivers/rtc/i2c.js';
import { hrtimeClock } from '../src/time/clock.js';

/**
 * One contract, two implementations: what the driver must see from any DS3231, run on the emulator
 * always and on a real chip when JAUDIOSYNC_TEST_I2C_BUS names its bus (it sets the chip's time
 * from the system clock and restores the aging offset it found).
 */

const realBus = process.env.JAUDIOSYNC_TEST_I2C_BUS;
const targets: Array<{ name: string; open: () => Promise<I2cBus> }> = [
  {
    name: 'emulator',
    open: async () => new Ds3231Emulator({ trueNowNs: () => BigInt(Date.now()) * 1_000_000n, basePpm: 0.8 }),
  },
];
if (realBus) targets.push({ name: `real DS3231 on bus ${realBus}`, open: () => openI2cBus(Number(realBus)) });
else test.skip('DS3231 contract on a real chip: set JAUDIOSYNC_TEST_I2C_BUS=1 on a Pi with a DS3231', () => {});

for (const target of targets) {
  test.serial(`DS3231 contract (${target.name}): set, read back, temperature, aging round trip, SQW`, async (t) => {
    const bus = await target.open();
    t.teardown(() => bus.close());
    const rtc = new Ds3231(bus, { busNumber: Number(realBus ?? 1), nowNs: hrtimeClock.nowNs });
    const nowSec = Math.floor(Date.now() / 1000);
    await rtc.set(nowSec);
    const r = await rtc.read();
    t.true(r.trustworthy, r.reason);
    t.true(Math.abs(Number(r.utcNs / 1_000_000_000n) - nowSec) <= 1);
    // The seconds register alone (what polling without SQW reads) is the full read's seconds.
    const s = await rtc.readSeconds();
    const full = Number((await rtc.read()).utcNs / 1_000_000_000n) % 60;
    t.true(s.seconds === full || (s.seconds + 1) % 60 === full, `seconds ${s.seconds}, then ${full}`);
    t.true(s.startMonoNs < s.endMonoNs);
    const temp = await rtc.temperatureC();
    t.true(temp > -40 && temp < 85 && Number.isInteger(temp * 4), `temperature ${temp}`);
    const before = await rtc.aging();
    await rtc.setAging(before.lsb === 5 ? 6 : 5);
    t.is((await rtc.aging()).lsb, before.lsb === 5 ? 6 : 5);
    await rtc.setAging(before.lsb);
    t.deepEqual(await rtc.aging(), before);
    await rtc.enableSqw1Hz();
    const info = await rtc.info();
    t.true(info.sqw1Hz);
    t.false(info.out32kHz);
  });
}
