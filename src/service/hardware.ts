import { existsSync } from 'node:fs';
import { SerialGps } from '../../drivers/gps/serial-gps.js';
import { SysfsPps } from '../../drivers/pps/sysfs.js';
import { RealtimeGpsRig } from '../sim/realtime-gps-rig.js';
import { hrtimeClock } from '../time/clock.js';
import { ClockLayer } from '../time/clock-layer.js';
import { RealtimeConverter } from '../time/realtime-converter.js';
import { GpsPpsSource } from '../time/sources/gps-pps.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

/**
 * Wires the timing hardware (real, or its twin when none is found) into the clock layer:
 * drivers -> GPS+PPS source -> clock layer. Returns what the service needs and a stop().
 */

export interface TimingChain {
  clock: ClockLayer;
  gpsSource?: GpsPpsSource;
  converter: RealtimeConverter;
  simulated: boolean;
  describe: string;
  stop(): Promise<void>;
}

/** Build date: no true GPS date can be earlier (week-rollover floor when live). */
export const BUILD_FLOOR_UTC_NS = BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n;

export async function startTimingChain(config: Config, log: Logger): Promise<TimingChain> {
  const converter = new RealtimeConverter(undefined, (m) => log.warn(m));
  converter.start();
  const clock = new ClockLayer(hrtimeClock, {
    onStateChange: (ts, prev) => log.info(`clock: ${prev.state} (${prev.source}) -> ${ts.state} (${ts.source})`),
  });
  const stops: Array<() => Promise<void> | void> = [() => converter.stop()];
  const stop = async () => { for (const s of stops.reverse()) await s(); };
  if (!config.gps.enabled) {
    return { clock, converter, simulated: false, describe: 'no GPS configured: system clock (unsynchronized)', stop };
  }
  const mode = config.hardware.mode;
  const haveRealGps = existsSync(config.gps.port);
  const simulated = mode === 'simulated' || (mode === 'auto' && !haveRealGps);
  let gpsPath = config.gps.port;
  let ppsPath = config.gps.pps;
  if (simulated) {
    const rig = await RealtimeGpsRig.create(converter, {
      talker: config.sim.talker, latencyMs: config.sim.gps_latency_ms, ppsJitterNs: config.sim.pps_jitter_ns, baudRate: config.gps.baud,
    });
    stops.push(() => rig.stop());
    await rig.start();
    gpsPath = rig.serialPath;
    ppsPath = rig.ppsPath;
  } else if (!haveRealGps) {
    log.warn(`GPS serial port ${config.gps.port} does not exist (hardware.mode = "real"); waiting for it to appear`);
  }
  const gpsSource = new GpsPpsSource(clock, (m) => log.info(m));
  const gps = new SerialGps({ path: gpsPath, baudRate: config.gps.baud, nowNs: hrtimeClock.nowNs, floorUtcNs: BUILD_FLOOR_UTC_NS, rollover: config.gps.rollover }, gpsSource);
  try {
    await gps.open();
  } catch (e) {
    await stop();
    throw e;
  }
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
  const describe = simulated
    ? `simulated GPS (NMEA via a socat pty, ${config.sim.talker} talker, ${config.sim.gps_latency_ms} ms after PPS) + simulated kernel PPS`
    : `GPS on ${gpsPath} @ ${config.gps.baud} baud${ppsPath ? ` + PPS ${ppsPath}` : ''}`;
  return { clock, gpsSource, converter, simulated, describe, stop };
}
