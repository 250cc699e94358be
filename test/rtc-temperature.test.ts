import test from 'ava';
import { Ds3231 } from '../drivers/rtc/ds3231.js';
import { Ds3231Emulator } from '../drivers/rtc/ds3231-emulator.js';
import type { I2cBus } from '../drivers/rtc/i2c.js';
import { REG } from '../drivers/rtc/registers.js';
import { RTC_TEMP_EVERY_MS, RTC_TEMP_MAX_AGE_NS, RtcTemperature } from '../src/service/rtc-temperature.js';
import { VirtualClock } from '../src/time/clock.js';

/**
 * The DS3231's temperature as the service reads it (the driver on the chip's twin, in virtual time):
 * a bus that fails the temperature reads for minutes is said once, the last value is not used once
 * stale (it labelled the RTC's temperature model and the DAC prior with an old value before), and
 * the recovery is said.
 */

const S = 1_000_000_000n;

test('temperature reads that fail: said once, the old value dropped once stale, the recovery said', async (t) => {
  const clock = new VirtualClock(0n);
  let tempC = 21.25;
  const chip = new Ds3231Emulator({ trueNowNs: () => 1_790_000_000n * S + clock.nowNs(), temperatureC: () => tempC });
  let failing = false;
  const bus: I2cBus = {
    readByte: chip.readByte.bind(chip),
    writeByte: chip.writeByte.bind(chip),
    writeI2cBlock: chip.writeI2cBlock.bind(chip),
    close: chip.close.bind(chip),
    readI2cBlock: (address, command, length, buffer) => {
      if (failing && command === REG.TEMP_MSB) return Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' }));
      return chip.readI2cBlock(address, command, length, buffer);
    },
  };
  const rtc = new Ds3231(bus, { busNumber: 1, nowNs: () => clock.nowNs(), backoffMs: 1, sleep: async () => {} });
  const logs: string[] = [];
  const temp = new RtcTemperature({
    read: () => rtc.temperatureC(),
    timers: clock,
    log: (level, m) => logs.push(`${level}: ${m}`),
  });
  const runFor = async (sec: number) => {
    for (let i = 0; i < sec; i++) {
      clock.advance(S);
      for (let k = 0; k < 5; k++) await new Promise(setImmediate);
    }
  };
  temp.start();
  await runFor(2);
  t.is(temp.c, 21.25);
  // The bus fails the temperature for ten minutes while the box warms.
  failing = true;
  tempC = 35;
  await runFor(RTC_TEMP_EVERY_MS / 1000);
  t.is(temp.c, 21.25, 'one read missed: the last value is still recent');
  await runFor(Number(RTC_TEMP_MAX_AGE_NS / S));
  t.is(temp.c, undefined, 'not kept past its age');
  await runFor(600 - RTC_TEMP_EVERY_MS / 1000 - Number(RTC_TEMP_MAX_AGE_NS / S));
  const warns = logs.filter((l) => l.startsWith('warn: '));
  t.is(warns.length, 1, logs.join('\n'));
  t.regex(warns[0]!, /reading the temperature failed .*\(EIO\)/);
  t.regex(warns[0]!, /tried again every 64 s; once the last temperature read is \d+ s old, .* go without one\.$/);
  failing = false;
  await runFor(RTC_TEMP_EVERY_MS / 1000 + 1);
  t.is(temp.c, 35, 'read again: the new temperature');
  t.true(logs.at(-1)!.startsWith('info: DS3231 temperature read again: 35.00 °C'), logs.join('\n'));
  temp.stop();
});
