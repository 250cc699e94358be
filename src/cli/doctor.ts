import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SerialGps } from '../../drivers/gps/serial-gps.js';
import { Ds3231 } from '../../drivers/rtc/ds3231.js';
import { openI2cBus } from '../../drivers/rtc/i2c.js';
import { parseAssert } from '../../drivers/pps/sysfs.js';
import {
  alsaPlaybackPcms,
  gpioChips,
  headerGpioChip,
  platformSummary,
  ppsDevices,
  serial0,
} from '../../drivers/platform/pi.js';
import { listSerialPorts } from '../../drivers/platform/serial-ports.js';
import { hrtimeClock } from '../time/clock.js';
import type { Config } from '../service/config.js';
import { configProblems, machineCheckEnv, type CheckEnv } from './config-check.js';

/**
 * `jaudiosync doctor`: the Pi, the config it is given, the wiring and the system, each with a fix.
 * Exit code 1 when something required is missing or the config cannot work: ffmpeg, the playlist,
 * the audio device, the state folder, the schedule, and at least one time source (a GPS sending
 * NMEA, or a DS3231). Everything it reads under /proc, /sys and /dev is below `root` (tests).
 */

type Verdict = 'ok' | 'warn' | 'fail';
interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

/** Listen this long for NMEA: receivers send at least once a second. */
const NMEA_LISTEN_MS = 2500;
/** Read a PPS assert file twice this far apart: a live one has pulsed in between. */
const PPS_WATCH_MS = 1200;
/** The GPS PPS pin of README's wiring. */
const PPS_WIRING_GPIO = 18;

export interface DoctorOptions {
  json?: boolean;
  /** Which config file is in use (from the CLI). */
  configNote?: string;
  /** A folder standing for "/" (tests); hardware is opened only when it is "". */
  root?: string;
  env?: CheckEnv;
  ppsWatchMs?: number;
  out?: NodeJS.WritableStream;
}

export async function doctor(config: Config, opts: DoctorOptions = {}): Promise<number> {
  const root = opts.root ?? '';
  const env = { ...(opts.env ?? machineCheckEnv(BigInt(Date.now()) * 1_000_000n)), root };
  const out = opts.out ?? process.stdout;
  const checks: Check[] = [];
  const add = (c: Check) => {
    checks.push(c);
    if (!opts.json) printCheck(out, c);
  };

  platformChecks(root, add);
  add({ name: 'config', verdict: 'ok', detail: opts.configNote ?? config.source });
  for (const p of await configProblems(config, env))
    add({ name: p.key, verdict: 'fail', detail: p.message, fix: p.fix });

  const major = Number(process.versions.node.split('.')[0]);
  add({
    name: 'Node.js',
    verdict: major >= 20 ? 'ok' : 'fail',
    detail: process.version,
    fix: 'install Node.js 20 (scripts/setup.sh does)',
  });
  try {
    const f = env.findFfmpeg(config.audio.ffmpeg || undefined);
    add({ name: 'ffmpeg', verdict: 'ok', detail: f.path });
  } catch {
    /* reported with the config's problems */
  }

  const rtcOk = config.rtc.enabled
    ? await rtcChecks(config, root, add)
    : (add({ name: 'DS3231', verdict: 'ok', detail: 'rtc.enabled = false: not used' }), false);
  const gpsOk = config.gps.enabled
    ? await gpsChecks(config, root, add)
    : (add({ name: 'GPS', verdict: 'ok', detail: 'gps.enabled = false: not used' }), false);
  if (config.gps.enabled)
    await ppsCheck('PPS (GPS)', config.gps.pps, PPS_WIRING_GPIO, root, opts.ppsWatchMs ?? PPS_WATCH_MS, add);
  if (config.rtc.enabled && config.rtc.sqw)
    await ppsCheck('PPS (DS3231 SQW)', config.rtc.sqw, 17, root, opts.ppsWatchMs ?? PPS_WATCH_MS, add, 'warn');
  gpioCheck(config, root, add);
  await audioCheck(config, root, env, add);

  if (!gpsOk && !rtcOk) {
    add({
      name: 'time source',
      verdict: 'fail',
      detail: 'neither a GPS sending NMEA nor a trustworthy DS3231',
      fix: 'wire the GPS or the DS3231 (README: "Wiring a Pi"); without either, devices cannot agree on time without network',
    });
  }
  if (opts.json) out.write(JSON.stringify({ checks }, null, 2) + '\n');
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}

type Add = (c: Check) => void;

function printCheck(out: NodeJS.WritableStream, c: Check): void {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[c.verdict];
  out.write(`[${mark}] ${c.name}: ${c.detail}${c.verdict !== 'ok' && c.fix ? `\n       fix: ${c.fix}` : ''}\n`);
}

function platformChecks(root: string, add: Add): void {
  const p = platformSummary(root);
  add({
    name: 'board',
    verdict: p.isPi ? 'ok' : 'warn',
    detail: `${p.model ?? 'no /proc/device-tree/model: not a Raspberry Pi'}${p.kernel ? `, kernel ${p.kernel}` : ''}`,
    fix: 'the hardware checks below expect a Raspberry Pi; elsewhere the service runs on simulated twins (hardware.mode = "auto")',
  });
}

async function rtcChecks(config: Config, root: string, add: Add): Promise<boolean> {
  const { bus: busNo, address } = config.rtc;
  const hex = `0x${address.toString(16)}`;
  const dev = join(root, `dev/i2c-${busNo}`);
  if (!existsSync(dev)) {
    add({
      name: 'I2C bus',
      verdict: 'warn',
      detail: `/dev/i2c-${busNo} (rtc.bus) does not exist`,
      fix:
        busNo === 1
          ? 'add dtparam=i2c_arm=on to /boot/firmware/config.txt and reboot'
          : `is rtc.bus = ${busNo} right? The header's I2C is bus 1`,
    });
    return false;
  }
  add({ name: 'I2C bus', verdict: 'ok', detail: `/dev/i2c-${busNo}` });
  const owner = kernelDriverOf(join(root, `sys/bus/i2c/devices/${busNo}-00${address.toString(16).padStart(2, '0')}`));
  if (owner) {
    add({
      name: 'DS3231',
      verdict: 'warn',
      detail: `${hex} is owned by the kernel driver ${owner}`,
      fix: 'remove dtoverlay=i2c-rtc,ds3231 from /boot/firmware/config.txt and reboot: jaudiosync drives the DS3231 itself',
    });
    return false;
  }
  if (root) return false; // a fake tree has no chip to talk to
  try {
    const bus = await openI2cBus(busNo);
    const rtc = new Ds3231(bus, { busNumber: busNo, address, nowNs: hrtimeClock.nowNs, attempts: 2 });
    const r = await rtc.read();
    await bus.close();
    add({
      name: 'DS3231',
      verdict: r.trustworthy ? 'ok' : 'warn',
      detail: r.trustworthy
        ? `answers at ${hex}, reads ${new Date(Number(r.utcNs / 1_000_000n)).toISOString()}`
        : `answers at ${hex} but ${r.reason}`,
      fix: 'set it: jaudiosync rtc set --from-gps',
    });
    return r.trustworthy;
  } catch (e) {
    add({ name: 'DS3231', verdict: 'warn', detail: `at ${hex} on bus ${busNo}: ${(e as Error).message}` });
    return false;
  }
}

async function gpsChecks(config: Config, root: string, add: Add): Promise<boolean> {
  const port = config.gps.port;
  if (port === '/dev/serial0') {
    const s = serial0(root);
    if (s.miniUart) {
      add({
        name: 'UART',
        verdict: 'warn',
        detail: `/dev/serial0 is ${s.target}, the mini-UART: its baud rate follows the VPU core clock, which moves with CPU frequency scaling (garbled NMEA)`,
        fix: 'add dtoverlay=disable-bt to /boot/firmware/config.txt (gives the PL011 ttyAMA0 to GPIO14/15) and reboot',
      });
    } else if (s.target) {
      add({ name: 'UART', verdict: 'ok', detail: `/dev/serial0 -> ${s.target} (PL011)` });
    }
  }
  if (!existsSync(join(root, port))) {
    const found = (await listSerialPorts({ root })).map((p) => p.path);
    add({
      name: 'GPS serial port',
      verdict: 'warn',
      detail: `${port} (gps.port) does not exist${found.length ? `; serial ports here: ${found.join(', ')}` : '; no serial ports here'}`,
      fix: 'enable_uart=1 (and dtoverlay=disable-bt on Pi 3/4/Zero W) in /boot/firmware/config.txt, or set gps.port to the USB GPS (e.g. /dev/ttyACM0)',
    });
    return false;
  }
  if (root) return false;
  let fixes = 0,
    valid = 0;
  const gps = new SerialGps(
    { path: port, baudRate: config.gps.baud, nowNs: hrtimeClock.nowNs },
    {
      onFix: (f) => {
        fixes++;
        if (f.valid) valid++;
      },
    },
  );
  try {
    await gps.open();
    await new Promise((r) => setTimeout(r, NMEA_LISTEN_MS));
    const c = gps.counters;
    add({
      name: 'GPS NMEA',
      verdict: c.sentences === 0 ? 'warn' : 'ok',
      detail: `${c.sentences} sentences (${fixes} time fixes, ${valid} valid), ${c.badChecksum} bad checksums, ${c.garbage} garbage in ${NMEA_LISTEN_MS / 1000} s at ${config.gps.baud} baud on ${port}`,
      fix:
        c.garbage > 0 && c.sentences === 0
          ? 'wrong baud rate? try gps.baud = 4800 or 38400; also turn the serial console off (raspi-config)'
          : 'check TX->RX wiring (GPS TX to pin 10) and the module power',
    });
    return c.sentences > 0;
  } catch (e) {
    add({ name: 'GPS NMEA', verdict: 'warn', detail: `${port}: ${(e as Error).message}` });
    return false;
  } finally {
    await gps.close();
  }
}

/** A PPS assert file: absent (the overlay), unreadable (the group), present but silent (wiring, no fix), or pulsing. */
async function ppsCheck(
  name: string,
  path: string,
  gpio: number,
  root: string,
  watchMs: number,
  add: Add,
  silentVerdict: Verdict = 'warn',
): Promise<void> {
  if (!path) {
    add({
      name,
      verdict: 'warn',
      detail: 'not configured: millisecond-class time only',
      fix: `wire it to GPIO${gpio} and add dtoverlay=pps-gpio,gpiopin=${gpio}`,
    });
    return;
  }
  const devices = ppsDevices(root);
  const listed =
    devices
      .map((d) => `${d.name}${d.gpio !== undefined ? ` (GPIO${d.gpio})` : d.source ? ` (${d.source})` : ''}`)
      .join(', ') || 'none';
  const file = join(root, path);
  if (!existsSync(file)) {
    add({
      name,
      verdict: 'warn',
      detail: `${path} does not exist (PPS devices here: ${listed})`,
      fix: `add dtoverlay=pps-gpio,gpiopin=${gpio} to /boot/firmware/config.txt and reboot (the kernel module pps-gpio then makes the device)`,
    });
    return;
  }
  let a;
  try {
    a = parseAssert(readFileSync(file, 'latin1'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    add({
      name,
      verdict: 'warn',
      detail: `${path}: ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`,
      fix:
        code === 'EACCES'
          ? 'the service user reads it as a member of the group that owns it (install.sh: the jaudiosync user); check ls -l of the file'
          : 'check the kernel log (dmesg | grep pps)',
    });
    return;
  }
  await new Promise((r) => setTimeout(r, watchMs));
  const b = parseAssert(readFileSync(file, 'latin1'));
  const dev = devices.find((d) => file.startsWith(join(root, 'sys/class/pps', d.name) + '/'));
  const which = dev?.gpio !== undefined ? ` (GPIO${dev.gpio})` : '';
  if (a && b && b.seq > a.seq) {
    add({ name, verdict: 'ok', detail: `${basename(join(path, '..'))}${which} pulsing (seq ${b.seq})` });
  } else if (!b || b.seq === 0) {
    add({
      name,
      verdict: silentVerdict,
      detail: `${path}${which} exists but has never pulsed: the overlay is loaded, no edge arrives`,
      fix: `check the wire to GPIO${dev?.gpio ?? gpio} (pin 12 for GPIO18, pin 11 for GPIO17) and that the GPS has a fix (most modules pulse only then; their PPS LED blinks)`,
    });
  } else {
    add({
      name,
      verdict: silentVerdict,
      detail: `${path}${which} pulsed before (seq ${b.seq}) but not in the last ${watchMs / 1000} s`,
      fix: 'the GPS lost its fix (antenna, sky view) or the wire came loose',
    });
  }
}

function gpioCheck(config: Config, root: string, add: Add): void {
  const chips = gpioChips(root);
  const chip = headerGpioChip(chips, PPS_WIRING_GPIO);
  if (!chip) {
    add({
      name: 'GPIO',
      verdict: 'warn',
      detail: 'no sysfs GPIO chip (/sys/class/gpio): the userspace PPS fallback and the status LED cannot work',
      fix: 'on a Pi this exists; elsewhere it is expected',
    });
    return;
  }
  const pins = [PPS_WIRING_GPIO, ...(config.service.led_gpio >= 0 ? [config.service.led_gpio] : [])];
  add({
    name: 'GPIO',
    verdict: 'ok',
    detail: `${chip.name} "${chip.label}" base ${chip.base}${chip.base >= 512 ? ' (kernel 6.6+ numbering)' : ''}: ${pins.map((p) => `GPIO${p} = sysfs ${chip.base + p}`).join(', ')}`,
  });
}

/** The onboard jack: PWM audio through the VideoCore firmware, not a DAC. */
const HEADPHONES_NOTE =
  'the onboard headphone jack (bcm2835) is PWM audio with an extra firmware buffer: noisier and later than a USB or I2S DAC, by an amount not measured here; measure it (bench/start-error.ts) into audio.output_latency_ms, or use a DAC';

async function audioCheck(config: Config, root: string, env: CheckEnv, add: Add): Promise<void> {
  const pcms = alsaPlaybackPcms(root);
  const outs = await env.audioOutputs();
  if (pcms.length === 0 && outs.length === 0) {
    add({
      name: 'audio',
      verdict: 'warn',
      detail: 'no ALSA output device',
      fix: 'plug in the DAC / enable its overlay (e.g. dtoverlay=hifiberry-dac); aplay -l lists cards',
    });
    return;
  }
  const shown = pcms.length
    ? pcms.map((p) => `${p.alsaName} [${p.kind}]`).join(', ')
    : outs.map((o) => `"${o.name}"`).join(', ');
  add({ name: 'audio', verdict: 'ok', detail: `${shown}; audio.device = "${config.audio.device}"` });
  const jack = pcms.find((p) => p.kind === 'onboard-headphones');
  const usesJack =
    jack &&
    (config.audio.device === jack.alsaName ||
      config.audio.device === jack.rtaudioName ||
      (config.audio.device === 'default' && pcms.length === 1));
  if (usesJack)
    add({
      name: 'audio latency',
      verdict: 'warn',
      detail: HEADPHONES_NOTE,
      fix: `set audio.output_latency_ms for ${jack.alsaName} as measured`,
    });
}

function kernelDriverOf(sysfsDevice: string): string | undefined {
  try {
    return basename(readlinkSync(`${sysfsDevice}/driver`));
  } catch {
    return existsSync(sysfsDevice) && readdirSync(sysfsDevice).includes('rtc') ? 'rtc (unknown driver)' : undefined;
  }
}
