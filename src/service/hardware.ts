import { existsSync } from 'node:fs';
import { SerialGps } from '../../drivers/gps/serial-gps.js';
import { SysfsPps } from '../../drivers/pps/sysfs.js';
import { Ds3231 } from '../../drivers/rtc/ds3231.js';
import { openI2cBus, type I2cBus } from '../../drivers/rtc/i2c.js';
import { RealtimeGpsRig } from '../sim/realtime-gps-rig.js';
import { RealtimeRtcRig } from '../sim/realtime-rtc-rig.js';
import { hrtimeClock } from '../time/clock.js';
import { ClockLayer } from '../time/clock-layer.js';
import { DriftLog, readCpuTempC } from '../time/drift-log.js';
import { RealtimeConverter } from '../time/realtime-converter.js';
import { GpsPpsSource } from '../time/sources/gps-pps.js';
import { RtcSource } from '../time/sources/rtc.js';
import { NtpSource } from '../time/sources/ntp.js';
import { readRtcCalibration } from '../time/rtc-calibration.js';
import { resolvePath, stateDir, type Config } from './config.js';
import { CLOCK_STATE_EVERY_MS, ClockStateWriter, readClockPrior } from './clock-state.js';
import type { Logger } from './log.js';
import { RtcLoop } from './rtc-loop.js';

/**
 * Wires the timing hardware (real, or its twins when none is found) into the clock layer:
 * drivers -> sources (GPS+PPS, DS3231) -> clock layer -> drift log. Returns what the service and
 * `clock monitor` need, and a stop().
 */

export interface TimingChain {
  clock: ClockLayer;
  gpsSource?: GpsPpsSource;
  rtcSource?: RtcSource;
  rtcLoop?: RtcLoop;
  converter: RealtimeConverter;
  simulated: boolean;
  describe: string;
  /** False when nothing but the system clock is configured: there is no lock to wait for. */
  hasSources: boolean;
  /** System clock minus disciplined UTC now (ns). */
  systemMinusUtcNs(): number;
  /** Counters for status: RTC (I2C) errors, NMEA sentences per second since the last call. */
  health(): { i2cErrors: number; nmeaPerSec?: number; nmeaBad?: number };
  stop(): Promise<void>;
}

/** Build date: no true GPS date can be earlier (week-rollover floor when live). */
export const BUILD_FLOOR_UTC_NS = BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n;
/** Servo records in the drift log, and temperature reads, once a second. */
const SERVO_RECORD_MS = 1_000;

export interface ChainOverrides {
  gpsPort?: string;
  baud?: number;
  ppsPath?: string;
  rtcBus?: number;
  ntpServers?: string[];
  /** A calibration recording is one file, not rotated at the service's 20 MB. */
  driftLogMaxBytes?: number;
}

export async function startTimingChain(config: Config, log: Logger, over: ChainOverrides = {}): Promise<TimingChain> {
  const converter = new RealtimeConverter(undefined, (m) => log.warn(m));
  converter.start();
  const stops: Array<() => Promise<void> | void> = [() => converter.stop()];
  const stop = async () => { for (const s of stops.reverse()) await s(); };
  const driftLog = config.clock.drift_log ? new DriftLog({ path: resolvePath(config, config.clock.drift_log), maxBytes: over.driftLogMaxBytes, onError: (m) => log.warn(m) }) : undefined;
  if (driftLog) stops.push(() => driftLog.close());
  const event = (message: string) => driftLog?.add({ kind: 'event', monoNs: hrtimeClock.nowNs(), message });
  const clock = new ClockLayer(hrtimeClock, {
    onStateChange: (ts, prev) => { const m = `clock: ${prev.state} (${prev.source}) -> ${ts.state} (${ts.source})`; log.info(m); event(m); },
    onStep: (ns, ts, why) => { const m = `clock stepped by ${(ns / 1e6).toFixed(3)} ms (${why})`; if (ts.state !== 'unsynchronized' && !why.startsWith('first lock')) log.warn(m); event(m); },
    onSample: (s) => driftLog?.add({ kind: 'sample', source: s.source, monoNs: s.monoNs, utcNs: s.utcNs, errorNs: s.errorNs }),
  });
  // The last run's frequency lets a restart lock on two pulses (see clock-state.ts).
  const stateDirPath = stateDir(config);
  const realtimeMs = () => Number(converter.toRealtime(hrtimeClock.nowNs()) / 1_000_000n);
  const saved = await readClockPrior(stateDirPath, realtimeMs());
  log.info(saved.note);
  clock.setFrequencyPrior(saved.prior);
  const stateWriter = new ClockStateWriter(stateDirPath, (m) => log.warn(m));
  const saveState = () => stateWriter.save(clock.timescale(), realtimeMs());
  const stateTimer = setInterval(() => void saveState(), CLOCK_STATE_EVERY_MS);
  stops.push(async () => { clearInterval(stateTimer); await saveState(); });
  const systemMinusUtcNs = () => {
    const now = hrtimeClock.nowNs();
    return Number(converter.toRealtime(now) - clock.timescale().utcAt(now));
  };
  const mode = config.hardware.mode;
  const gpsPortPath = over.gpsPort ?? config.gps.port;
  const simulated = mode === 'simulated' || (mode === 'auto' && !existsSync(gpsPortPath) && over.gpsPort === undefined);
  const parts: string[] = [];
  let gpsSource: GpsPpsSource | undefined;
  let rtcSource: RtcSource | undefined;
  let rtcLoop: RtcLoop | undefined;
  let i2cErrors = 0;
  let gpsCounters: { sentences: number; badChecksum: number; garbage: number } | undefined;
  let lastNmea = { atNs: hrtimeClock.nowNs(), sentences: 0 };
  const health = () => {
    const now = hrtimeClock.nowNs();
    const sentences = gpsCounters?.sentences ?? 0;
    const nmeaPerSec = gpsCounters ? (sentences - lastNmea.sentences) / Math.max(1e-3, Number(now - lastNmea.atNs) / 1e9) : undefined;
    lastNmea = { atNs: now, sentences };
    return { i2cErrors, nmeaPerSec, nmeaBad: gpsCounters ? gpsCounters.badChecksum + gpsCounters.garbage : undefined };
  };
  try {
    if (config.gps.enabled) {
      let gpsPath = gpsPortPath;
      let ppsPath = over.ppsPath ?? config.gps.pps;
      if (simulated) {
        const rig = await RealtimeGpsRig.create(converter, {
          talker: config.sim.talker, latencyMs: config.sim.gps_latency_ms, ppsJitterNs: config.sim.pps_jitter_ns, baudRate: config.gps.baud,
        });
        stops.push(() => rig.stop());
        await rig.start();
        gpsPath = rig.serialPath;
        ppsPath = over.ppsPath ?? rig.ppsPath;
        parts.push(`simulated GPS (NMEA via a socat pty, ${config.sim.talker} talker, ${config.sim.gps_latency_ms} ms after PPS) + simulated kernel PPS`);
      } else {
        if (!existsSync(gpsPath)) log.warn(`GPS serial port ${gpsPath} does not exist; waiting for it to appear`);
        parts.push(`GPS on ${gpsPath} @ ${over.baud ?? config.gps.baud} baud${ppsPath ? ` + PPS ${ppsPath}` : ''}`);
      }
      gpsSource = new GpsPpsSource(clock, (m) => { log.info(m); event(m); });
      const gps = new SerialGps({ path: gpsPath, baudRate: over.baud ?? config.gps.baud, nowNs: hrtimeClock.nowNs, floorUtcNs: BUILD_FLOOR_UTC_NS, rollover: config.gps.rollover }, gpsSource);
      gpsCounters = gps.counters;
      await gps.open();
      stops.push(() => gps.close());
      if (ppsPath) {
        const pps = new SysfsPps({ path: ppsPath, converter }, gpsSource);
        try {
          await pps.start();
          stops.push(() => pps.stop());
        } catch (e) {
          log.warn(`${(e as Error).message} Continuing with NMEA time only (millisecond class).`);
        }
      }
    }
    if (config.rtc.enabled) {
      let bus: I2cBus | undefined;
      let sqwPath: string | undefined = config.rtc.sqw || undefined;
      const busNumber = over.rtcBus ?? config.rtc.bus;
      if (simulated) {
        const rig = new RealtimeRtcRig(converter, { ppm: config.sim.rtc_ppm, initialOffsetNs: BigInt(Math.round(config.sim.rtc_offset_ms * 1e6)) });
        rig.start();
        stops.push(() => rig.stop());
        bus = rig.chip;
        sqwPath = rig.sqwPath;
        parts.push(`simulated DS3231 (${config.sim.rtc_ppm} ppm, SQW as a kernel PPS file)`);
      } else if (existsSync(`/dev/i2c-${busNumber}`)) {
        bus = await openI2cBus(busNumber);
        stops.push(() => bus!.close());
        if (sqwPath && !existsSync(sqwPath)) { log.warn(`RTC SQW device ${sqwPath} does not exist (dtoverlay=pps-gpio,gpiopin=17): polling the seconds register instead (sub-ms class)`); sqwPath = undefined; }
        parts.push(`DS3231 at 0x${config.rtc.address.toString(16)} on I2C bus ${busNumber}${sqwPath ? ` + SQW ${sqwPath}` : ' (polled)'}`);
      } else if (over.rtcBus !== undefined) {
        log.warn(`/dev/i2c-${busNumber} does not exist: is dtparam=i2c_arm=on set? Running without the RTC`);
      }
      if (bus) {
        const rtc = new Ds3231(bus, { busNumber, address: config.rtc.address, nowNs: hrtimeClock.nowNs });
        const calibrationPath = config.rtc.calibration ? resolvePath(config, config.rtc.calibration) : undefined;
        const calibration = calibrationPath ? await readRtcCalibration(calibrationPath, (m) => log.warn(m)) : undefined;
        rtcSource = new RtcSource(clock, calibration);
        rtcLoop = new RtcLoop({ rtc, source: rtcSource, clock, nowNs: hrtimeClock.nowNs, sqwPath, converter, setOnLock: config.rtc.set_on_lock, driftLog, calibrationPath, calibration,
          log: (level, m) => { if (level === 'warn') i2cErrors++; (level === 'warn' ? log.warn : log.info)(m); event(m); } });
        try {
          await rtcLoop.start();
          stops.push(() => rtcLoop!.stop());
          const loop = rtcLoop;
          const tempTimer = setInterval(() => { void rtc.temperatureC().then((c) => { loop.temperatureC = c; }, () => {}); }, 64_000);
          void rtc.temperatureC().then((c) => { loop.temperatureC = c; }, () => {});
          stops.push(() => clearInterval(tempTimer));
        } catch (e) {
          log.warn(`${(e as Error).message} Running without the RTC.`);
          rtcSource = undefined;
          rtcLoop = undefined;
        }
      }
    }
    const ntpServers = over.ntpServers ?? config.ntp.servers;
    if (ntpServers.length) {
      const ntp = new NtpSource(clock, {
        servers: ntpServers, nowNs: hrtimeClock.nowNs, pollSec: config.ntp.poll_s, log: (m) => { log.warn(m); event(m); },
        betterSourceLocked: () => { const ts = clock.timescale(); return ts.state === 'locked' && ts.source !== 'ntp' && ts.source !== 'system'; },
      });
      ntp.start();
      stops.push(() => ntp.stop());
      parts.push(`NTP fallback: ${ntpServers.join(', ')}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  if (driftLog) {
    let cpuTempC: number | undefined;
    const timer = setInterval(() => {
      void readCpuTempC().then((c) => { cpuTempC = c; });
      const now = hrtimeClock.nowNs();
      const ts = clock.timescale();
      if (ts.state === 'unsynchronized') return;
      driftLog.add({ kind: 'servo', monoNs: now, utcNs: ts.utcAt(now), state: ts.state, source: ts.source, freqPpm: ts.freqPpm,
        errorBoundNs: Math.round(ts.errorBoundAt(now)), systemMinusUtcNs: systemMinusUtcNs(), cpuTempC, rtcTempC: rtcLoop?.temperatureC });
    }, SERVO_RECORD_MS);
    stops.push(() => clearInterval(timer));
  }
  const describe = parts.length ? parts.join('; ') : 'no GPS or RTC configured: system clock (unsynchronized)';
  return { clock, gpsSource, rtcSource, rtcLoop, converter, simulated, describe, hasSources: parts.length > 0, systemMinusUtcNs, health, stop };
}
