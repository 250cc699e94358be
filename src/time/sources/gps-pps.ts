import type { GpsSink, GpsTimeFix, GpsContext, GpsSky } from '../../../drivers/gps/types.js';
import type { PpsPulse, PpsSink } from '../../../drivers/pps/types.js';
import { median } from '../regress.js';
import type { SampleSink } from '../sample.js';
import { NS_PER_SEC } from '../timescale.js';

/**
 * GPS + PPS -> samples. The PPS edge gives the phase; the NMEA fix that follows it says which
 * second the edge was. Receivers send the label 0.1-0.5 s after the edge; we learn that latency and
 * pair an edge only with a label that arrives at a consistent delay, never by rounding.
 */

/** A label can arrive no sooner than this after its edge (serial time of even a short sentence). */
export const MIN_LABEL_DELAY_NS = 20_000_000;
/** ...and no later than this: past 990 ms it could as well label the next edge. */
export const MAX_LABEL_DELAY_NS = 990_000_000;
/** Learned-latency tolerance: SiRF receivers wobble ~170 ms, so allow 250 ms around the median. */
export const LABEL_DELAY_TOLERANCE_NS = 250_000_000;
/** Two labelled edges must agree with their labels to this (ns) plus 500 ppm of their spacing. */
export const PAIR_CONSISTENCY_NS = 2_000_000;
/**
 * Without PPS, an NMEA label is good to the receiver's unknown latency (100-500 ms after the second):
 * we assume the middle and bound by half the range. A millisecond-class source at best.
 */
export const NMEA_ASSUMED_DELAY_NS = 300_000_000;
export const NMEA_ONLY_ERROR_NS = 200_000_000;
/** Learned delay: serial jitter (~2 ms σ) and sentence-length changes keep it ms-class at best. */
export const NMEA_LEARNED_MIN_ERROR_NS = 10_000_000;
/**
 * A receiver whose labels move by whole seconds against the edges is either lying (a glitch) or
 * correcting itself (a cold receiver learning the GPS-UTC offset, broadcast every 12.5 min). Believe
 * the new labelling only after it held this many consecutive edges; until then, no samples.
 */
export const RELABEL_CONFIRM_EDGES = 60;
/**
 * After a step, fresh edges that miss the pair by the step and whole seconds re-pair once this many
 * agree: a receiver's glitch of a second can last a second or two (the relabel rule's own case).
 */
export const STEP_CANDIDATE_EDGES = 3;
/** A miss of the pair by more than this that matches a step is by a neighbouring label's second. */
const HALF_SECOND_NS = 500_000_000;
/** PPS silent this long means NMEA alone must serve. */
const PPS_SILENT_NS = 3_000_000_000n;
const DELAY_HISTORY = 16;

/** A pulse as the source keeps it: with the order it arrived in (driver seqs may restart). */
type HeldPulse = PpsPulse & { arrival: number };

/**
 * A system clock step the converter has told, until the first fresh edge to be labelled settles it.
 * Stale edges arrived before the news (converted with the old offset, `jumpNs` late); an edge stamped
 * before the step but read after the news is converted with the new one (−jumpNs): neither is fresh.
 */
interface PendingStep {
  jumpNs: number;
  lastStaleArrival: number;
  /** Monotonic time of the news. */
  atMonoNs: bigint;
  /** Fresh edges that missed the pair by −jumpNs and whole seconds, agreeing with each other. */
  candidate?: { monoNs: bigint; utcNs: bigint; edges: number };
}

export interface GpsPpsStatus {
  pulses: number;
  labelled: number;
  rejected: number;
  lastRejectReason?: string;
  labelDelayMs?: number;
  satellites?: number;
  quality?: number;
  /** The receiver's sky (fix mode, satellites in view and used with SNR, DOP) when it sends GSA/GSV. */
  sky?: GpsSky;
  /** What is wrong with the PPS device now (unreadable, garbage, frozen), as its driver says it. */
  ppsFault?: string;
}

export class GpsPpsSource implements GpsSink, PpsSink {
  private pulses: HeldPulse[] = [];
  private delaysNs: number[] = [];
  private lastPair?: { monoNs: bigint; utcNs: bigint };
  private relabel?: { shiftSec: number; edges: number; last: { monoNs: bigint; utcNs: bigint } };
  private usedSeq = new Set<number>();
  /** A system clock step not yet settled: see systemClockStepped. */
  private step?: PendingStep;
  private relabels = 0;
  readonly status: GpsPpsStatus = { pulses: 0, labelled: 0, rejected: 0 };

  constructor(
    private readonly sink: SampleSink,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  addPulse(pulse: PpsPulse): void {
    this.status.pulses++;
    this.pulses.push({ ...pulse, arrival: this.status.pulses });
    if (this.pulses.length > 4) this.pulses.shift();
  }

  onContext(ctx: GpsContext): void {
    this.status.satellites = ctx.satellites;
    this.status.quality = ctx.quality;
  }

  onSky(sky: GpsSky): void {
    this.status.sky = sky;
  }

  onStatus(message: string): void {
    this.log(message);
  }

  onFault(message: string | undefined): void {
    this.status.ppsFault = message;
  }

  onFix(fix: GpsTimeFix): void {
    if (!fix.valid || fix.utcNs === null) return;
    const lastPulse = this.pulses.at(-1);
    if (!lastPulse || fix.monoNs - lastPulse.monoNs > PPS_SILENT_NS) {
      this.nmeaOnly(fix);
      return;
    }
    if (fix.utcNs % NS_PER_SEC !== 0n) return; // labels an epoch between seconds: no edge there
    const relabelsBefore = this.relabels;
    const pulse = this.findEdge(fix);
    if (!pulse) return;
    const restart = this.relabels !== relabelsBefore;
    this.usedSeq.add(pulse.seq);
    if (this.usedSeq.size > 8) this.usedSeq.delete(this.usedSeq.values().next().value!);
    const delayNs = Number(fix.monoNs - pulse.monoNs);
    this.delaysNs.push(delayNs);
    if (this.delaysNs.length > DELAY_HISTORY) this.delaysNs.shift();
    this.status.labelDelayMs = median(this.delaysNs) / 1e6;
    this.lastPair = { monoNs: pulse.monoNs, utcNs: fix.utcNs };
    this.status.labelled++;
    this.sink.addSample({
      monoNs: pulse.monoNs,
      utcNs: fix.utcNs,
      errorNs: pulse.errorNs,
      source: 'gps+pps',
      lateOnly: pulse.via === 'gpio',
      restart,
    });
  }

  /**
   * The system clock stepped by `jumpNs`, seen at `atMonoNs` (the converter's new offset in use).
   * Edges that arrived before this news may be converted stale, `jumpNs` late; one of them may be
   * the pair, and then every right edge after it misses by −jumpNs (the pair check's tolerance grows
   * only 0.5 ms a second: ~1 min for 30 ms, never for a step near a label's delay, which pairs a
   * stale edge with the next second's label). Until the first fresh edge is labelled, a stale edge
   * nearer the step than the pair is rejected; that fresh edge fits the pair (kept), or misses it by
   * −jumpNs (pairs afresh; give or take whole seconds, once STEP_CANDIDATE_EDGES agree), or neither.
   */
  systemClockStepped(jumpNs: number, atMonoNs: bigint): void {
    this.step = { jumpNs, lastStaleArrival: this.status.pulses, atMonoNs };
  }

  /** The unused edge this label belongs to, or undefined (counted and explained) when none fits. */
  private findEdge(fix: GpsTimeFix): HeldPulse | undefined {
    const candidates = this.pulses.filter((p) => {
      const d = Number(fix.monoNs - p.monoNs);
      return d >= MIN_LABEL_DELAY_NS && d <= MAX_LABEL_DELAY_NS && !this.usedSeq.has(p.seq);
    });
    if (candidates.length === 0) return undefined; // a second sentence for an edge already labelled
    const pulse = candidates.at(-1)!;
    if (pulse.via === 'gpio') this.step = undefined; // stamped on the monotonic clock: no step reaches it
    // A fresh edge settles a pending step, judged by the pair, not by delays stale pairs may have taught.
    const step = this.step && isFresh(pulse, this.step) ? this.step : undefined;
    if (step) this.step = undefined;
    const delayNs = Number(fix.monoNs - pulse.monoNs);
    if (!step && this.delaysNs.length >= 3 && Math.abs(delayNs - median(this.delaysNs)) > LABEL_DELAY_TOLERANCE_NS) {
      return this.reject(`label ${delayNs / 1e6} ms after its edge, learned ${median(this.delaysNs) / 1e6} ms`);
    }
    if (!this.lastPair) return pulse;
    const dUtc = Number(fix.utcNs! - this.lastPair.utcNs);
    const tolerance = PAIR_CONSISTENCY_NS + 500e-6 * Math.abs(dUtc);
    const missNs = pairMissNs(this.lastPair, pulse, fix);
    // A stale edge nearer the step than the pair would become a stale pair (a small step, or a long gap).
    if (this.step && !step && Math.abs(missNs - this.step.jumpNs) < Math.abs(missNs))
      return this.reject(
        `edge converted before the system clock step of ${(this.step.jumpNs / 1e6).toFixed(3)} ms was seen`,
      );
    if (Math.abs(missNs) <= tolerance) {
      this.relabel = undefined;
      return pulse;
    }
    if (step) {
      const settled = this.settleStep(pulse, fix, step, missNs, tolerance);
      if (settled !== 'not the step') return settled;
    }
    return this.checkRelabel(pulse, fix, missNs, dUtc, tolerance);
  }

  /**
   * A fresh edge off the pair after a step: off by just −jumpNs, the pair was stale (re-pair); off by
   * that and whole seconds, a stale edge took a neighbouring second's label, or this label is a
   * receiver's glitch: re-paired only once STEP_CANDIDATE_EDGES fresh edges agree.
   */
  private settleStep(
    pulse: HeldPulse,
    fix: GpsTimeFix,
    step: PendingStep,
    missNs: number,
    tolerance: number,
  ): HeldPulse | undefined | 'not the step' {
    const seconds = secondsOffStep(missNs, step.jumpNs, tolerance);
    // A miss of a second or more that matches the step is a neighbouring label's: a glitch can match too.
    if (seconds === 0 && Math.abs(missNs) < HALF_SECOND_NS) return this.repair(pulse, step.jumpNs);
    const c = step.candidate;
    const agrees = c && Math.abs(pairMissNs(c, pulse, fix)) <= tolerance;
    if (!agrees && seconds === undefined) return 'not the step';
    const edges = agrees ? c.edges + 1 : 1;
    if (edges >= STEP_CANDIDATE_EDGES) return this.repair(pulse, step.jumpNs);
    this.step = { ...step, candidate: { monoNs: pulse.monoNs, utcNs: fix.utcNs!, edges } };
    return this.reject(
      `edge off the pair by the system clock step and whole seconds: ${edges}/${STEP_CANDIDATE_EDGES} edges to agree`,
    );
  }

  /** Labels that moved by whole seconds: believed only after they held RELABEL_CONFIRM_EDGES edges. */
  private checkRelabel(
    pulse: HeldPulse,
    fix: GpsTimeFix,
    missNs: number,
    dUtc: number,
    tolerance: number,
  ): HeldPulse | undefined {
    const shiftSec = Math.round(-missNs / 1e9);
    const wholeSeconds = shiftSec !== 0 && Math.abs(missNs + shiftSec * 1e9) <= tolerance;
    const why = `label ${dUtc / 1e9} s after the previous one but edges ${(dUtc + missNs) / 1e9} s apart`;
    if (!wholeSeconds) return this.reject(why);
    const r = this.relabel;
    const holds = r && r.shiftSec === shiftSec && Math.abs(pairMissNs(r.last, pulse, fix)) <= tolerance;
    this.relabel = { shiftSec, edges: holds ? r!.edges + 1 : 1, last: { monoNs: pulse.monoNs, utcNs: fix.utcNs! } };
    if (this.relabel.edges < RELABEL_CONFIRM_EDGES)
      return this.reject(`${why} (${this.relabel.edges}/${RELABEL_CONFIRM_EDGES} edges of a ${shiftSec} s relabel)`);
    this.log(
      `GPS labels moved by ${shiftSec} s and held for ${RELABEL_CONFIRM_EDGES} s: believing them (a receiver correcting its UTC offset?)`,
    );
    this.relabel = undefined;
    this.relabels++;
    return pulse;
  }

  /** The pair was made across a system clock step: this edge pairs afresh, and the samples restart. */
  private repair(pulse: HeldPulse, jumpNs: number): HeldPulse {
    this.log(
      `PPS edges ${(jumpNs / 1e6).toFixed(3)} ms off the labelled pair, as the system clock stepped: pairing afresh`,
    );
    this.delaysNs = []; // learned from stale pairs
    this.relabel = undefined;
    this.relabels++;
    return pulse;
  }

  private reject(reason: string): undefined {
    this.status.rejected++;
    this.status.lastRejectReason = reason;
    return undefined;
  }

  private nmeaOnly(fix: GpsTimeFix): void {
    if (fix.utcNs! % NS_PER_SEC !== 0n || fix.sentence !== 'RMC') return; // one sample per second
    // With PPS seen before, the receiver's own delay is known to the spread of its wobble.
    const learned = this.delaysNs.length >= 3;
    const delayNs = learned ? median(this.delaysNs) : NMEA_ASSUMED_DELAY_NS;
    const spreadNs = learned ? Math.max(...this.delaysNs) - Math.min(...this.delaysNs) : 0;
    this.sink.addSample({
      monoNs: fix.monoNs - BigInt(Math.round(delayNs)),
      utcNs: fix.utcNs!,
      errorNs: learned ? Math.max(NMEA_LEARNED_MIN_ERROR_NS, 3 * spreadNs) : NMEA_ONLY_ERROR_NS,
      source: 'gps',
    });
  }
}

/** How far an edge misses a labelled pair (ns): edges apart minus labels apart. */
function pairMissNs(pair: { monoNs: bigint; utcNs: bigint }, pulse: PpsPulse, fix: GpsTimeFix): number {
  return Number(pulse.monoNs - pair.monoNs) - Number(fix.utcNs! - pair.utcNs);
}

/** An edge converted after the news of a step, and stamped after it. */
function isFresh(pulse: HeldPulse, step: PendingStep): boolean {
  const earliestFreshNs = step.atMonoNs + BigInt(Math.max(0, -step.jumpNs));
  return pulse.arrival > step.lastStaleArrival && pulse.monoNs > earliestFreshNs;
}

/**
 * A fresh edge off a stale pair misses it by −jumpNs, or by that plus whole seconds when the stale
 * edge took a neighbouring second's label: those seconds, else undefined. A step of whole seconds
 * is left to the relabel rule: it cannot be told from a receiver's relabelling.
 */
function secondsOffStep(missNs: number, jumpNs: number, toleranceNs: number): number | undefined {
  const offNs = (x: number) => Math.abs(x - Math.round(x / 1e9) * 1e9);
  if (offNs(jumpNs) <= toleranceNs || offNs(missNs + jumpNs) > toleranceNs) return undefined;
  return Math.round((missNs + jumpNs) / 1e9);
}
