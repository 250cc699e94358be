import { sentencesForSecond } from '../../drivers/gps/emulator.js';
import { FixGate, parseNmeaLine } from '../../drivers/gps/nmea.js';
import { gaussian } from '../../drivers/pps/emulator.js';
import { GPIO_PPS_ERROR_NS } from '../../drivers/pps/gpio.js';
import { KERNEL_PPS_ERROR_NS } from '../../drivers/pps/sysfs.js';
import { VirtualClock } from '../time/clock.js';
import { ClockLayer } from '../time/clock-layer.js';
import type { FrequencyPrior } from '../time/sourcestats.js';
import { GpsPpsSource } from '../time/sources/gps-pps.js';
import { RtcSource, type RtcCalibration } from '../time/sources/rtc.js';
import { STEP_THRESHOLD_NS } from '../time/realtime-converter.js';
import { Ds3231Emulator } from '../../drivers/rtc/ds3231-emulator.js';
import { decodeTemperature, REG } from '../../drivers/rtc/registers.js';
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
  /** The converter's refresh: this long after an even second's edge (ms; default 50, before its label)... */
  converterRefreshAfterEdgeMs?: number;
  /** ...and skipped at these even seconds (every attempt preempted on a busy CPU). */
  converterRefreshSkipped?: (trueSec: number) => boolean;
  /** A kernel PPS stamp is read (and converted) this long after its edge (ms; the sysfs driver: ~20). */
  ppsReadLagMs?: number;
  /** A DS3231 with SQW wired: its rate at 25 °C, residual temperature curvature, initial offset. */
  rtc?: {
    ppm: number;
    tempCoeffPpmPerC2?: number;
    initialOffsetNs?: bigint;
    calibration?: RtcCalibration;
    conversionJitterPpm?: number;
  };
  /** A receiver with the week-rollover bug (dates 1024 weeks back), and the floor the driver knows. */
  rolloverBug?: boolean;
  floorUtcNs?: bigint;
  /** No GPS at all (an RTC-only device). */
  noGps?: boolean;
}

/** As RealtimeConverter: the realtime -> monotonic offset is re-measured every 2 s. */
const CONVERTER_REFRESH_SEC = 2;
const CONVERTER_REFRESH_AFTER_EDGE_NS = 50_000_000n;

export interface ClockProbe {
  trueSec: number;
  errorNs: number;
  boundNs: number;
  state: string;
  source: string;
}

export class ClockWorld {
  readonly clock: VirtualClock;
  layer: ClockLayer;
  source: GpsPpsSource;
  rtcSource?: RtcSource;
  /** The service process is running: without it the hardware ticks on but nobody listens. */
  up = true;
  /** (true, local) once a second: the inverse of the crystal, for placing heard audio in true time. */
  private readonly trueLocal: Array<[bigint, bigint]> = [];
  readonly rtcChip?: Ds3231Emulator;
  private trueNowNs = 0n;
  readonly probes: ClockProbe[] = [];
  private readonly osc: Oscillator;
  private readonly rnd: () => number;
  private gate = new FixGate();
  private readonly startUtcNs: bigint;
  firstValidFixSec?: number;
  readonly steps: Array<{ trueSec: number; stepNs: number; why: string }> = [];
  private systemOffsetNs = 0n;
  private localStart = 0n;
  private converterOffsetNs = 0n;

  constructor(readonly o: ClockWorldOptions) {
    this.rnd = seededRandom(o.seed);
    this.startUtcNs = BigInt(o.startUtcSec ?? 1_790_000_000) * 1_000_000_000n;
    this.osc = new Oscillator({
      ppm: o.sysPpm ?? -43,
      tempCoeffPpmPerC: o.sysTempCoeffPpmPerC ?? 0,
      randomWalkPpmPerSqrtS: o.sysRandomWalk ?? 0,
      temperatureC: o.temperatureC ? (t) => o.temperatureC!(Number(t) / 1e9) : undefined,
      random: this.rnd,
      startLocalNs: 123_456_789_000n, // the Pi has been up a while: its monotonic clock is not at 0
    });
    const localStart = this.osc.localAt(0n);
    this.localStart = localStart;
    this.clock = new VirtualClock(localStart);
    // The system clock of a Pi without network at boot: an hour off (whatever it saved at shutdown).
    this.layer = new ClockLayer(
      this.clock,
      { onStep: (ns, _ts, why) => this.steps.push({ trueSec: this.probes.length, stepNs: ns, why }) },
      () => this.startUtcNs + SYSTEM_CLOCK_ERROR_NS - localStart,
    );
    this.source = new GpsPpsSource(this.layer);
    if (o.rtc) {
      const startUtcNs = this.startUtcNs;
      this.rtcChip = new Ds3231Emulator({
        trueNowNs: () => startUtcNs + this.trueNowNs,
        basePpm: o.rtc.ppm,
        tempCoeffPpmPerC2: o.rtc.tempCoeffPpmPerC2,
        temperatureC: o.temperatureC ? (t) => o.temperatureC!(Number(t - startUtcNs) / 1e9) : undefined,
        initialOffsetNs: o.rtc.initialOffsetNs,
        // Its own stream: switching the RTC's white FM on leaves every other draw of the world as it was.
        conversionJitterPpm: o.rtc.conversionJitterPpm,
        random: seededRandom(o.seed * 31 + 7),
      });
      void this.rtcChip.writeByte(this.rtcChip.address, REG.CONTROL, 0); // INTCN=0, RS=00: 1 Hz on SQW
      this.rtcSource = new RtcSource(this.layer, o.rtc.calibration);
    }
  }

  /**
   * The process (re)starts: a fresh clock layer and sources on the same hardware (crystal, RTC,
   * GPS), seeded with the frequency the last run saved, as the service does from its state file.
   */
  restart(prior?: FrequencyPrior): void {
    this.layer = new ClockLayer(
      this.clock,
      { onStep: (ns, _ts, why) => this.steps.push({ trueSec: this.probes.length, stepNs: ns, why }) },
      () => this.startUtcNs + SYSTEM_CLOCK_ERROR_NS - this.localStart,
    );
    this.layer.setFrequencyPrior(prior);
    this.source = new GpsPpsSource(this.layer);
    if (this.rtcChip) this.rtcSource = new RtcSource(this.layer, this.o.rtc!.calibration);
    this.gate = new FixGate();
    this.up = true;
  }

  /** True time (ns from the start) at which the local clock read `localNs`. */
  trueAtLocal(localNs: bigint): bigint {
    const a = this.trueLocal;
    let lo = 0,
      hi = a.length - 1;
    if (hi < 0) return 0n;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (a[mid]![1] <= localNs) lo = mid;
      else hi = mid - 1;
    }
    const [t0, l0] = a[lo]!;
    const next = a[lo + 1];
    if (!next) {
      // Past the last second recorded (audio heard in the current second): extrapolate at the
      // crystal's latest rate, not the nominal one (which would cost ppm x up to a second).
      const prev = a[lo - 1];
      if (!prev) return t0 + (localNs - l0);
      return t0 + BigInt(Math.round((Number(localNs - l0) * Number(t0 - prev[0])) / Number(l0 - prev[1])));
    }
    const [t1, l1] = next;
    return t0 + BigInt(Math.round((Number(localNs - l0) * Number(t1 - t0)) / Number(l1 - l0)));
  }

  /** UTC at true time 0 of the run. */
  get startUtc(): bigint {
    return this.startUtcNs;
  }

  /**
   * The DS3231's temperature registers read over its (emulated) bus, as the service reads them: the
   * temperature of its last conversion, the one its rate follows. The emulator fills the buffer
   * before its promise settles, so the discrete-event loop can read it at once.
   */
  private rtcTemperatureC(): number {
    const buf = Buffer.alloc(2);
    void this.rtcChip!.readI2cBlock(this.rtcChip!.address, REG.TEMP_MSB, 2, buf).catch(() => {});
    return decodeTemperature(buf[0]!, buf[1]!);
  }

  /** SQW edges of the RTC in this second, each labelled by a time read 10 ms later. */
  private rtcSecond(fromTrue: bigint): void {
    const chip = this.rtcChip!;
    for (const edgeUtc of chip.sqwEdges(this.startUtcNs + fromTrue, this.startUtcNs + fromTrue + 1_000_000_000n)) {
      const edgeTrue = edgeUtc - this.startUtcNs;
      const jitter = BigInt(Math.round(gaussian(this.rnd) * 2_000));
      this.schedule(edgeTrue, () => {
        const m = this.at(edgeTrue) + jitter;
        if (this.up) this.rtcSource!.addEdge(m);
      });
      const readTrue = edgeTrue + 10_000_000n;
      this.schedule(readTrue, () => {
        const readMono = this.at(readTrue);
        const label = (chip.rtcNsAt(this.startUtcNs + readTrue) / 1_000_000_000n) * 1_000_000_000n;
        if (!this.up) return;
        const ts = this.layer.timescale();
        this.rtcSource!.addReading(
          label,
          readMono,
          ts.source === 'gps+pps' && ts.state === 'locked' ? ts : undefined,
          this.rtcTemperatureC(),
        );
      });
    }
  }

  private at(trueNs: bigint): bigint {
    if (trueNs > this.trueNowNs) this.trueNowNs = trueNs;
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

  /** The realtime converter's refresh: a step it sees is told to the GPS source, as the service wires it. */
  private refresh(atTrueNs: bigint): void {
    const jumpNs = this.systemOffsetNs - this.converterOffsetNs;
    this.converterOffsetNs = this.systemOffsetNs;
    if (Math.abs(Number(jumpNs)) > STEP_THRESHOLD_NS) this.source.systemClockStepped(Number(jumpNs), this.at(atTrueNs));
  }

  /** The refresh lands between an edge's read and its label by default (the race a stale pair comes from). */
  private scheduleRefresh(s: number, edgeTrue: bigint): void {
    if (s % CONVERTER_REFRESH_SEC !== 0 || this.o.converterRefreshSkipped?.(s)) return;
    const afterMs = this.o.converterRefreshAfterEdgeMs;
    const atTrue = edgeTrue + (afterMs === undefined ? CONVERTER_REFRESH_AFTER_EDGE_NS : BigInt(afterMs * 1e6));
    this.schedule(atTrue, () => this.refresh(atTrue));
  }

  /** Runs `seconds` of true time, probing the clock every second halfway between pulses. */
  run(seconds: number): void {
    const startSec = this.probes.length ? Math.floor(this.probes.at(-1)!.trueSec) + 1 : 0;
    for (let s = startSec; s < startSec + seconds; s++) {
      const edgeTrue = BigInt(s) * 1_000_000_000n;
      const silent = this.o.noGps || (this.o.outage?.(s) ?? false);
      for (const step of this.o.systemClockSteps ?? [])
        if (Math.floor(step.atSec) === s)
          this.schedule(BigInt(Math.round(step.atSec * 1e9)), () => (this.systemOffsetNs += step.stepNs));
      this.scheduleRefresh(s, edgeTrue);
      if (!silent && (this.o.pps ?? 'kernel') !== 'none') {
        const noise = BigInt(Math.round(this.ppsNoiseNs()));
        let local = 0n;
        let stampOffsetNs = 0n;
        this.schedule(edgeTrue, () => {
          local = this.at(edgeTrue);
          stampOffsetNs = this.systemOffsetNs; // the kernel stamps in CLOCK_REALTIME as it is at the edge
        });
        const readTrue = edgeTrue + BigInt(Math.round((this.o.ppsReadLagMs ?? 0) * 1e6));
        this.schedule(readTrue, () => {
          this.at(readTrue);
          // ...and the driver brings it back with the converter's offset at the read (maybe stale).
          const monoNs = this.o.pps === 'gpio' ? local + noise : local + noise + stampOffsetNs - this.converterOffsetNs;
          if (this.up)
            this.source.addPulse({
              monoNs,
              seq: s,
              missed: 0,
              errorNs: this.o.pps === 'gpio' ? GPIO_PPS_ERROR_NS : KERNEL_PPS_ERROR_NS,
              via: this.o.pps === 'gpio' ? 'gpio' : 'kernel',
            });
        });
      }
      if (!silent) {
        const utcSec = Number(this.startUtcNs / 1_000_000_000n) + s + (this.o.labelErrorSec?.(s) ?? 0);
        for (const sentence of sentencesForSecond(utcSec, {
          latencyMs: this.o.nmeaLatencyMs ?? 150,
          sentences: ['RMC', 'GGA'],
          rolloverBug: this.o.rolloverBug,
        })) {
          const jitterNs = gaussian(this.rnd) * (this.o.nmeaJitterMs ?? 2) * 1e6;
          const arriveTrue = edgeTrue + BigInt(Math.max(1_000_000, Math.round(sentence.atNs + jitterNs)));
          this.schedule(arriveTrue, () => {
            const mono = this.at(arriveTrue);
            if (!this.up) return;
            const r = this.gate.pass(parseNmeaLine(sentence.text, mono, { floorUtcNs: this.o.floorUtcNs }));
            if (r.kind === 'fix') {
              if (r.fix.valid && this.firstValidFixSec === undefined)
                this.firstValidFixSec = s + Number(arriveTrue - edgeTrue) / 1e9;
              this.source.onFix(r.fix);
            } else if (r.kind === 'context') this.source.onContext(r.context);
          });
        }
      }
      if (this.rtcChip && this.rtcSource) this.rtcSecond(edgeTrue);
      const probeTrue = edgeTrue + 500_000_000n;
      this.trueLocal.push([edgeTrue, this.osc.localAt(edgeTrue)]);
      this.schedule(probeTrue, () => {
        const local = this.at(probeTrue);
        const ts = this.layer.timescale();
        this.probes.push({
          trueSec: s + 0.5,
          errorNs: Number(ts.utcAt(local) - (this.startUtcNs + probeTrue)),
          boundNs: ts.errorBoundAt(local),
          state: ts.state,
          source: ts.source,
        });
      });
      this.drain(edgeTrue + 1_000_000_000n);
    }
  }

  private readonly queue: Array<{ t: bigint; order: number; fn: () => void }> = [];
  private order = 0;

  private schedule(t: bigint, fn: () => void): void {
    this.queue.push({ t, order: this.order++, fn });
  }

  /** Runs every queued event before `untilTrue`, in time order; later ones wait for the next second. */
  private drain(untilTrue: bigint): void {
    this.queue.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.order - b.order));
    while (this.queue.length && this.queue[0]!.t < untilTrue) this.queue.shift()!.fn();
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The largest value (NaN for none), by a loop: spreading a long ride's array into Math.max overflows the stack. */
export function maxOf(values: ArrayLike<number>): number {
  let m = values.length ? -Infinity : NaN;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}
