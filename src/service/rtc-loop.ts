import type { Ds3231 } from '../../drivers/rtc/ds3231.js';
import { SysfsPps, type RealtimeToMono } from '../../drivers/pps/sysfs.js';
import type { ClockLayer } from '../time/clock-layer.js';
import type { MonotonicClock, TimerHandle } from '../time/clock.js';
import type { DriftLog } from '../time/drift-log.js';
import type { RtcCalibration, RtcSource } from '../time/sources/rtc.js';
import { rtcSetHeld, writeRtcCalibration } from '../time/rtc-calibration.js';
import { RtcTemperature } from './rtc-temperature.js';

/**
 * Drives the DS3231: an SQW edge (second kernel PPS device) triggers a time read that labels it;
 * without SQW the seconds register is polled around the expected rollover. Each labelled second
 * goes to the RTC source (measurement while GPS is locked, sample otherwise). On a GPS lock the RTC
 * is set on the second when it is off by more than SET_THRESHOLD_NS or lost power.
 */

/** Set the RTC from GPS when it is off by more than this: 1 ms is far above what an aligned write leaves. */
export const SET_THRESHOLD_NS = 1_000_000;
/** Measurements needed before the RTC's offset is trusted enough to decide a set. */
const MEASUREMENTS_BEFORE_SET = 10;
/**
 * Sets per run before giving up: a set is checked by measuring again, and one that did not land (a
 * reference still settling, a retried write) is done again; a chip still off after this many is
 * said, not set forever.
 */
const MAX_SETS_PER_RUN = 3;
/** Polling without SQW: start this long before the expected rollover, then read every POLL_MS. */
const POLL_LEAD_MS = 15;
/**
 * Timers that keep overshooting (a busy Pi) double the lead, up to this; it shrinks back by 1 ms a
 * second once they do not: ~50 one-byte reads a second at worst, not a rollover lost every other second.
 */
const POLL_LEAD_MAX_MS = 250;
const POLL_MS = 1;
/** The dense reads' phase steps by this fraction of their spacing each second (the golden ratio's: never repeats). */
const GOLDEN_FRACTION = 0.618_034;
const SECOND_NS = 1_000_000_000n;

export interface RtcLoopOptions {
  rtc: Ds3231;
  source: RtcSource;
  clock: ClockLayer;
  nowNs: () => bigint;
  /** Timers for polling the seconds register (the injected monotonic clock). */
  timers: MonotonicClock;
  /** Kernel PPS file of the SQW line, or undefined to poll the seconds register. */
  sqwPath?: string;
  converter: RealtimeToMono;
  setOnLock: boolean;
  log: (level: 'info' | 'warn', message: string) => void;
  driftLog?: DriftLog;
  /** Where to keep the RTC's measured rate and last set (read at start by the chain). */
  calibrationPath?: string;
  calibration?: RtcCalibration;
  /** The chip and its reference are twins: the calibration written says so. */
  simulated?: boolean;
}

/** A read labels the edge before it only if it came within this (the read follows the edge by ms). */
const EDGE_LABEL_MAX_NS = 500_000_000n;
/** After a set, edges already on their way carry the old phase: ignore them this long. */
const SETTLE_AFTER_SET_NS = 1_500_000_000n;
/** Save the measured rate once this many seconds of measurements back it (10 min: ±0.01 ppm). */
const SAVE_RATE_AFTER_MEASUREMENTS = 600;

export class RtcLoop {
  private sqw?: SysfsPps;
  private pollTimer?: TimerHandle;
  private stopped = false;
  private untrustworthySaid = false;
  private heldSaid = false;
  private setDone = false;
  private sets = 0;
  private reading = false;
  private lastPoll?: { seconds: number; startMonoNs: bigint; endMonoNs: bigint };
  private polledEdges = 0;
  private lastEdgeMonoNs?: bigint;
  /** The last poll round slept past its rollover (see sleptPastEdge). */
  private skippedLast = false;
  /** The worst set's lateness plus write time (ns): how close a set can land on this machine. */
  private worstSetErrorNs = 0;
  /** How long before the expected rollover the dense reads begin (ms): see POLL_LEAD_MAX_MS. */
  private pollLeadMs = POLL_LEAD_MS;
  /** The seconds register just after the last polled edge: the first read of the next round must still show it. */
  private lastEdgeSeconds?: number;
  private ignoreEdgesUntilNs = 0n;
  private readonly temperature: RtcTemperature;

  constructor(private readonly o: RtcLoopOptions) {
    this.temperature = new RtcTemperature({ read: () => o.rtc.temperatureC(), timers: o.timers, log: o.log });
  }

  /** The chip's temperature (°C), read every 64 s; undefined when it is not known now (see RTC_TEMP_MAX_AGE_NS). */
  get temperatureC(): number | undefined {
    return this.temperature.c;
  }

  async start(): Promise<void> {
    const first = await this.o.rtc.read(); // fails here, with its hint, if the chip is not there
    if (!first.trustworthy) this.sayUntrustworthy(first.reason!);
    await this.o.rtc.enableSqw1Hz({ batteryBacked: false });
    this.temperature.start();
    if (this.o.sqwPath) {
      this.sqw = new SysfsPps(
        { path: this.o.sqwPath, converter: this.o.converter },
        {
          addPulse: (p) => {
            if (p.monoNs < this.ignoreEdgesUntilNs) return; // an edge of the old phase, from before the set
            this.lastEdgeMonoNs = p.monoNs;
            this.o.source.addEdge(p.monoNs, p.errorNs);
            void this.readAndLabel();
          },
          onStatus: (m) => this.o.log('warn', `RTC SQW: ${m}`),
        },
      );
      await this.sqw.start();
    } else {
      this.poll();
    }
  }

  private sayUntrustworthy(reason: string): void {
    if (this.untrustworthySaid) return;
    this.untrustworthySaid = true;
    this.o.log('warn', `DS3231: ${reason}; it will be set from GPS when GPS locks`);
  }

  private async readAndLabel(): Promise<void> {
    if (this.reading || this.stopped) return;
    this.reading = true;
    try {
      const r = await this.o.rtc.read();
      const ts = this.o.clock.timescale();
      const reference = ts.source === 'gps+pps' && ts.state === 'locked' ? ts : undefined;
      if (!r.trustworthy) {
        this.sayUntrustworthy(r.reason!);
      } else {
        this.o.source.addReading(r.utcNs, r.monoNs, reference, this.temperatureC);
        const d = this.o.source.drift;
        if (reference && d) {
          this.o.driftLog?.add({
            kind: 'rtc',
            monoNs: r.monoNs,
            utcNs: reference.utcAt(r.monoNs),
            rtcMinusUtcNs: d.offsetNs,
            rtcRatePpm: d.ratePpm,
            rtcTempC: this.temperatureC,
            ...this.edgeOffset(r, reference),
          });
          if (d.measurements >= SAVE_RATE_AFTER_MEASUREMENTS && d.measurements % SAVE_RATE_AFTER_MEASUREMENTS === 0) {
            await this.saveCalibration(
              { ratePpm: d.ratePpm, rateUncertaintyPpm: Math.max(3 * d.rateStdPpm, 0.01) },
              reference.utcAt(r.monoNs),
            );
          }
        }
      }
      // Never after stop(): a service shutting down must not write the chip.
      if (reference && this.o.setOnLock && !this.setDone && !this.stopped)
        await this.maybeSet(reference, r.trustworthy);
    } catch (e) {
      this.o.log('warn', (e as Error).message);
    } finally {
      this.reading = false;
    }
  }

  /**
   * This one edge against the reference (RTC second minus UTC at the edge, ns): what `calibrate`
   * fits (rtcMinusUtcNs is the source's fitted intercept, which moves only at each refit).
   */
  private edgeOffset(
    r: { utcNs: bigint; monoNs: bigint },
    reference: import('../time/timescale.js').Timescale,
  ): { edgeOffsetNs?: number } {
    const edge = this.lastEdgeMonoNs;
    if (edge === undefined || r.monoNs - edge > EDGE_LABEL_MAX_NS || r.monoNs < edge) return {};
    return { edgeOffsetNs: Number((r.utcNs / 1_000_000_000n) * 1_000_000_000n - reference.utcAt(edge)) };
  }

  private async maybeSet(reference: import('../time/timescale.js').Timescale, trustworthy: boolean): Promise<void> {
    // `calibrate record` measuring this chip: a set would be fitted as drift.
    const held = this.o.calibrationPath ? await rtcSetHeld(this.o.calibrationPath) : undefined;
    if (held) {
      if (!this.heldSaid) this.o.log('info', held);
      this.heldSaid = true;
      return;
    }
    const d = this.o.source.drift;
    const off = d && d.measurements >= MEASUREMENTS_BEFORE_SET ? Math.abs(d.offsetNs) : undefined;
    // Off only beyond the threshold AND beyond what this machine can measure: a slow one (an
    // emulator, a busy Pi Zero) must not set a good chip three times and then call it faulty.
    const within = off !== undefined && (off <= SET_THRESHOLD_NS || off <= d!.offsetUncertaintyNs);
    if (trustworthy && (off === undefined || within)) {
      if (off === undefined) return;
      // Measured and close enough: leave it be (and, after a set, say that it landed).
      this.setDone = true;
      const ms = (ns: number) => (ns / 1e6).toFixed(3);
      const noisy =
        off > SET_THRESHOLD_NS ? `, within what this machine can measure (±${ms(d!.offsetUncertaintyNs)} ms)` : '';
      if (this.sets) this.o.log('info', `DS3231 checked after the set: ${ms(off)} ms from GPS${noisy}`);
      else if (noisy) this.o.log('info', `DS3231 reads ${ms(off)} ms from GPS${noisy}: not set`);
      return;
    }
    if (this.sets >= MAX_SETS_PER_RUN) {
      this.setDone = true;
      // Off by a measured amount, or (no measurement) still reading as untrustworthy after the sets.
      const still = trustworthy
        ? `${(off! / 1e6).toFixed(3)} ms from GPS`
        : 'reading as not set (see the warning above)';
      // A set lands no closer than its own write's lateness and length: on a slow machine that is the cause.
      const slowWrites = trustworthy && off! <= this.worstSetErrorNs + d!.offsetUncertaintyNs;
      const why = slowWrites
        ? `its writes landed up to ${(this.worstSetErrorNs / 1e6).toFixed(3)} ms late on this machine, a slow or busy CPU: a set cannot land closer`
        : 'a bus that fails writes, or a chip that does not keep its time: see jaudiosync clock sources -v';
      this.o.log('warn', `DS3231 still ${still} after ${this.sets} sets: not setting it again this run (${why})`);
      return;
    }
    const target = Number(reference.utcAt(this.o.nowNs()) / 1_000_000_000n) + 2;
    const res = await this.o.rtc.setAligned(target, (u) => reference.monoAt(u));
    // Every set is checked: the chip is measured again (MEASUREMENTS_BEFORE_SET readings) and set
    // again if it is still off by more than the threshold (a write that started late, a reference
    // that was still settling when the set was timed).
    this.sets++;
    this.worstSetErrorNs = Math.max(this.worstSetErrorNs, Math.abs(res.lateNs) + res.writeNs);
    this.o.source.resetMeasurements();
    this.ignoreEdgesUntilNs = this.o.nowNs() + SETTLE_AFTER_SET_NS;
    // Bus time and our own lateness bound how well the set landed.
    await this.saveCalibration({
      setAtUtcNs: BigInt(target) * 1_000_000_000n,
      setErrorNs: Math.abs(res.lateNs) + res.writeNs,
    });
    this.o.log(
      'info',
      `DS3231 set from GPS on the second (${trustworthy ? `it was ${(off! / 1e6).toFixed(3)} ms off` : 'it had lost power'}); write started ${(res.lateNs / 1e3).toFixed(0)} µs late: measuring it again`,
    );
  }

  private async saveCalibration(update: Partial<RtcCalibration>, measuredAtUtcNs?: bigint): Promise<void> {
    const merged: RtcCalibration = { ratePpm: 0, rateUncertaintyPpm: 2, ...this.o.calibration, ...update };
    this.o.calibration = merged;
    if (!this.o.calibrationPath) return;
    try {
      await writeRtcCalibration(
        this.o.calibrationPath,
        merged,
        measuredAtUtcNs,
        (m) => this.o.log('warn', m),
        this.o.simulated,
      );
    } catch (e) {
      this.o.log('warn', `cannot write the RTC calibration ${this.o.calibrationPath}: ${(e as Error).message}`);
    }
  }

  /**
   * No SQW: catch the seconds register rolling over, reading it alone densely just before it is due.
   * The chip latches at each read's START, so the edge lies between the two reads' starts (not their
   * returns: that would place it a read's bus time late). The dense reads begin at a phase that moves
   * by a fraction of their spacing every second, so the edges' placement errors average out instead
   * of repeating the same offset.
   */
  private poll(): void {
    if (this.stopped) return;
    void (async () => {
      try {
        const r = await this.o.rtc.readSeconds();
        const prev = this.lastPoll;
        if (!prev && this.sleptPastEdge(r.startMonoNs, r.seconds)) return;
        this.lastPoll = r;
        if (prev && r.seconds !== prev.seconds) {
          const edge = prev.startMonoNs + (r.startMonoNs - prev.startMonoNs) / 2n;
          // Half the gap between the starts, plus the call's own span (where in it the START fell).
          this.o.source.addEdge(
            edge,
            Number(r.startMonoNs - prev.startMonoNs) / 2 + Number(r.endMonoNs - r.startMonoNs),
          );
          this.lastEdgeMonoNs = edge;
          this.lastEdgeSeconds = r.seconds;
          this.lastPoll = undefined;
          void this.readAndLabel();
          this.polledEdges++;
          const ditherNs = ((this.polledEdges * GOLDEN_FRACTION) % 1) * POLL_MS * 1e6;
          this.pollLeadMs = Math.max(POLL_LEAD_MS, this.pollLeadMs - 1);
          this.pollTimer = this.o.timers.setTimer((1000 - this.pollLeadMs) * 1e6 + ditherNs, () => this.poll());
          return;
        }
      } catch (e) {
        this.lastPoll = undefined;
        this.o.log('warn', (e as Error).message);
      }
      this.pollTimer = this.o.timers.setTimer((this.lastPoll === undefined ? 100 : POLL_MS) * 1e6, () => this.poll());
    })();
  }

  /**
   * The first read after the sleep came after the rollover it was to catch (a timer late by more than
   * the lead: a busy Pi): reading densely would last a whole second. Sleep to the next rollover, with
   * twice the lead, instead; a second time in a row (the chip's phase moved: a set) the dense reads
   * find it.
   */
  private sleptPastEdge(readMonoNs: bigint, seconds: number): boolean {
    const edge = this.lastEdgeMonoNs;
    const overshot = edge !== undefined && !this.skippedLast && seconds !== this.lastEdgeSeconds;
    this.skippedLast = overshot;
    if (!overshot) return false;
    this.pollLeadMs = Math.min(POLL_LEAD_MAX_MS, this.pollLeadMs * 2);
    const nextEdge = edge + ((readMonoNs - edge) / SECOND_NS + 1n) * SECOND_NS;
    const delayNs = Number(nextEdge - readMonoNs) - this.pollLeadMs * 1e6;
    this.pollTimer = this.o.timers.setTimer(Math.max(0, delayNs), () => this.poll());
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.temperature.stop();
    this.sqw?.stop();
    this.pollTimer?.cancel();
  }
}
