import { gaussian } from '../../drivers/pps/emulator.js';
import { DRIFT_LOG_VERSION } from '../time/drift-log.js';
import { seededRandom } from './oscillator.js';

/**
 * A drift recording as the service would write it, from clocks whose truth is known: the local
 * crystal (offset, temperature coefficient, white and random-walk FM) stamped by kernel PPS with
 * jitter against exact GPS seconds, and a DS3231 (offset, quadratic temperature residual, its own
 * noise) read against UTC. Seeded and pure: lines out, nothing written. For calibrate's tests and
 * benchmark: what the analysis must recover.
 */

export interface ClockTruth {
  /** Offset at 25 °C (ppm, + = fast). */
  ppm: number;
  tempCoeffPpmPerC?: number;
  tempCoeffPpmPerC2?: number;
  /** White FM: σ of each second's frequency (ppm). */
  whiteFmPpm?: number;
  /** Random-walk FM: σ of the frequency change per √s (ppm). */
  randomWalkPpmPerSqrtS?: number;
}

export interface DriftRecordingOptions {
  seconds: number;
  seed: number;
  system: ClockTruth;
  /** Kernel PPS timestamp noise (ns, 1σ). */
  ppsJitterNs?: number;
  rtc?: ClockTruth;
  /** CPU and RTC temperatures (°C) at t seconds into the run. */
  cpuTempC?: (tSec: number) => number;
  rtcTempC?: (tSec: number) => number;
  startUtcNs?: bigint;
  /** Local monotonic clock at the start (ns). */
  startMonoNs?: bigint;
  /** The RTC set by someone at these seconds (its offset becomes 0 then), with an event record unless `silent`. */
  rtcSets?: Array<{ atSec: number; silent?: boolean }>;
  /** Write the header record that says the sources are simulated (default true: they are). */
  header?: boolean;
}

function frequency(c: ClockTruth, tempC: number, walk: number, rnd: () => number): number {
  return (
    c.ppm +
    (c.tempCoeffPpmPerC ?? 0) * (tempC - 25) +
    (c.tempCoeffPpmPerC2 ?? 0) * (tempC - 25) ** 2 +
    walk +
    (c.whiteFmPpm ? gaussian(rnd) * c.whiteFmPpm : 0)
  );
}

export function* driftRecordingLines(o: DriftRecordingOptions): Generator<string> {
  const rnd = seededRandom(o.seed);
  const utc0 = o.startUtcNs ?? 1_790_000_000_000_000_000n;
  let mono = o.startMonoNs ?? 1_000_000_000_000n;
  let monoFrac = 0,
    rtcX = 0,
    sysWalk = 0,
    rtcWalk = 0;
  const cpu = o.cpuTempC ?? (() => 45);
  const rtcT = o.rtcTempC ?? (() => 30);
  const v = DRIFT_LOG_VERSION;
  if (o.header ?? true)
    yield JSON.stringify({
      v,
      kind: 'header',
      monoNs: String(mono),
      program: 'jaudiosync',
      describe: 'drift-recording.ts: clocks with known truth',
      simulated: { gps: true, pps: true, ...(o.rtc ? { rtc: true } : {}) },
    });
  const sets = new Map((o.rtcSets ?? []).map((x) => [x.atSec, x]));
  for (let t = 0; t < o.seconds; t++) {
    const utc = utc0 + BigInt(t) * 1_000_000_000n;
    const set = o.rtc ? sets.get(t) : undefined;
    if (set) {
      rtcX = 0;
      if (!set.silent)
        yield JSON.stringify({
          v,
          kind: 'event',
          monoNs: String(mono),
          utcNs: String(utc),
          message: 'DS3231 set from GPS on the second (by another process)',
        });
    }
    const stamp = mono + BigInt(Math.round(gaussian(rnd) * (o.ppsJitterNs ?? 0)));
    yield JSON.stringify({
      v,
      kind: 'sample',
      source: 'gps+pps',
      monoNs: String(stamp),
      utcNs: String(utc),
      errorNs: 5000,
    });
    yield JSON.stringify({
      v,
      kind: 'servo',
      monoNs: String(mono),
      utcNs: String(utc),
      state: 'locked',
      source: 'gps+pps',
      freqPpm: 0,
      errorBoundNs: 2000,
      cpuTempC: Number(cpu(t).toFixed(1)),
      rtcTempC: o.rtc ? Number(rtcT(t).toFixed(2)) : undefined,
    });
    if (o.rtc)
      yield JSON.stringify({
        v,
        kind: 'rtc',
        monoNs: String(mono),
        utcNs: String(utc),
        rtcMinusUtcNs: Math.round(rtcX),
        edgeOffsetNs: Math.round(rtcX),
        rtcRatePpm: 0,
        rtcTempC: Number(rtcT(t).toFixed(2)),
      });
    // One second of true time passes.
    const exact = 1e9 * (1 + frequency(o.system, cpu(t), sysWalk, rnd) * 1e-6) + monoFrac;
    mono += BigInt(Math.floor(exact));
    monoFrac = exact - Math.floor(exact);
    if (o.system.randomWalkPpmPerSqrtS) sysWalk += gaussian(rnd) * o.system.randomWalkPpmPerSqrtS;
    if (o.rtc) {
      rtcX += 1e9 * frequency(o.rtc, rtcT(t), rtcWalk, rnd) * 1e-6;
      if (o.rtc.randomWalkPpmPerSqrtS) rtcWalk += gaussian(rnd) * o.rtc.randomWalkPpmPerSqrtS;
    }
  }
}
