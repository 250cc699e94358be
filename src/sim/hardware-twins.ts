import type { Config } from '../service/config.js';
import type { ChainOverrides, GpsPorts, HardwareFactory, RtcChip } from '../service/hardware.js';
import type { RealtimeConverter } from '../time/realtime-converter.js';
import { RealtimeGpsRig } from './realtime-gps-rig.js';
import { RealtimeRtcRig } from './realtime-rtc-rig.js';

/**
 * The timing hardware's twins in real time, for a machine without the parts (the demo, the tests):
 * a GPS emitting NMEA through a socat pty with PPS stamps in a sysfs-format file, and a
 * register-level DS3231 with its SQW as a second PPS file, all driven by this machine's clock as
 * truth. Everything they measure is about that clock, not the world: status says SIMULATED.
 */
export function twinHardware(why: string): HardwareFactory {
  return {
    simulated: true,
    why,
    async gps(config: Config, converter: RealtimeConverter, over: ChainOverrides): Promise<GpsPorts> {
      const rig = await RealtimeGpsRig.create(converter, {
        talker: config.sim.talker,
        latencyMs: config.sim.gps_latency_ms,
        ppsJitterNs: config.sim.pps_jitter_ns,
        baudRate: over.baud ?? config.gps.baud,
      });
      try {
        await rig.start();
      } catch (e) {
        await rig.stop();
        throw e;
      }
      const pps = over.ppsPath ?? rig.ppsPath;
      return {
        port: rig.serialPath,
        pps,
        stop: () => rig.stop(),
        describe: `SIMULATED GPS (NMEA via a socat pty, ${config.sim.talker} talker, ${config.sim.gps_latency_ms} ms after PPS; its true time is this machine's clock as read at start, ±${(rig.truthVsRealtimeNs / 1e3).toFixed(1)} µs) + SIMULATED kernel PPS`,
      };
    },
    async rtc(config: Config, converter: RealtimeConverter): Promise<RtcChip> {
      const rig = new RealtimeRtcRig(converter, {
        ppm: config.sim.rtc_ppm,
        initialOffsetNs: BigInt(Math.round(config.sim.rtc_offset_ms * 1e6)),
      });
      rig.start();
      return {
        bus: rig.chip,
        sqwPath: rig.sqwPath,
        describe: `SIMULATED DS3231 (${config.sim.rtc_ppm} ppm, SQW as a kernel PPS file)`,
        stop: async () => rig.stop(),
      };
    },
  };
}
