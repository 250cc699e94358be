import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { SerialGps } from '../../drivers/gps/serial-gps.js';
import { Ds3231 } from '../../drivers/rtc/ds3231.js';
import { openI2cBus } from '../../drivers/rtc/i2c.js';
import { parseAssert } from '../../drivers/pps/sysfs.js';
import { sysfsGpioNumber } from '../../drivers/pps/gpio.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { probeAlsaOutputs } from '../player/sinks/alsa-probe.js';
import { hrtimeClock } from '../time/clock.js';
import type { Config } from '../service/config.js';

/**
 * `jaudiosync doctor`: checks the wiring and the system, each with a fix. Exit code 1 when something
 * required is missing: ffmpeg, and at least one time source (a GPS sending NMEA, or a DS3231).
 */

type Verdict = 'ok' | 'warn' | 'fail';
interface Check { name: string; verdict: Verdict; detail: string; fix?: string }

const I2C_BUS = 1;
const RTC_ADDRESS = 0x68;
/** Listen this long for NMEA: receivers send at least once a second. */
const NMEA_LISTEN_MS = 2500;

export async function doctor(config: Config, opts: { json?: boolean } = {}): Promise<number> {
  const checks: Check[] = [];
  const add = (c: Check) => { checks.push(c); if (!opts.json) printCheck(c); };

  const major = Number(process.versions.node.split('.')[0]);
  add({ name: 'Node.js', verdict: major >= 20 ? 'ok' : 'fail', detail: process.version, fix: 'install Node.js 20 (README: "Node.js 20 on Bookworm")' });

  try {
    const f = findFfmpeg(config.audio.ffmpeg || undefined);
    add({ name: 'ffmpeg', verdict: 'ok', detail: `${f.path} (${f.origin})` });
  } catch (e) {
    add({ name: 'ffmpeg', verdict: 'fail', detail: (e as Error).message, fix: 'sudo apt-get install ffmpeg' });
  }

  // DS3231 on I2C-1.
  let rtcOk = false;
  const dev = `/dev/i2c-${I2C_BUS}`;
  if (!existsSync(dev)) {
    add({ name: 'I2C bus', verdict: 'warn', detail: `${dev} does not exist`, fix: 'add dtparam=i2c_arm=on to /boot/firmware/config.txt and reboot' });
  } else {
    add({ name: 'I2C bus', verdict: 'ok', detail: dev });
    const owner = kernelDriverOf(`/sys/bus/i2c/devices/${I2C_BUS}-00${RTC_ADDRESS.toString(16)}`);
    if (owner) {
      add({ name: 'DS3231', verdict: 'warn', detail: `0x68 is owned by the kernel driver ${owner}`, fix: 'remove dtoverlay=i2c-rtc,ds3231 from /boot/firmware/config.txt and reboot: jaudiosync drives the DS3231 itself' });
    } else {
      try {
        const bus = await openI2cBus(I2C_BUS);
        const rtc = new Ds3231(bus, { busNumber: I2C_BUS, nowNs: hrtimeClock.nowNs, attempts: 2 });
        const r = await rtc.read();
        await bus.close();
        rtcOk = r.trustworthy;
        add({ name: 'DS3231', verdict: r.trustworthy ? 'ok' : 'warn', detail: r.trustworthy ? `answers at 0x68, reads ${new Date(Number(r.utcNs / 1_000_000n)).toISOString()}` : `answers at 0x68 but ${r.reason}`, fix: 'set it: jaudiosync rtc set --from-gps' });
      } catch (e) {
        add({ name: 'DS3231', verdict: 'warn', detail: (e as Error).message });
      }
    }
  }

  // GPS serial and NMEA.
  let gpsOk = false;
  const port = config.gps.port;
  if (!existsSync(port)) {
    add({ name: 'GPS serial port', verdict: 'warn', detail: `${port} does not exist`, fix: 'enable_uart=1 (and dtoverlay=disable-bt on Pi 3/4) in /boot/firmware/config.txt, or set gps.port to the USB GPS (e.g. /dev/ttyACM0)' });
  } else {
    let fixes = 0, valid = 0;
    const gps = new SerialGps({ path: port, baudRate: config.gps.baud, nowNs: hrtimeClock.nowNs }, { onFix: (f) => { fixes++; if (f.valid) valid++; } });
    try {
      await gps.open();
      await new Promise((r) => setTimeout(r, NMEA_LISTEN_MS));
      const c = gps.counters;
      gpsOk = c.sentences > 0;
      add({
        name: 'GPS NMEA', verdict: c.sentences === 0 ? 'warn' : 'ok',
        detail: `${c.sentences} sentences (${fixes} time fixes, ${valid} valid), ${c.badChecksum} bad checksums, ${c.garbage} garbage in ${NMEA_LISTEN_MS / 1000} s at ${config.gps.baud} baud`,
        fix: c.garbage > 0 && c.sentences === 0 ? `wrong baud rate? try gps.baud = 4800 or 38400; also turn the serial console off (raspi-config)` : 'check TX->RX wiring (GPS TX to pin 10) and the module power',
      });
    } catch (e) {
      add({ name: 'GPS NMEA', verdict: 'warn', detail: (e as Error).message });
    } finally {
      await gps.close();
    }
  }

  // Kernel PPS.
  const pps = config.gps.pps;
  if (!pps) {
    add({ name: 'PPS', verdict: 'warn', detail: 'gps.pps is empty: NMEA time only (millisecond class)', fix: 'wire PPS to GPIO18 and add dtoverlay=pps-gpio,gpiopin=18' });
  } else if (!existsSync(pps)) {
    add({ name: 'PPS', verdict: 'warn', detail: `${pps} does not exist`, fix: 'add dtoverlay=pps-gpio,gpiopin=18 to /boot/firmware/config.txt and reboot' });
  } else {
    const a = parseAssert(readFileSync(pps, 'latin1'));
    await new Promise((r) => setTimeout(r, 1200));
    const b = parseAssert(readFileSync(pps, 'latin1'));
    const pulsing = a && b && b.seq > a.seq;
    add({ name: 'PPS', verdict: pulsing ? 'ok' : 'warn', detail: pulsing ? `${basename(pps)} pulsing (seq ${b!.seq})` : `${pps} shows no new pulse in 1.2 s`, fix: 'the GPS needs a fix before it pulses; check the PPS wire to GPIO18' });
  }

  try {
    add({ name: 'GPIO base', verdict: 'ok', detail: `GPIO18 = sysfs GPIO ${sysfsGpioNumber(18)}` });
  } catch (e) {
    add({ name: 'GPIO base', verdict: 'warn', detail: (e as Error).message });
  }

  const outs = await probeAlsaOutputs();
  add({ name: 'audio', verdict: outs.length ? 'ok' : 'warn', detail: outs.length ? outs.map((d) => `"${d.name}"`).join(', ') : 'no ALSA output device: the service will write a WAV file', fix: 'plug in the DAC / enable the audio overlay; aplay -l lists cards' });

  if (!gpsOk && !rtcOk) {
    add({ name: 'time source', verdict: 'fail', detail: 'neither a GPS sending NMEA nor a trustworthy DS3231', fix: 'wire the GPS or the DS3231 (README: "Wiring a Pi"); without either, devices cannot agree on time without network' });
  }
  if (opts.json) process.stdout.write(JSON.stringify({ checks }, null, 2) + '\n');
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}

function printCheck(c: Check): void {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[c.verdict];
  process.stdout.write(`[${mark}] ${c.name}: ${c.detail}${c.verdict !== 'ok' && c.fix ? `\n       fix: ${c.fix}` : ''}\n`);
}

function kernelDriverOf(sysfsDevice: string): string | undefined {
  try {
    return basename(readlinkSync(`${sysfsDevice}/driver`));
  } catch {
    return existsSync(sysfsDevice) && readdirSync(sysfsDevice).includes('rtc') ? 'rtc (unknown driver)' : undefined;
  }
}
