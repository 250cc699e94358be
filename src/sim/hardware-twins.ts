import type { Config } from '../service/config.js';
import type { ChainOverrides, GpsPorts, HardwareFactory, RtcChip } from '../service/hardware.js';
import type { RealtimeConverter } from '../time/realtime-converter.js';
import { RealtimeGpsRig } from './realtime-gps-rig.js';
import { RealtimeRtcRig } from './realtime-rtc-rig.js';

/**
 * True UTC minus CLOCK_MONOTONIC (ns) for the twins, shared by every simulated process given it: a
 * test rig with several devices on one machine (monotonic is machine-wide; the system clock may be
 * stepped between their starts, and a real fleet shares one sky).
 */
export const SIM_TRUTH_ENV = 'JAUDIOSYNC_SIM_UTC_MINUS_MONO_NS';

/** The shared truth from the environment, if set; a value that is not an integer is an error naming it. */
export function simTruthFromEnv(env: NodeJS.ProcessEnv = process.env): bigint | undefined {
  const v = env[SIM_TRUTH_ENV];
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v.trim()))
    throw new Error(
      `${SIM_TRUTH_ENV}=${JSON.stringify(v)} is not an integer of nanoseconds (UTC minus CLOCK_MONOTONIC); unset it or fix it`,
    );
  return BigInt(v.trim());
}

/** How far the twins' truth is from the system clock, said in the unit that reads best. */
const fromSystem = (ns: number) => (ns < 1e6 ? `${(ns / 1e3).toFixed(1)} µs` : `${(ns / 1e6).toFixed(1)} ms`);

/**
 * The timing hardware's twins in real time, for a machine without the parts (the demo, the tests):
 * a GPS emitting NMEA through a socat pty with PPS stamps in a sysfs-format file, and a
 * register-level DS3231 with its SQW as a second PPS file, all driven by this machine's clock as
 * truth (or by one shared through SIM_TRUTH_ENV, carried on the monotonic clock). Everything they
 * measure is about that truth, not the world: status says SIMULATED.
 */
export function twinHardware(why: string, opts: { utcMinusMonoNs?: bigint } = {}): HardwareFactory {
  const truth = (vsSystemNs: number) =>
    opts.utcMinusMonoNs === undefined
      ? `is this machine's clock as read at start, ±${(vsSystemNs / 1e3).toFixed(1)} µs`
      : `is shared (${SIM_TRUTH_ENV}), ${fromSystem(vsSystemNs)} from the system clock at most`;
  return {
    simulated: true,
    why,
    async gps(config: Config, converter: RealtimeConverter, over: ChainOverrides): Promise<GpsPorts> {
      const rig = await RealtimeGpsRig.create(converter, {
        talker: config.sim.talker,
        latencyMs: config.sim.gps_latency_ms,
        ppsJitterNs: config.sim.pps_jitter_ns,
        baudRate: over.baud ?? config.gps.baud,
        utcMinusMonoNs: opts.utcMinusMonoNs,
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
        describe: `SIMULATED GPS (NMEA via a socat pty, ${config.sim.talker} talker, ${config.sim.gps_latency_ms} ms after PPS; its true time ${truth(rig.truthVsRealtimeNs)}) + SIMULATED kernel PPS`,
      };
    },
    async rtc(config: Config, converter: RealtimeConverter): Promise<RtcChip> {
      const rig = new RealtimeRtcRig(converter, {
        ppm: config.sim.rtc_ppm,
        initialOffsetNs: BigInt(Math.round(config.sim.rtc_offset_ms * 1e6)),
        utcMinusMonoNs: opts.utcMinusMonoNs,
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
