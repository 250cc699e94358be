import { sentencesForSecond } from '../../drivers/gps/emulator.js';
import { FixGate, parseNmeaLine } from '../../drivers/gps/nmea.js';
import { gaussian } from '../../drivers/pps/emulator.js';
import { GPIO_PPS_ERROR_NS } from '../../drivers/pps/gpio.js';
import { KERNEL_PPS_ERROR_NS } from '../../drivers/pps/sysfs.js';
import { VirtualClock } from '../time/clock.js';
import { ClockLayer } from '../time/clock-layer.js';
import { GpsPpsSource } from '../time/sources/gps-pps.js';
import { Oscillator, seededRandom } from './oscillator.js';

/**
 * One device's clock chain in virtual time: a true clock, the device's system crystal, a GPS twin
 * (PPS edges with timestamp noise, NMEA through the real parser and fix gate at the receiver's
 * latency) feeding the real GPS+PPS source and clock layer. Measures the disciplined UTC against
 * truth, and the error bound against the true error.
 */

const SYSTEM_CLOCK_ERROR_NS = 3_600_000_000_000n;

export interface ClockWorldOptions {
  seed: number;
  /** System crystal: offset (ppm), temperature coefficient (ppm/°C), random walk (ppm/√s). */
  sysPpm?: number;
  sysTempCoeffPpmPerC?: number;
  sysRandomWalk?: number;
  temperatureC?: (trueSec: number) => number;
  /** PPS path: kernel pps-gpio (Gaussian σ) or userspace GPIO (late-only, heavy tail). */
  pps?: 'kernel' | 'gpio' | 'none';
  ppsJitterNs?: number;
  /** NMEA latency after the edge (ms) and its jitter σ (ms). */
  nmeaLatencyMs?: number;
  nmeaJitterMs?: number;
  /** True seconds in which the GPS is silent (tunnel). */
  outage?: (trueSec: number) => boolean;
  /** True UTC at the start of the run (s). */
  startUtcSec?: number;
  /** A lying receiver: labels this many seconds off at these true seconds. */
  labelErrorSec?: (trueSec: number) => number;
  /**
   * Steps of the system clock (what `date -s` or timesyncd do): true second -> step (ns). Kernel PPS
   * stamps are CLOCK_REALTIME, converted with an offset re-measured every CONVERTER_REFRESH_SEC.
   */
  systemClockSteps?: Array<{ atSec: number; stepNs: bigint }>;
}

/** As RealtimeConverter: the realtime -> monotonic offset is re-measured every 2 s. */
const CONVERTER_REFRESH_SEC = 2;

export interface ClockProbe {
  trueSec: number;
  errorNs: number;
  boundNs: number;
  state: string;
  source: string;
}

export class ClockWorld {
  readonly clock: VirtualClock;
  readonly layer: ClockLayer;
  readonly source: GpsPpsSource;
  readonly probes: ClockProbe[] = [];
  private readonly osc: Oscillator;
  private readonly rnd: () => number;
  private readonly gate = new FixGate();
  private readonly startUtcNs: bigint;
  firstValidFixSec?: number;
  readonly steps: Array<{ trueSec: number; stepNs: number; why: string }> = [];
  private systemOffsetNs = 0n;
  private converterOffsetNs = 0n;

  constructor(readonly o: ClockWorldOptions) {
    this.rnd = seededRandom(o.seed);
    this.startUtcNs = BigInt(o.startUtcSec ?? 1_790_000_000) * 1_000_000_000n;
    this.osc = new Oscillator({
      ppm: o.sysPpm ?? -43, tempCoeffPpmPerC: o.sysTempCoeffPpmPerC ?? 0, randomWalkPpmPerSqrtS: o.sysRandomWalk ?? 0,
      temperatureC: o.temperatureC ? (t) => o.temperatureC!(Number(t) / 1e9) : undefined, random: this.rnd,
      startLocalNs: 123_456_789_000n, // the Pi has been up a while: its monotonic clock is not at 0
    });
    const localStart = this.osc.localAt(0n);
    this.clock = new VirtualClock(localStart);
    // The system clock of a Pi without network at boot: an hour off (whatever it saved at shutdown).
    this.layer = new ClockLayer(this.clock, { onStep: (ns, _ts, why) => this.steps.push({ trueSec: this.probes.length, stepNs: ns, why }) },
      () => this.startUtcNs + SYSTEM_CLOCK_ERROR_NS - localStart);
    this.source = new GpsPpsSource(this.layer);
  }

  private at(trueNs: bigint): bigint {
    const local = this.osc.localAt(trueNs);
    if (local > this.clock.nowNs()) this.clock.advance(local - this.clock.nowNs());
    return local;
  }

  private ppsNoiseNs(): number {
    if (this.o.pps === 'gpio') {
      // Userspace edge: ~50 µs typical, a lognormal tail into milliseconds (event loop). Never early.
      return 30_000 + Math.exp(Math.log(25_000) + 0.9 * gaussian(this.rnd));
    }
    return gaussian(this.rnd) * (this.o.ppsJitterNs ?? 2_000);
  }

  /** Runs `seconds` of true time, probing the clock every second halfway between pulses. */
  run(seconds: number): void {
    const startSec = this.probes.length ? this.probes.at(-1)!.trueSec + 1 : 0;
    for (let s = startSec; s < startSec + seconds; s++) {
      const edgeTrue = BigInt(s) * 1_000_000_000n;
      const silent = this.o.outage?.(s) ?? false;
      for (const step of this.o.systemClockSteps ?? []) if (step.atSec === s) this.systemOffsetNs += step.stepNs;
      if (s % CONVERTER_REFRESH_SEC === 0) this.converterOffsetNs = this.systemOffsetNs;
      if (!silent && (this.o.pps ?? 'kernel') !== 'none') {
        const local = this.at(edgeTrue);
        const noise = BigInt(Math.round(this.ppsNoiseNs()));
        // Kernel: stamped in CLOCK_REALTIME, brought back with the converter's (maybe stale) offset.
        const monoNs = this.o.pps === 'gpio' ? local + noise : local + noise + this.systemOffsetNs - this.converterOffsetNs;
        this.source.addPulse({ monoNs, seq: s, missed: 0, errorNs: this.o.pps === 'gpio' ? GPIO_PPS_ERROR_NS : KERNEL_PPS_ERROR_NS, via: this.o.pps === 'gpio' ? 'gpio' : 'kernel' });
      }
      if (!silent) {
        const utcSec = Number(this.startUtcNs / 1_000_000_000n) + s + (this.o.labelErrorSec?.(s) ?? 0);
        for (const sentence of sentencesForSecond(utcSec, { latencyMs: this.o.nmeaLatencyMs ?? 150, sentences: ['RMC', 'GGA'] })) {
          const jitterNs = gaussian(this.rnd) * (this.o.nmeaJitterMs ?? 2) * 1e6;
          const arriveTrue = edgeTrue + BigInt(Math.max(1_000_000, Math.round(sentence.atNs + jitterNs)));
          const r = this.gate.pass(parseNmeaLine(sentence.text, this.at(arriveTrue)));
          if (r.kind === 'fix') {
            if (r.fix.valid && this.firstValidFixSec === undefined) this.firstValidFixSec = s + Number(arriveTrue - edgeTrue) / 1e9;
            this.source.onFix(r.fix);
          } else if (r.kind === 'context') this.source.onContext(r.context);
        }
      }
      const probeTrue = edgeTrue + 500_000_000n;
      const local = this.at(probeTrue);
      const ts = this.layer.timescale();
      this.probes.push({
        trueSec: s + 0.5,
        errorNs: Number(ts.utcAt(local) - (this.startUtcNs + probeTrue)),
        boundNs: ts.errorBoundAt(local),
        state: ts.state,
        source: ts.source,
      });
    }
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
