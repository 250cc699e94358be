import { SerialGps } from '../../drivers/gps/serial-gps.js';
import type { GpsCounters } from '../../drivers/gps/types.js';
import { SysfsPps } from '../../drivers/pps/sysfs.js';
import { Ds3231 } from '../../drivers/rtc/ds3231.js';
import type { I2cBus } from '../../drivers/rtc/i2c.js';
import { hrtimeClock, type MonotonicClock } from '../time/clock.js';
import { ClockLayer } from '../time/clock-layer.js';
import { DriftLog, readCpuTempC, type HeaderRecord } from '../time/drift-log.js';
import { RealtimeConverter } from '../time/realtime-converter.js';
import type { RealtimeReaders } from '../time/realtime.js';
import { GpsPpsSource } from '../time/sources/gps-pps.js';
import { RtcSource } from '../time/sources/rtc.js';
import { NtpSource } from '../time/sources/ntp.js';
import { readRtcCalibration } from '../time/rtc-calibration.js';
import { resolvePath, rtcCalibrationPath, stateDir, type Config } from './config.js';
import { CLOCK_STATE_EVERY_MS, ClockStateWriter, readClockPrior } from './clock-state.js';
import type { Logger } from './log.js';
import { keepTrying, type Retrier, type RetryOptions } from './retry.js';
import { RtcLoop } from './rtc-loop.js';
import { CounterRate } from '../util/rate.js';

/**
 * Wires the timing hardware into the clock layer: drivers -> sources (GPS+PPS, DS3231, SNTP) ->
 * clock layer -> drift log. Where the hardware comes from (the real devices, or their twins) is the
 * caller's choice, a HardwareFactory made by the CLI: this layer never imports the twins. A part
 * that is missing at start (or fails to open) is said once and tried again in the background; the
 * clock runs on what exists meanwhile, and a part that appears later is picked up.
 */

/** How each part is doing, as `status --json` reports it under `hardware`. */
export type PartState = 'real' | 'simulated' | 'absent' | 'waiting';

export interface HardwareStatus {
  /** True when any timing part is a twin: nothing this device says about time is about the real world. */
  simulated: boolean;
  gps: PartState;
  pps: PartState;
  rtc: PartState;
}

export interface GpsPorts {
  /** The serial device to read NMEA from (a pty for the twin). */
  port: string;
  /** Its kernel PPS assert file, or undefined when no PPS is wired. */
  pps: string | undefined;
  describe: string;
  stop(): Promise<void>;
}

export interface RtcChip {
  bus: I2cBus;
  /** Kernel PPS file of the SQW line, or undefined to poll the seconds register. */
  sqwPath: string | undefined;
  describe: string;
  stop(): Promise<void>;
}

/** Where the timing hardware comes from. The CLI builds one (src/cli/hardware-choice.ts). */
export interface HardwareFactory {
  readonly simulated: boolean;
  /** Why this hardware, for the log (e.g. "no timing hardware found: simulated twins"). */
  readonly why: string;
  gps(config: Config, converter: RealtimeConverter, over: ChainOverrides): Promise<GpsPorts>;
  /** The DS3231's bus; rejects (with a hint) when there is none. */
  rtc(config: Config, converter: RealtimeConverter, busNumber: number): Promise<RtcChip>;
}

export interface TimingChain {
  clock: ClockLayer;
  gpsSource?: GpsPpsSource;
  rtcSource?: RtcSource;
  readonly rtcLoop?: RtcLoop;
  converter: RealtimeConverter;
  simulated: boolean;
  describe: string;
  /** False when nothing but the system clock is configured: there is no lock to wait for. */
  hasSources: boolean;
  hardware(): HardwareStatus;
  /** System clock minus disciplined UTC now (ns). */
  systemMinusUtcNs(): number;
  /** Counters for status: RTC (I2C) errors, NMEA sentences per second since the last call. */
  health(): { i2cErrors: number; nmeaPerSec?: number; nmeaBad?: number; waiting: string[] };
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

export interface ChainOptions extends ChainOverrides {
  hardware: HardwareFactory;
  clock?: MonotonicClock;
  /** The system clock as the kernel's PPS stamps see it (tests step it). */
  realtimeReaders?: RealtimeReaders;
}

/** What the parts share while they are wired up. */
interface Wiring {
  config: Config;
  log: Logger;
  o: ChainOptions;
  mono: MonotonicClock;
  clock: ClockLayer;
  converter: RealtimeConverter;
  driftLog?: DriftLog;
  event(message: string): void;
  stops: Array<() => Promise<void> | void>;
  retriers: Retrier[];
  status: HardwareStatus;
  parts: string[];
  /** Each part not found yet, with why (its last failure): status shows them as problems. */
  waiting: Map<'gps' | 'pps' | 'rtc', string>;
}

/** Twins only count where a timing part is configured: the bare system clock is nobody's simulation. */
export function runsOnTwins(config: Config, hardwareSimulated: boolean): boolean {
  return hardwareSimulated && (config.gps.enabled || config.rtc.enabled);
}

/** Retrying a part: its last failure is kept for status until it is found (then dropped). */
function retryFor(w: Wiring, part: 'gps' | 'pps' | 'rtc', addendum = ''): RetryOptions {
  return {
    clock: w.mono,
    warn: (m) => {
      w.waiting.set(part, `${m}${addendum}`);
      w.log.warn(`${m}${addendum}`);
    },
    info: w.log.info,
    onState: (state) => {
      if (state === 'up') w.waiting.delete(part);
    },
  };
}

export async function startTimingChain(config: Config, log: Logger, o: ChainOptions): Promise<TimingChain> {
  const w = await wire(config, log, o);
  const stop = async () => {
    for (const r of w.retriers.splice(0)) await r.stop();
    for (const s of w.stops.splice(0).reverse()) await s();
  };
  try {
    const gps = config.gps.enabled ? await startGps(w) : undefined;
    const rtc = config.rtc.enabled ? await startRtc(w) : undefined;
    startNtp(w);
    startServoRecords(w, () => rtc?.loop);
    const h = gpsHealth(w, gps?.counters, () => rtc?.i2cErrors() ?? 0);
    const describe = w.parts.length
      ? w.parts.join('; ')
      : 'no GPS, RTC or NTP configured: system clock (unsynchronized)';
    return {
      clock: w.clock,
      gpsSource: gps?.source,
      rtcSource: rtc?.source,
      get rtcLoop() {
        return rtc?.loop;
      },
      converter: w.converter,
      simulated: w.status.simulated,
      describe,
      hasSources: w.parts.length > 0,
      hardware: () => ({ ...w.status }),
      systemMinusUtcNs: () => systemMinusUtcNs(w),
      health: h,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function wire(config: Config, log: Logger, o: ChainOptions): Promise<Wiring> {
  const mono = o.clock ?? hrtimeClock;
  const converter = new RealtimeConverter(o.realtimeReaders, (m) => log.warn(m));
  converter.start();
  const stops: Wiring['stops'] = [() => converter.stop()];
  const driftLog = config.clock.drift_log
    ? new DriftLog({
        path: resolvePath(config, config.clock.drift_log),
        maxBytes: o.driftLogMaxBytes,
        onError: (m) => log.warn(m),
        header: driftLogHeader(config, o),
      })
    : undefined;
  if (driftLog) stops.push(() => driftLog.close());
  const event = (message: string) => driftLog?.add({ kind: 'event', monoNs: mono.nowNs(), message });
  const clock = new ClockLayer(mono, {
    onStateChange: (ts, prev) => {
      const m = `clock: ${prev.state} (${prev.source}) -> ${ts.state} (${ts.source})`;
      log.info(m);
      event(m);
    },
    onStep: (ns, ts, why) => {
      const m = `clock stepped by ${(ns / 1e6).toFixed(3)} ms (${why})`;
      if (ts.state !== 'unsynchronized' && !why.startsWith('first lock')) log.warn(m);
      event(m);
    },
    onSample: (s) =>
      driftLog?.add({ kind: 'sample', source: s.source, monoNs: s.monoNs, utcNs: s.utcNs, errorNs: s.errorNs }),
  });
  const absent: PartState = 'absent';
  const w: Wiring = {
    config,
    log,
    o,
    mono,
    clock,
    converter,
    driftLog,
    event,
    stops,
    retriers: [],
    parts: [],
    waiting: new Map(),
    status: {
      simulated: runsOnTwins(config, o.hardware.simulated),
      gps: absent,
      pps: absent,
      rtc: absent,
    },
  };
  await keepClockState(w);
  return w;
}

/** First in every drift-log file: which sources are real and which are twins (calibrate apply reads it). */
function driftLogHeader(config: Config, o: ChainOptions): HeaderRecord {
  const sim = o.hardware.simulated;
  const pps = config.gps.enabled && Boolean(o.ppsPath ?? config.gps.pps);
  return {
    kind: 'header',
    program: 'jaudiosync',
    describe: o.hardware.why,
    simulated: {
      ...(config.gps.enabled ? { gps: sim } : {}),
      ...(pps ? { pps: sim } : {}),
      ...(config.rtc.enabled ? { rtc: sim } : {}),
      ...((o.ntpServers ?? config.ntp.servers).length ? { ntp: false } : {}),
    },
  };
}

/** The last run's frequency lets a restart lock on two pulses (see clock-state.ts); saved once a minute. */
async function keepClockState(w: Wiring): Promise<void> {
  const dir = stateDir(w.config);
  const realtimeMs = () => Number(w.converter.toRealtime(w.mono.nowNs()) / 1_000_000n);
  const simulated = w.status.simulated;
  const saved = await readClockPrior(dir, realtimeMs(), simulated);
  w.log.info(saved.note);
  w.clock.setFrequencyPrior(saved.prior);
  const writer = new ClockStateWriter(dir, (m) => w.log.warn(m));
  const save = () => writer.save(w.clock.timescale(), realtimeMs(), simulated);
  let timer = w.mono.setTimer(CLOCK_STATE_EVERY_MS * 1e6, function tick() {
    void save();
    timer = w.mono.setTimer(CLOCK_STATE_EVERY_MS * 1e6, tick);
  });
  w.stops.push(async () => {
    timer.cancel();
    await save();
  });
}

function systemMinusUtcNs(w: Wiring): number {
  const now = w.mono.nowNs();
  return Number(w.converter.toRealtime(now) - w.clock.timescale().utcAt(now));
}

const partKind = (w: Wiring): PartState => (w.status.simulated ? 'simulated' : 'real');

/** GPS NMEA + PPS: each opened now if it is there, else tried again in the background. */
async function startGps(w: Wiring): Promise<{ source: GpsPpsSource; counters(): GpsCounters | undefined }> {
  const { config, o, log } = w;
  const source = new GpsPpsSource(w.clock, (m) => {
    log.info(m);
    w.event(m);
  });
  w.converter.onStep((jumpNs) => source.systemClockStepped(jumpNs, w.mono.nowNs()));
  let driver: SerialGps | undefined;
  const counters = () => driver?.counters;
  const ports = await o.hardware.gps(config, w.converter, o);
  w.stops.push(() => ports.stop());
  w.parts.push(ports.describe);
  const baud = o.baud ?? config.gps.baud;
  w.status.gps = 'waiting';
  w.retriers.push(
    await keepTrying(
      `GPS on ${ports.port}`,
      async () => {
        const gps = new SerialGps(
          {
            path: ports.port,
            baudRate: baud,
            nowNs: () => w.mono.nowNs(),
            floorUtcNs: BUILD_FLOOR_UTC_NS,
            rollover: config.gps.rollover,
          },
          source,
        );
        await gps.open();
        driver = gps;
        w.stops.push(() => gps.close());
        w.status.gps = partKind(w);
      },
      retryFor(w, 'gps'),
    ),
  );
  if (!ports.pps) return { source, counters };
  w.status.pps = 'waiting';
  w.retriers.push(
    await keepTrying(
      `PPS ${ports.pps}`,
      async () => {
        // Pulses to the source; a fault of the device (unreadable, garbage, frozen) is a warning and a status line.
        const pps = new SysfsPps(
          { path: ports.pps!, converter: w.converter },
          {
            addPulse: (p) => source.addPulse(p),
            onFault: (m) => source.onFault(m),
            onStatus: (m) => {
              log.warn(m);
              w.event(m);
            },
          },
        );
        await pps.start();
        w.stops.push(() => pps.stop());
        w.status.pps = partKind(w);
      },
      retryFor(w, 'pps', '. Until then the clock has NMEA time only (millisecond class)'),
    ),
  );
  return { source, counters };
}

/** The DS3231 (and its SQW): opened now if it answers, else tried again in the background. */
async function startRtc(w: Wiring): Promise<{ source: RtcSource; loop?: RtcLoop; i2cErrors(): number }> {
  const { config, o, log } = w;
  const busNumber = o.rtcBus ?? config.rtc.bus;
  const calibrationPath = rtcCalibrationPath(config);
  const calibration = await readRtcCalibration(calibrationPath, (m) => log.warn(m), w.status.simulated);
  const source = new RtcSource(w.clock, calibration);
  const out: { source: RtcSource; loop?: RtcLoop; errors: number; i2cErrors(): number } = {
    source,
    errors: 0,
    i2cErrors: () => out.errors,
  };
  // Said before the chip answers (it may be waited for): a twin says SIMULATED here too.
  const where = `DS3231 at 0x${config.rtc.address.toString(16)} on I2C bus ${busNumber}`;
  w.parts.push(o.hardware.simulated ? `SIMULATED ${where} (a register-level twin)` : where);
  w.status.rtc = 'waiting';
  w.retriers.push(
    await keepTrying(
      `RTC (DS3231 on I2C bus ${busNumber})`,
      async () => {
        const chip = await o.hardware.rtc(config, w.converter, busNumber);
        const rtc = new Ds3231(chip.bus, { busNumber, address: config.rtc.address, nowNs: () => w.mono.nowNs() });
        const loop = new RtcLoop({
          rtc,
          source,
          clock: w.clock,
          nowNs: () => w.mono.nowNs(),
          timers: w.mono,
          sqwPath: chip.sqwPath,
          converter: w.converter,
          setOnLock: config.rtc.set_on_lock,
          driftLog: w.driftLog,
          calibrationPath,
          calibration,
          simulated: w.status.simulated,
          log: (level, m) => {
            if (level === 'warn') out.errors++;
            (level === 'warn' ? log.warn : log.info)(m);
            w.event(m);
          },
        });
        try {
          await loop.start();
        } catch (e) {
          await chip.stop();
          throw e;
        }
        out.loop = loop;
        w.stops.push(
          () => chip.stop(),
          () => loop.stop(),
        );
        log.info(`RTC: ${chip.describe}`);
        w.status.rtc = partKind(w);
      },
      retryFor(w, 'rtc'),
    ),
  );
  return out;
}

function startNtp(w: Wiring): void {
  const servers = w.o.ntpServers ?? w.config.ntp.servers;
  if (!servers.length) return;
  const ntp = new NtpSource(w.clock, {
    servers,
    nowNs: () => w.mono.nowNs(),
    pollSec: w.config.ntp.poll_s,
    log: (m) => {
      w.log.warn(m);
      w.event(m);
    },
    betterSourceLocked: () => {
      const ts = w.clock.timescale();
      return ts.state === 'locked' && ts.source !== 'ntp' && ts.source !== 'system';
    },
  });
  ntp.start();
  w.stops.push(() => ntp.stop());
  w.parts.push(`NTP fallback: ${servers.join(', ')}`);
}

/** Servo records for the drift log, once a second (with the CPU and RTC temperatures). */
function startServoRecords(w: Wiring, loop: () => RtcLoop | undefined): void {
  const driftLog = w.driftLog;
  if (!driftLog) return;
  let cpuTempC: number | undefined;
  const record = () => {
    void readCpuTempC().then((c) => {
      cpuTempC = c;
    });
    const now = w.mono.nowNs();
    const ts = w.clock.timescale();
    if (ts.state === 'unsynchronized') return;
    driftLog.add({
      kind: 'servo',
      monoNs: now,
      utcNs: ts.utcAt(now),
      state: ts.state,
      source: ts.source,
      freqPpm: ts.freqPpm,
      errorBoundNs: Math.round(ts.errorBoundAt(now)),
      systemMinusUtcNs: systemMinusUtcNs(w),
      cpuTempC,
      rtcTempC: loop()?.temperatureC,
    });
  };
  let timer = w.mono.setTimer(SERVO_RECORD_MS * 1e6, function tick() {
    record();
    timer = w.mono.setTimer(SERVO_RECORD_MS * 1e6, tick);
  });
  w.stops.push(() => timer.cancel());
}

/** Health counters; the NMEA rate is over a moving window (sampled every second, not "since the last call"). */
function gpsHealth(
  w: Wiring,
  gpsCounters: (() => GpsCounters | undefined) | undefined,
  i2cErrors: () => number,
): TimingChain['health'] {
  const rate = new CounterRate();
  let perSec: number | undefined;
  const sample = () => {
    const counters = gpsCounters?.();
    if (counters) perSec = rate.update(w.mono.nowNs(), counters.sentences);
  };
  let timer = w.mono.setTimer(1e9, function tick() {
    sample();
    timer = w.mono.setTimer(1e9, tick);
  });
  w.stops.push(() => timer.cancel());
  return () => {
    sample();
    const counters = gpsCounters?.();
    return {
      i2cErrors: i2cErrors(),
      nmeaPerSec: counters ? perSec : undefined,
      nmeaBad: counters ? counters.badChecksum + counters.garbage : undefined,
      waiting: [...w.waiting.values()],
    };
  };
}
