import { chooseHardware } from './hardware-choice.js';
import { signed } from '../util/format.js';
import { existsSync, readFileSync } from 'node:fs';
import { Ds3231, Ds3231Error, hint } from '../../drivers/rtc/ds3231.js';
import { Ds3231Emulator } from '../../drivers/rtc/ds3231-emulator.js';
import { I2cError, openI2cBus, type I2cBus } from '../../drivers/rtc/i2c.js';
import { SerialGps } from '../../drivers/gps/serial-gps.js';
import { parseLenientDateMs, replayCapture, type ReplayedFix } from '../../drivers/gps/replay.js';
import type { GpsSky, GpsTimeFix } from '../../drivers/gps/types.js';
import { FixGate, SkyView, parseNmeaLine } from '../../drivers/gps/nmea.js';
import { SysfsPps } from '../../drivers/pps/sysfs.js';
import { GpioPps, onoffFactory, sysfsGpioNumber } from '../../drivers/pps/gpio.js';
import type { PpsPulse } from '../../drivers/pps/types.js';
import { hrtimeClock, sleepNs } from '../time/clock.js';
import { RealtimeConverter } from '../time/realtime-converter.js';
import { isoFromUtcNs } from '../time/timescale.js';
import { BUILD_FLOOR_UTC_NS, startTimingChain } from '../service/hardware.js';
import type { Config } from '../service/config.js';
import { createLogger } from '../service/log.js';
import { formatNs, formatSatellites, formatSky, wrapTokens } from '../service/status.js';
import { PpsJitter } from '../time/pps-jitter.js';
import { RealtimeGpsRig } from '../sim/realtime-gps-rig.js';
import { configIntOption, intOption, OptionError, pathOption, secondsOption } from './options.js';

/** CLI commands riders use to debug their wiring: rtc, gps monitor, pps monitor. */

const out = (s: string) => process.stdout.write(`${s}\n`);
const SIMULATED_RTC = "SIMULATED DS3231 (--simulate: a register-level twin on this machine's clock)";
const SIMULATED_GPS = "SIMULATED GPS and PPS (--simulate: a twin's NMEA through a socat pty, on this machine's clock)";

export interface RtcTarget {
  bus: number;
  address: number;
  simulate: boolean;
}

export async function openRtc(t: RtcTarget): Promise<{ rtc: Ds3231; bus: I2cBus }> {
  let bus: I2cBus;
  if (t.simulate) {
    bus = new Ds3231Emulator({ trueNowNs: () => BigInt(Date.now()) * 1_000_000n, address: t.address, basePpm: 1.2 });
  } else {
    try {
      bus = await openI2cBus(t.bus);
    } catch (e) {
      const code = e instanceof I2cError ? e.code : 'ENOENT';
      throw new Ds3231Error(
        `DS3231 at 0x${t.address.toString(16)} on I2C bus ${t.bus}: ${(e as Error).message}. ${hint(code, t.bus, t.address)}`,
        code,
      );
    }
  }
  return { rtc: new Ds3231(bus, { busNumber: t.bus, address: t.address, nowNs: hrtimeClock.nowNs }), bus };
}

export async function rtcCommand(
  action: string,
  t: RtcTarget,
  o: { fromGps?: boolean; fromSystem?: boolean; value?: string; config: Config },
): Promise<number> {
  // A real DS3231 is never set from a simulated reference (the twins run on this machine's own clock).
  const hardware = action === 'set' && o.fromGps ? chooseHardware(o.config) : undefined;
  if (hardware?.simulated && !t.simulate)
    throw new Error(
      `refusing to set the DS3231 on I2C bus ${t.bus} from a SIMULATED GPS (${hardware.why}); connect the GPS (or set hardware.mode = "real" and gps.port), or use --from-system`,
    );
  const { rtc, bus } = await openRtc(t);
  // Said wherever a user looks: a twin's time, temperature and aging are about no chip at all.
  if (t.simulate) process.stderr.write(`${SIMULATED_RTC}: no real chip is read or written\n`);
  const sim = t.simulate ? 'SIMULATED ' : '';
  try {
    switch (action) {
      case 'read': {
        const r = await rtc.read();
        out(
          r.trustworthy
            ? isoFromUtcNs(r.utcNs).replace('.000Z', 'Z')
            : `${isoFromUtcNs(r.utcNs)} NOT TRUSTWORTHY: ${r.reason}`,
        );
        return r.trustworthy ? 0 : 1;
      }
      case 'info': {
        const i = await rtc.info();
        if (t.simulate) out(`chip         ${SIMULATED_RTC}`);
        out(
          `time         ${isoFromUtcNs(i.reading.utcNs)}${i.reading.trustworthy ? '' : `  (NOT TRUSTWORTHY: ${i.reading.reason})`}`,
        );
        out(`temperature  ${i.temperatureC.toFixed(2)} °C`);
        out(`aging        ${i.agingLsb} LSB (${signed(i.agingPpm, 1)} ppm)`);
        out(
          `SQW          ${i.sqw1Hz ? `1 Hz${i.batteryBackedSqw ? ', battery-backed' : ''}` : 'off (INTCN=1 or RS≠00)'}`,
        );
        out(`32 kHz out   ${i.out32kHz ? 'on' : 'off'}`);
        out(`OSF          ${i.reading.trustworthy ? 'clear' : 'set'}`);
        return 0;
      }
      case 'set': {
        if (o.fromGps === o.fromSystem) throw new Error('rtc set needs exactly one of --from-gps or --from-system');
        let monoAt: (utcNs: bigint) => bigint;
        let utcNow: () => bigint;
        let stop = async () => {};
        if (o.fromSystem) {
          const conv = new RealtimeConverter();
          monoAt = (u) => conv.toMono(u).monoNs;
          utcNow = () => conv.toRealtime(hrtimeClock.nowNs());
          out('warning: the system clock is only as good as whatever set it; --from-gps is the reference');
        } else {
          const chain = await startTimingChain(o.config, createLogger(process.stdout, true), { hardware: hardware! });
          stop = chain.stop;
          const deadline = hrtimeClock.nowNs() + BigInt(o.config.clock.lock_timeout_s * 1e9);
          while (chain.clock.timescale().state !== 'locked') {
            if (hrtimeClock.nowNs() > deadline) {
              await stop();
              throw new Error(`no GPS lock within ${o.config.clock.lock_timeout_s} s: ${chain.describe}`);
            }
            await sleepNs(hrtimeClock, 100e6);
          }
          const ts = chain.clock.timescale();
          monoAt = (u) => ts.monoAt(u);
          utcNow = () => ts.utcAt(hrtimeClock.nowNs());
        }
        const target = Number(utcNow() / 1_000_000_000n) + 2; // far enough ahead to wait for it precisely
        const r = await rtc.setAligned(target, monoAt);
        await stop();
        out(
          `${sim}RTC set to ${new Date(target * 1000).toISOString()} on the second; write started ${(r.lateNs / 1000).toFixed(1)} µs late, took ${(r.writeNs / 1000).toFixed(0)} µs`,
        );
        return 0;
      }
      case 'aging': {
        if (o.value !== undefined) {
          const lsb = Number(o.value);
          if (!Number.isInteger(lsb) || lsb < -128 || lsb > 127)
            throw new Error(
              `aging value "${o.value}": expected an integer from -128 to 127 (≈0.1 ppm per step, positive = slower)`,
            );
          const before = await rtc.aging();
          await rtc.setAging(lsb);
          out(
            `${sim}aging ${before.lsb} -> ${lsb} LSB (was ${before.ppm.toFixed(1)} ppm, now ${(-lsb * 0.1).toFixed(1)} ppm), applied by a forced conversion`,
          );
        } else {
          const a = await rtc.aging();
          out(`${sim}aging ${a.lsb} LSB (${signed(a.ppm, 1)} ppm)`);
        }
        return 0;
      }
      default:
        throw new Error(`unknown rtc action "${action}": expected info, read, set or aging`);
    }
  } finally {
    await bus.close();
  }
}

/** What a fix line shows besides the fix: the sky (GSA/GSV/GGA) and the PPS, when there are any. */
export interface FixLineView {
  satellites?: number;
  sky?: GpsSky;
  pps?: { pulses: number; jitterNs?: number; lastAgeSec?: number };
  /** From a twin (--simulate): said on every line. */
  simulated?: boolean;
}

/** A PPS older than this when a fix arrives is not "seen" any more: pulses come every second. */
const PPS_STALE_SEC = 2.5;

export function fixLine(f: GpsTimeFix | ReplayedFix, v: FixLineView = {}, json = false): string {
  const utc = f.utcNs !== null ? isoFromUtcNs(f.utcNs) : null;
  const used = v.sky?.used ?? v.satellites;
  if (json) {
    return JSON.stringify({
      utc,
      valid: f.valid,
      ...(f.valid ? {} : { reason: f.reason }),
      talker: f.talker,
      sentence: f.sentence,
      satellites: used ?? null,
      fixMode: v.sky?.fixMode ?? null,
      satellitesInView: v.sky?.inView ?? null,
      hdop: v.sky?.hdop ?? null,
      ...(v.sky ? { sky: v.sky.satellites } : {}),
      ...(v.pps
        ? {
            ppsPulses: v.pps.pulses,
            ppsJitterNs: v.pps.jitterNs === undefined ? null : Math.round(v.pps.jitterNs),
            ppsLastAgeSec: v.pps.lastAgeSec ?? null,
          }
        : {}),
      ...(f.rolloverCorrected ? { rolloverCorrected: true } : {}),
      ...('line' in f ? { line: f.line } : {}),
      ...(v.simulated ? { simulated: true } : {}),
    });
  }
  const state = f.valid
    ? f.rolloverCorrected
      ? 'valid (week rollover corrected +1024 weeks)'
      : 'valid'
    : `invalid: ${f.reason}`;
  const mode = (v.sky?.fixMode ?? '-').padEnd(6);
  const sats = `sats ${used ?? '-'}${v.sky?.inView !== undefined ? `/${v.sky.inView}` : ''}`.padEnd(10);
  const hdop = `HDOP ${v.sky?.hdop !== undefined ? v.sky.hdop.toFixed(1) : '-'}`.padEnd(9);
  const pps = !v.pps
    ? ''
    : v.pps.lastAgeSec === undefined || v.pps.lastAgeSec > PPS_STALE_SEC
      ? `${'PPS none'.padEnd(20)}  `
      : `${`PPS jitter ${v.pps.jitterNs === undefined ? '-' : formatNs(v.pps.jitterNs)}`.padEnd(20)}  `;
  return `${utc ?? '-'.padEnd(24)}  ${f.talker}${f.sentence}  ${mode} ${sats} ${hdop} ${pps}${state}${v.simulated ? '  SIMULATED' : ''}`;
}

/** The sky as cgps sums it up, then its satellites strongest first ("G18 39*": * = used), wrapped. */
export function skyLines(sky: GpsSky, columns = 100): string[] {
  return [
    `sky: ${formatSky(sky)}`,
    ...wrapTokens(formatSatellites(sky), columns - 1, '     ').map((l, i) => (i ? l : `     ${l}`)),
  ];
}

/** The sky after every line of a capture that holds a time fix (a second pass, as the driver sees it). */
function skyAtLines(text: string, lines: Set<number>): Map<number, GpsSky> {
  const gate = new FixGate(),
    sky = new SkyView();
  const at = new Map<number, GpsSky>();
  text.split('\n').forEach((line, i) => {
    if (line.startsWith('#')) return;
    sky.pass(gate.pass(parseNmeaLine(line, 0n)));
    if (lines.has(i + 1) && sky.current) at.set(i + 1, sky.current);
  });
  return at;
}

/** Seconds between the sky's satellite lists in a live monitor: a list a second would bury the fixes. */
const SKY_EVERY_SEC = 10;

export async function gpsMonitor(o: {
  port?: string;
  baud?: string;
  replay?: string;
  floor?: string;
  json?: boolean;
  simulate?: boolean;
  config: Config;
  seconds?: string;
}): Promise<number> {
  const floorUtcNs = o.floor !== undefined ? parseFloor(o.floor) : undefined;
  const columns = process.stdout.isTTY ? process.stdout.columns : 100;
  const seconds = o.seconds !== undefined ? secondsOption('--seconds', o.seconds) : undefined;
  const baudOption = o.baud !== undefined ? configIntOption('--baud', o.baud, 'gps', 'baud', 'a baud rate') : undefined;
  if (o.replay) {
    let text: string;
    try {
      text = readFileSync(pathOption(o.replay), 'latin1');
    } catch (e) {
      throw new Error(`cannot read the capture ${o.replay}: ${(e as Error).message}`);
    }
    const r = replayCapture(text, { floorUtcNs, rollover: o.config.gps.rollover });
    if (r.problem) process.stderr.write(`warning: ${r.problem}; give --floor DATE\n`);
    const skies = skyAtLines(text, new Set(r.fixes.map((f) => f.line)));
    for (const f of r.fixes) out(fixLine(f, { satellites: f.satellites, sky: skies.get(f.line) }, o.json));
    const lastSky = r.fixes.length ? skies.get(r.fixes.at(-1)!.line) : undefined;
    if (!o.json && lastSky) for (const l of skyLines(lastSky, columns)) out(l);
    if (!o.json)
      out(
        `${r.stats.sentences} sentences, ${r.fixes.filter((f) => f.valid).length} valid time fixes, ${r.stats.badChecksum} bad checksums, ${r.stats.garbage} garbage lines skipped`,
      );
    if (r.stats.sentences > 0) return 0;
    process.stderr.write(
      r.stats.badChecksum > 0
        ? `jaudiosync: ${o.replay}: every one of its ${r.stats.badChecksum} NMEA sentences has a bad checksum: a damaged capture, or one read at the wrong baud rate\n`
        : `jaudiosync: ${o.replay} holds no NMEA sentence: not a capture of a GPS's serial output (record one with: cat /dev/serial0 > gps.log)\n`,
    );
    return 1;
  }
  let rig: RealtimeGpsRig | undefined;
  let path = o.port ?? o.config.gps.port;
  const baud = baudOption ?? o.config.gps.baud;
  const conv = new RealtimeConverter();
  if (o.simulate) {
    rig = await RealtimeGpsRig.create(conv, {
      talker: o.config.sim.talker,
      latencyMs: o.config.sim.gps_latency_ms,
      sentences: ['RMC', 'GGA', 'ZDA'],
    });
    await rig.start();
    path = rig.serialPath;
    process.stderr.write(`${SIMULATED_GPS}: no real receiver is read\n`);
  } else if (!existsSync(path)) {
    throw new Error(
      `GPS serial port ${path} does not exist: plug in the GPS, enable the UART (enable_uart=1), or give --port (try --simulate to see what a GPS looks like)`,
    );
  }
  // The PPS beside the NMEA, when there is one: seen or not, and its jitter.
  const ppsPath = rig?.ppsPath ?? (o.config.gps.pps && existsSync(o.config.gps.pps) ? o.config.gps.pps : undefined);
  const jitter = new PpsJitter();
  let lastPulseMonoNs: bigint | undefined;
  let pps: SysfsPps | undefined;
  if (ppsPath) {
    conv.start();
    pps = new SysfsPps(
      { path: ppsPath, converter: conv },
      {
        addPulse: (p: PpsPulse) => {
          jitter.add(p.seq, p.monoNs);
          lastPulseMonoNs = p.monoNs;
        },
        onStatus: (m: string) => process.stderr.write(`${m}\n`),
      },
    );
    try {
      await pps.start();
    } catch (e) {
      process.stderr.write(`${(e as Error).message} Monitoring NMEA only.\n`);
      pps = undefined;
    }
  }
  let sats: number | undefined;
  let sky: GpsSky | undefined;
  let skyShownNs: bigint | undefined;
  const view = (): FixLineView => ({
    satellites: sats,
    sky,
    ...(pps
      ? {
          pps: {
            pulses: pps.pulses,
            jitterNs: jitter.jitterNs(),
            lastAgeSec: lastPulseMonoNs === undefined ? undefined : Number(hrtimeClock.nowNs() - lastPulseMonoNs) / 1e9,
          },
        }
      : {}),
  });
  const gps = new SerialGps(
    {
      path,
      baudRate: baud,
      nowNs: hrtimeClock.nowNs,
      floorUtcNs: floorUtcNs ?? BUILD_FLOOR_UTC_NS,
      rollover: o.config.gps.rollover,
    },
    {
      onFix: (f) => {
        out(fixLine(f, { ...view(), simulated: Boolean(rig) }, o.json));
        const now = hrtimeClock.nowNs();
        if (
          !o.json &&
          sky?.satellites.length &&
          (skyShownNs === undefined || now - skyShownNs >= BigInt(SKY_EVERY_SEC * 1e9))
        ) {
          skyShownNs = now;
          for (const l of skyLines(sky, columns)) out(l);
        }
      },
      onContext: (c) => {
        sats = c.satellites;
      },
      onSky: (s) => {
        sky = s;
      },
      onStatus: (m) => process.stderr.write(`${m}\n`),
    },
  );
  try {
    await gps.open();
    await waitForSignalOrSeconds(seconds);
  } finally {
    await gps.close();
    pps?.stop();
    conv.stop();
    await rig?.stop();
  }
  if (!o.json) {
    if (sky) for (const l of skyLines(sky, columns)) out(l);
    out(
      `${gps.counters.sentences} sentences, ${gps.counters.badChecksum} bad checksums, ${gps.counters.garbage} garbage lines${pps ? `; PPS ${pps.pulses} pulses${jitter.jitterNs() !== undefined ? `, jitter ${formatNs(jitter.jitterNs()!)}` : ''}` : ''}`,
    );
  }
  return 0;
}

export async function ppsMonitor(o: {
  device?: string;
  path?: string;
  gpio?: string;
  simulate?: boolean;
  json?: boolean;
  seconds?: string;
}): Promise<number> {
  const seconds = o.seconds !== undefined ? secondsOption('--seconds', o.seconds) : undefined;
  // BCM GPIO numbers on a Pi: 0-53 (the config's service.led_gpio takes the same).
  const pin = o.gpio !== undefined ? intOption('--gpio', o.gpio, 0, 53, 'a BCM GPIO number') : undefined;
  if (o.device !== undefined && !/^pps\d+$/.test(o.device))
    throw new OptionError(`--device "${o.device}": expected a kernel PPS device name such as pps0 (ls /sys/class/pps)`);
  let prev: bigint | undefined;
  let pulses = 0;
  let fault: string | undefined;
  const sink = {
    onFault: (m: string | undefined) => {
      fault = m;
    },
    addPulse: (p: PpsPulse) => {
      pulses++;
      const interval = prev !== undefined ? Number(p.monoNs - prev) : undefined;
      prev = p.monoNs;
      if (o.json) {
        out(
          JSON.stringify({
            seq: p.seq,
            monoNs: String(p.monoNs),
            realtime: p.realtimeNs !== undefined ? isoFromUtcNs(p.realtimeNs, 9) : null,
            intervalNs: interval ?? null,
            missed: p.missed,
            via: p.via,
            ...(o.simulate ? { simulated: true } : {}),
          }),
        );
        return;
      }
      const iv =
        interval !== undefined
          ? `interval ${(interval / 1e6).toFixed(3)} ms (${((interval - 1e9 * (1 + p.missed)) / 1e3).toFixed(1)} µs off)`
          : 'first pulse';
      out(
        `#${p.seq}  ${p.realtimeNs !== undefined ? isoFromUtcNs(p.realtimeNs, 9) : `mono ${p.monoNs}`}  ${iv}${p.missed ? `  MISSED ${p.missed}` : ''}  [${p.via}${o.simulate ? ', SIMULATED' : ''}]`,
      );
    },
    onStatus: (m: string) => process.stderr.write(`${m}\n`),
  };
  const stops: Array<() => unknown> = [];
  try {
    await startPps(o, pin, sink, stops);
    await waitForSignalOrSeconds(seconds);
  } finally {
    for (const s of stops.reverse()) await s();
  }
  // A monitor that saw no pulse, or ends on a fault, has found a problem: say so in the exit code.
  if (pulses === 0)
    process.stderr.write(
      `jaudiosync: no PPS pulse seen${fault ? ` (${fault})` : ': is the GPS fixed, and its PPS wire on the configured GPIO?'}\n`,
    );
  return pulses === 0 || fault ? 1 : 0;
}

async function startPps(
  o: { device?: string; path?: string; simulate?: boolean },
  pin: number | undefined,
  sink: PpsSinkLike,
  stops: Array<() => unknown>,
): Promise<void> {
  if (pin !== undefined) {
    out(`GPIO${pin} is sysfs GPIO ${sysfsGpioNumber(pin)}; timestamps are userspace-grade (~50 µs, ms tails)`);
    const pps = new GpioPps(
      { bcmPin: pin, edge: 'rising', nowNs: hrtimeClock.nowNs, factory: await onoffFactory() },
      sink,
    );
    pps.start();
    stops.push(() => pps.stop());
  } else {
    const conv = new RealtimeConverter();
    conv.start();
    stops.push(() => conv.stop());
    let path = o.path !== undefined ? pathOption(o.path) : `/sys/class/pps/${o.device ?? 'pps0'}/assert`;
    if (o.simulate) {
      const rig = await RealtimeGpsRig.create(conv, {});
      await rig.start();
      stops.push(() => rig.stop());
      path = rig.ppsPath;
      process.stderr.write(`${SIMULATED_GPS}: no real PPS is read\n`);
    }
    const pps = new SysfsPps({ path, converter: conv }, sink);
    await pps.start();
    stops.push(() => pps.stop());
  }
}

type PpsSinkLike = { addPulse(p: PpsPulse): void; onStatus(m: string): void; onFault(m: string | undefined): void };

function parseFloor(s: string): bigint {
  const ms = parseLenientDateMs(s);
  if (ms === undefined) throw new OptionError(`--floor "${s}": expected a date like 2019-04-01`);
  return BigInt(ms) * 1_000_000n;
}

/** Runs until Ctrl-C / SIGTERM (or the output closing), or for --seconds N. */
function waitForSignalOrSeconds(seconds?: number): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      if (timer) clearTimeout(timer);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (seconds !== undefined) timer = setTimeout(done, seconds * 1000);
  });
}
