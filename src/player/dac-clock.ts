import { bestStep, fitLine, quantile } from '../time/regress.js';
import { signed } from '../util/format.js';

/**
 * The audio device's clock as seen from the local monotonic clock: when stream period p leaves the
 * device queue, learned from callback times. Callbacks reach JS late (event loop, audio thread
 * wake-ups), never early, so the truth is the lower envelope of (period, time). Pure math: no I/O.
 *
 * A clock that knows its own noise (callbacks jitter by ms with a heavy tail; a rate fitted from
 * seconds of them is tens of ppm off, and a line refitted to that noise makes the player wander):
 *  - Rate: the prior (the rate a previous run saved, else nominal; a fit that disagrees with it beyond
 *    DAC_PRIOR_REJECT_SIGMAS is not joined, and drops a saved one only once steady), joined by a fit of the envelope
 *    with inverse-variance weights once the fit knows the rate to DAC_ADOPT_SIGMA_PPM: the prior
 *    rules until the fit knows better than it. The fit is a line through block minima (the earliest
 *    callback of every DAC_BLOCK): a stall or a late burst never lowers a minimum, only the
 *    least-delayed callbacks count. Its uncertainty is the fit's own standard error plus what the
 *    floor's slow wander (DAC_FLOOR_WANDER_NS) can tilt a line over the span fitted.
 *  - Offset: from the earliest callbacks. Each callback bounds the line from above (it cannot be
 *    early); the tightest bound, with the rate's uncertainty as slack over the distance, is the
 *    offset: recent callbacks count while the rate is uncertain, all back to DAC_OFFSET_HORIZON_NS
 *    (the window's, then the envelope samples before it) once it is known.
 *  - A new estimate replaces the line in use when it is earlier (a callback proved the line late),
 *    or later by more than its own noise (how far successive estimates move), or when the rate
 *    moved beyond its uncertainty: corrections inside the noise are not applied, so an ideal device
 *    is left alone. (Allowing a later estimate the rate's uncertainty over the distance as well was
 *    tried on bench/dac-floor.ts: no better, the moves that matter are earlier estimates.)
 *  - Held while the music plays on (`hold`, set by the player between discontinuities): the floor
 *    itself wanders (DAC_FLOOR_WANDER_NS), so an estimate that moves by less than DAC_HOLD_NS moved
 *    nothing at the device, only the callbacks' least delay. Once the offset was learned from
 *    DAC_HOLD_AFTER_NS of callbacks and the rate is known to DAC_HOLD_MAX_SIGMA_PPM, such an estimate
 *    keeps the line's place now (the newest rate turns the line about now), drifting toward it
 *    slowly; a larger one moves it by the excess. On bench/dac-floor.ts (a saved rate; music 10 or
 *    30 s after the stream opened) the worst move within a track fell from 73-103 to 42-51 µs on the
 *    wandering floors, the start unchanged.
 *  - A moved grid: callbacks all later than the line by more than DAC_SHIFT_MIN_NS for
 *    DAC_SHIFT_SPAN_NS (at the device's cadence, not a burst after a stall) mean its periods now
 *    come later than learned, with no xrun reported (a device or sound server that stalled; JACK's
 *    dummy driver restarts its schedule when late): the clock is learned again from those callbacks
 *    (keeping the rate) and `gridMoves` counts it, so the player re-places. Timed by the audio
 *    thread, a move of ms (DAC_JUMP_MIN_NS) is found in ~8 callbacks (see there). An earlier grid needs
 *    no detector: an early callback proves the line late at once.
 *  - A smaller move later (a step of DAC_RATE_STEP_MIN_NS up to DAC_SHIFT_MIN_NS, which callback
 *    jitter hides from watchGrid) is found by the rate fit as a step in the envelope, within about
 *    DAC_STEP_MIN_BLOCKS blocks (~11 s at 1024 frames) of it: the offset is then learned from the
 *    callbacks after it, the line follows at once, held or not (the music resamples onto it), and
 *    `periodSteps` counts it. Before, the old grid's callbacks kept the line early by the step until
 *    they left the window (~21 s).
 *  - Savable: a rate is offered for saving (`savableRate`), with its uncertainty, only when a fit
 *    joined it, is known to DAC_SAVE_MAX_SIGMA_PPM, is not at the clamp, and no fault was reported
 *    since the last reset. The next start weighs it by that uncertainty grown by what can have moved
 *    the crystal since (dacPriorFromSaved): a short run's rate, known to a few ppm, still beats the
 *    nominal prior, and runs at one temperature tighten it in turn (each start's prior is the last
 *    run's result: 4.1 -> 1.7 ppm over six 30 s runs in test/dac-clock.test.ts).
 */

/** A device's rate against the local clock (+ = fast) and its 1σ uncertainty, as saved between runs. */
export interface DacRate {
  ppm: number;
  sigmaPpm: number;
}

/** Raw observations kept for the offset: ~20 s of 1024-frame periods. */
export const DAC_WINDOW = 1000;
/**
 * The offset is bounded by the earliest callbacks back this far (ns): the window's, then the envelope
 * samples before it. On the JACK rig (bench/callback-floor.ts, idle) the deepest callback of each 10 s
 * sat 0-144 µs above a minute's deepest, and a 21 s window's floor up to ~100 µs above it; a known rate
 * (a saved one, ±1 ppm) carries a callback a minute old to ±60 µs, as the slack allows for. Longer, an
 * unreported step later under DAC_RATE_STEP_MIN_NS would hold the line early for longer.
 */
export const DAC_OFFSET_HORIZON_NS = 60_000_000_000;
/** Block length (observations) of the envelope samples the rate is fitted through. */
export const DAC_BLOCK = 16;
/**
 * Callbacks later than the line by more than this (ns) for DAC_SHIFT_SPAN_NS mean the grid moved: 2 ms is
 * above the loaded rig's everyday lateness (p99 ~2.1 ms above the envelope, the tail rarely twice in a row)
 * and below the smallest unreported grid move seen on it (3.5 ms).
 */
export const DAC_SHIFT_MIN_NS = 2_000_000;
/** ...over this span of arrival times (ns): a burst after a stall arrives at once; a moved grid keeps its cadence. */
export const DAC_SHIFT_SPAN_NS = 1_000_000_000;
/** ...and at least this many callbacks. */
const DAC_SHIFT_MIN_CALLBACKS = 2 * DAC_BLOCK;
/**
 * Timed by the audio thread (not the event loop), callbacks later than the line by more than this (ns)
 * for DAC_JUMP_MIN_CALLBACKS in a row at the device's cadence mean the grid moved by ms at once (JACK's
 * dummy driver restarting its schedule after a stall, 20-60 ms on the rig): found in ~0.17 s rather
 * than DAC_SHIFT_SPAN_NS, so less of the music plays on the old grid. On the JACK rig
 * (bench/callback-floor.ts, 150 s each, test/fixtures/jack-thread-stamps-*.txt) the audio thread's
 * stamps came later than their floor by more than 8 ms at most twice in a row idle, never under two
 * busy loops. The event loop's arrivals are left to the slower watch: they were 8 ms late 136 times in
 * the same idle 150 s, and the main thread shares its CPU with whatever else runs, where the audio
 * thread is realtime. Smaller moves are left to it too.
 */
export const DAC_JUMP_MIN_NS = 8_000_000;
export const DAC_JUMP_MIN_CALLBACKS = 8;
/** ...spread over at least this share of their periods: a burst after the thread was starved comes at once. */
const DAC_JUMP_MIN_CADENCE = 0.5;
/**
 * Learned from so few callbacks, the new line can be late by the audio thread's usual delay: on the
 * rig's idle stamps ~42 % of the callbacks come 3-4 ms late, in runs of up to ~40. For
 * DAC_REFINE_SPAN_NS after such a move, estimates that put the line more than this (ns) earlier than
 * where the music was placed re-place it again (`gridRefines`) rather than leaving the resampler
 * (≤ 1000 ppm) seconds to walk it there; below it, it does so within a second.
 */
export const DAC_REFINE_MIN_NS = 1_000_000;
/** ...for this long after the move (ns): the longest run of late callbacks on the idle rig, ~0.9 s. */
const DAC_REFINE_SPAN_NS = 1_000_000_000;
/**
 * A moved grid's line is learned from the late run's callbacks at least this share of its median
 * lateness (see learnFrom): they are the new grid's when the move is over about twice the old grid's
 * own delays (3-4 ms on the idle rig). A smaller move keeps some old ones, and the line early by them.
 */
const DAC_MOVE_KEEP_SHARE = 0.5;

/** Envelope samples kept: 2048 blocks of 16 periods of 1024 frames are ~11 min, enough for < 0.1 ppm. */
export const DAC_MAX_BLOCKS = 2048;
/** Fewer envelope samples than this give no rate fit (a line through 8 minima is the least that says anything). */
const DAC_MIN_BLOCKS = 8;
/** Fewer observations than this give no estimate (the start-up burst is excluded by the caller). */
export const DAC_MIN_OBSERVATIONS = 16;
/** USB and I2S DAC crystals: ±20-100 ppm (WORLD.md); a fit beyond 200 is jitter or a fault and is clamped. */
export const DAC_MAX_PPM = 200;
/** How well the nominal rate knows an unknown DAC (ppm, 1σ): the crystals' spread. */
export const DAC_NOMINAL_SIGMA_PPM = 100;
/**
 * How well a saved rate knows the DAC today when nothing says how far its temperature moved (ppm, 1σ):
 * a crystal's rate moves a few ppm between a cold and a warm day.
 */
export const DAC_SAVED_SIGMA_PPM = 3;
/**
 * ...and when the temperature then and now is known (the DS3231's): the same crystal at the same
 * temperature repeats to a fraction of a ppm (DAC_REPEAT_SIGMA_PPM); away from it, tuning-fork and
 * AT-cut crystals move by up to ~0.5 ppm per °C near room temperature (DAC_TEMPCO_PPM_PER_C; the
 * DAC sits in the same air as the RTC, not at its temperature); and they age ~5 ppm in the first year.
 */
export const DAC_REPEAT_SIGMA_PPM = 0.5;
export const DAC_TEMPCO_PPM_PER_C = 0.5;
export const DAC_AGING_PPM_PER_DAY = 5 / 365;
/**
 * No prior handed in is weighed tighter than this (ppm, 1σ): a floor against a zero σ from any caller
 * (dacPriorFromSaved's are already at least DAC_REPEAT_SIGMA_PPM).
 */
const DAC_PRIOR_MIN_SIGMA_PPM = 0.3;
/**
 * A fit that disagrees with the prior by more than this many of their joint σ: either the prior is not
 * this device's rate (another DAC under the same name, a rate saved at another temperature) or the fit
 * is tilted by steps in the device's periods. A saved prior is dropped (the fit learns from the
 * nominal rate's breadth) once the fit is steady and known to DAC_DROP_FIT_MAX_SIGMA_PPM; until then,
 * and always against this stream's own rate from before a reset (the same crystal: a stall does not
 * change it), the fit is not joined. On the rig a JACK driver that restarted five times in a minute
 * left a staircase of sub-2 ms steps that fitted −157 ppm ten seconds after a reset; taken, it dropped
 * the −0.6 measured before and moved the music 480 µs in the track.
 */
export const DAC_PRIOR_REJECT_SIGMAS = 4;
/**
 * A fit replaces the prior only once it knows the rate to this (ppm, 1σ) and better than the prior:
 * a fit of a couple of seconds of jittery callbacks is tens of ppm off (seen on the JACK rig).
 */
export const DAC_ADOPT_SIGMA_PPM = 30;
/**
 * How far the least callback delay itself wanders (ns, 1σ), over tens of seconds: the audio thread's
 * and the event loop's wake-up, not the device. A seeded AR(1) floor of 40-60 µs with 8-60 s memory
 * reproduces the JACK rig's in-track figures (median ~50 µs, worst ~100 µs at a 10 s lead); fitted
 * as if the residuals were independent, a 60 s rate claimed 0.8 ppm and was off by 2-4σ in 14 of 20
 * seeds. The wander is not in the residuals of one window, so it is a named prior, not a measurement.
 */
export const DAC_FLOOR_WANDER_NS = 60_000;
/**
 * While held, an estimate within this of the line in use (ns) keeps the line's place, and one beyond
 * it moves the line by the excess only: ~1.7σ of the floor's wander (DAC_FLOOR_WANDER_NS). On
 * bench/dac-floor.ts (a saved rate, 10 and 30 s leads, wandering floors) the worst move within a track
 * was 48-65 µs at 50 µs, 42-51 µs at 100 and at 150 µs.
 */
export const DAC_HOLD_NS = 100_000;
/**
 * ...once the line was learned from this much of the stream (ns): held from 3 s, the line learned again
 * after an unreported 8 ms pause (the rig's jitter, test/sim/underrun.test.ts) was kept 97 µs off; 6 s did.
 */
export const DAC_HOLD_AFTER_NS = 8_000_000_000;
/**
 * ...inside the band, the line drifts toward the estimate with this time constant (ns): a line that
 * started off is not kept off for good. On bench/dac-floor.ts (as above) the worst move within a track
 * was 44-58 µs at 30 s, 42-51 µs at 60 s, 37-54 µs at 120-300 s, where a floor that does not wander
 * moved it more (40-42 µs against 37 at a 30 s lead).
 */
export const DAC_HOLD_TAU_NS = 60_000_000_000;
/**
 * ...and the rate is known to this (ppm, 1σ): what a saved rate is weighed at when the temperature
 * is unknown (a saved rate at a known temperature can be tighter and is held from the start; else the
 * hold waits for the fit to join it). A line held while the rate is still
 * learned from the nominal prior (6 ppm at 20 s) keeps more of its error; at 5 ppm two seeded sync
 * tests (a 250 ms stall, a stop on two devices) missed their sample.
 */
const DAC_HOLD_MAX_SIGMA_PPM = DAC_SAVED_SIGMA_PPM;
/** No fit knows the rate better than this (ppm, 1σ): far below anything audible. */
const DAC_MIN_SIGMA_PPM = 0.001;
/**
 * A rate is saved only when known to this (ppm, 1σ): ten times better than the nominal prior. (Saved
 * only when known to 1 ppm, a device started 10 s ahead never saved one and began every run on the
 * nominal rate: its fit, ±10 ppm after seconds, then moved the music by up to ~100 µs within a track.)
 */
export const DAC_SAVE_MAX_SIGMA_PPM = 10;
/**
 * A rate is saved only once the fit alone knows it to this (ppm, 1σ): a fit this good disagrees with a
 * wrong saved prior (another DAC 20+ ppm off) beyond DAC_PRIOR_REJECT_SIGMAS, and a disputed fit is not
 * saved, so a short run never saves an old rate merely re-dated. (30 s of callbacks know it to ~3 ppm.)
 */
export const DAC_SAVE_FIT_MAX_SIGMA_PPM = 5;
/**
 * A saved rate is dropped for a disagreeing fit only once the fit knows the rate to this (ppm, 1σ),
 * some 40 s of callbacks. At DAC_SAVE_FIT_MAX_SIGMA_PPM (~20 s) a step in the periods in the first
 * seconds of the stream, too early for the step fit to take out, tilted the fit by tens of ppm while
 * its σ said ~4: on the rig 2 of 40 player-runs dropped a good saved rate for -17.0 and +19.1 ppm.
 */
export const DAC_DROP_FIT_MAX_SIGMA_PPM = 2;
/**
 * The window's rate is steady when each half's fit agrees with the whole's within this many joint σ. A
 * step in the device's periods too small for watchGrid (a JACK driver restarting its schedule < 2 ms
 * later) tilts the whole fit (seen: −26.6 ± 1.6 ppm saved by a device whose rate was −0.5): not saved.
 */
export const DAC_STEADY_SIGMAS = 4;
/**
 * A step in the envelope of at least this (ns) is the device's periods moving (a JACK driver
 * restarting its schedule), not the floor's wander (tens of µs): the rate is fitted with the step
 * taken out (one slope, two intercepts). Under it the tilt is at most a few ppm over a minute. One
 * step per window: two or more tilt it still, and the rate is then not saved (DAC_STEADY_SIGMAS).
 */
export const DAC_RATE_STEP_MIN_NS = 300_000;
/**
 * ...when it stands out this many of its own standard errors (the envelope's noise, ~0.2 ms per block
 * on the rig, over the samples on each side; the best of many splits is chosen, so well beyond 2-3)
 */
const DAC_STEP_SIGMAS = 6;
/** ...with this many envelope samples (~11 s at 1024 frames) on each side, among this many splits at a time. */
const DAC_STEP_MIN_BLOCKS = 32;
const DAC_STEP_TRIES = 16;
/**
 * A step is looked for once this many envelope samples more than DAC_STEP_MIN_BLOCKS sit late: a few
 * of the old grid's can be late by chance just before it (a third of them are, on the rig's jitter),
 * and a search that cannot reach past them puts the step early, keeping old callbacks in the offset.
 */
const STEP_LOOK_MARGIN_BLOCKS = 4;
/** After a device reset the rate stays, as a prior no tighter than this (ppm, 1σ). */
const DAC_RESET_MIN_SIGMA_PPM = 1;
/** An old callback bounds the offset with this many standard deviations of the rate's uncertainty as slack. */
export const DAC_BOUND_SIGMAS = 1;
/** Never apply a correction smaller than this (ns): far below a sample, far above float noise. */
const DAC_MIN_CORRECTION_NS = 2_000;
/** Weight of each refit's split-half disagreement in the running noise estimate. */
const NOISE_SMOOTHING = 0.2;
/** Refit after this many new observations (a fit is O(window log window); the clock moves slowly). */
const REFIT_EVERY = 16;
/** Refit the rate after this many new envelope samples (~2.7 s at 1024 frames): a crystal's rate moves slowly. */
const RATE_REFIT_BLOCKS = 8;
/** With many envelope samples held, refit after 1/this of them are new (a 3 % change of the data). */
const RATE_REFIT_SHARE = 32;

/**
 * A saved rate as the prior of a start: its uncertainty grown by what can have moved the crystal since
 * (see DAC_REPEAT_SIGMA_PPM): its temperature, when known then and now, else DAC_SAVED_SIGMA_PPM, and age.
 */
export function dacPriorFromSaved(saved: DacRate, since: { ageDays: number; tempDeltaC?: number }): DacRate {
  const agingPpm = DAC_AGING_PPM_PER_DAY * Math.max(0, since.ageDays);
  const movedPpm =
    since.tempDeltaC === undefined || !Number.isFinite(since.tempDeltaC)
      ? Math.max(DAC_SAVED_SIGMA_PPM, saved.sigmaPpm)
      : Math.hypot(saved.sigmaPpm, DAC_REPEAT_SIGMA_PPM, DAC_TEMPCO_PPM_PER_C * since.tempDeltaC);
  return { ppm: saved.ppm, sigmaPpm: Math.hypot(movedPpm, agingPpm) };
}

/** A saved rate worth starting from: within any DAC's reach, and known better than the nominal rate. */
export function isPlausibleDacRate(r: DacRate): boolean {
  return (
    Number.isFinite(r.ppm) &&
    Math.abs(r.ppm) < DAC_MAX_PPM &&
    Number.isFinite(r.sigmaPpm) &&
    r.sigmaPpm > 0 &&
    r.sigmaPpm < DAC_NOMINAL_SIGMA_PPM
  );
}

interface Line {
  a: number;
  b: number;
  p0: number;
}

type Block = { p: number; t: number };
/**
 * A rate fit (ns per period) and its σ; whether a step in the envelope was taken out (see
 * DAC_RATE_STEP_MIN_NS), and when it was a step later: its size (ns) and the first period after it.
 */
type RateFit = { b: number; sigmaPpm: number; stepped: boolean; later?: { ns: number; fromP: number } };

export class DacClock {
  private ps: number[] = [];
  private ts: number[] = []; // callback mono ns relative to baseNs
  private baseNs?: bigint;
  /** Envelope samples: the earliest observation of each block (against the nominal line). */
  private blocks: Block[] = [];
  private block?: { p: number; t: number; r: number; n: number };
  private rateFit?: RateFit;
  /** The last rate fit judged against the prior, and whether it joins (see fitJoins): judged once per fit. */
  private judged?: { fit: RateFit; joins: boolean };
  private blocksSinceRateFit = 0;
  private line?: Line;
  private dirty = false;
  private sinceFit = 0;
  /** Rate in use (ns per period) and its uncertainty (ppm, 1σ); whether it was measured here. */
  private rateB: number;
  private rateSigmaPpm: number;
  /** The prior: a saved rate, nominal, or (after a reset) what was measured before. */
  private priorB: number;
  private priorSigmaPpm: number;
  /** The prior is a saved rate (not nominal, nor what this run measured before a reset). */
  private priorSaved: boolean;
  private measured = false;
  /**
   * Once a fit joined the prior since the last reset (the rate in use holds something measured here):
   * the newest estimate's rate (ns per period) and σ, and the fit's own σ. What is saved.
   */
  private joined?: { b: number; sigmaPpm: number; fitSigmaPpm: number };
  private holding = false;
  private lastHeldT?: number;
  private clamped = false;
  private faulted = false;
  /** How far successive offset estimates move (ns, running average): the estimate's own noise. */
  private stepNs?: number;
  private lastA?: { a: number; p0: number };
  /** Estimates that replaced the one in use, and those held back as noise. */
  corrections = 0;
  heldBack = 0;
  /**
   * Times the grid was found moved later (see the class comment), and the least lateness of the last
   * such run (ns): the move is at most that (each callback is late by the move plus its own delay).
   */
  gridMoves = 0;
  lastGridMoveNs = 0;
  /**
   * Of gridMoves, those that re-placed a line learned quickly after a move (see DAC_REFINE_MIN_NS), and
   * the last one's size (ns earlier).
   */
  gridRefines = 0;
  lastGridRefineNs = 0;
  /**
   * After a move found from few callbacks, the callback time (ns) until which an earlier estimate
   * re-places, and the line the music was last placed on (set at the first estimate after the move).
   */
  private refineUntilT?: number;
  private placedLine?: Line;
  /** Rate fits that found and took out a step in the device's periods (see DAC_RATE_STEP_MIN_NS). */
  rateSteps = 0;
  /**
   * Steps later in the device's periods, under a grid move, that moved the line (the offset learned
   * from the callbacks after it), and the last one's size (ns): see DAC_RATE_STEP_MIN_NS.
   */
  periodSteps = 0;
  lastPeriodStepNs = 0;
  /** The first period the newest offset was learned from, when a step later left those before out (the trace). */
  offsetFromP?: number;
  private stepTakenFromP?: number;
  /** Envelope samples in a row later than the line in use by DAC_RATE_STEP_MIN_NS: a step is looked for. */
  private lateBlocks = 0;
  /** The current run of callbacks all late beyond DAC_SHIFT_MIN_NS: its first time, length and least lateness. */
  private lateRun?: { fromT: number; n: number };
  /** ...and of those timed by the audio thread late beyond DAC_JUMP_MIN_NS (see there). */
  private jumpRun?: { fromT: number; n: number };
  /** Fewer observations give no estimate: DAC_MIN_OBSERVATIONS, fewer after a fast move (until a reset). */
  private minObservations = DAC_MIN_OBSERVATIONS;

  /**
   * The prior, when the fit disagreed with it beyond DAC_PRIOR_REJECT_SIGMAS and it was dropped: its
   * rate and the fit's then (ppm), for the log.
   */
  priorRejected?: { priorPpm: number; fitPpm: number };
  /**
   * The newest fit disagrees with the prior and is not joined (see DAC_PRIOR_REJECT_SIGMAS): its rate
   * and the prior's (ppm), whether the prior is a saved rate; and how many disputes began (for the log).
   */
  disputed?: { priorPpm: number; fitPpm: number; saved: boolean };
  disputes = 0;

  /**
   * `prior`: the device's rate as a previous run measured it, with what can have moved it since
   * (dacPriorFromSaved): weighed by its uncertainty against the fit here, so a restart places its
   * first frame as well as a long-running stream.
   */
  constructor(
    readonly periodFrames: number,
    readonly nominalRate: number,
    prior?: DacRate,
  ) {
    const usable = prior !== undefined && isPlausibleDacRate(prior);
    this.priorSaved = usable;
    this.priorB = this.rateB = this.nominalB / (1 + (usable ? prior.ppm : 0) * 1e-6);
    this.priorSigmaPpm = this.rateSigmaPpm = usable
      ? Math.max(DAC_PRIOR_MIN_SIGMA_PPM, prior.sigmaPpm)
      : DAC_NOMINAL_SIGMA_PPM;
  }

  private get nominalB(): number {
    return (this.periodFrames * 1e9) / this.nominalRate;
  }

  private ppmOf(b: number): number {
    return (this.nominalB / b - 1) * 1e6;
  }

  /** The rate in use (ppm, + = fast) once it was measured here, not assumed. */
  measuredPpm(): number | undefined {
    this.estimate();
    return this.measured ? this.ppmOf(this.rateB) : undefined;
  }

  /** The rate in use and its uncertainty (ppm), measured or prior. */
  rate(): { ppm: number; sigmaPpm: number; measured: boolean } {
    this.estimate();
    return { ppm: this.ppmOf(this.rateB), sigmaPpm: this.rateSigmaPpm, measured: this.measured };
  }

  /**
   * The rate to save for the next start, or undefined: no fit joined it, not known well, clamped or
   * faulted. With a prior, what is saved is the prior and the fit together: runs tighten it in turn.
   */
  savableRate(): DacRate | undefined {
    if (this.whyNotSavable() !== undefined) return undefined;
    return { ppm: this.ppmOf(this.joined!.b), sigmaPpm: this.joined!.sigmaPpm };
  }

  /** Why savableRate has nothing to save, in words for the log; undefined when it has. */
  whyNotSavable(): string | undefined {
    this.estimate();
    const j = this.joined;
    if (this.faulted) return 'a fault may have put wrong period numbers in its fit';
    if (this.clamped) return `its fit is beyond any DAC (clamped at ${DAC_MAX_PPM} ppm)`;
    const d = this.disputed;
    if (d)
      return d.saved
        ? `its periods fit ${signed(d.fitPpm, 1)} ppm, far from the saved ${signed(d.priorPpm, 1)} ppm, and not yet steadily enough to tell which is right (a steady fit known to ±${DAC_DROP_FIT_MAX_SIGMA_PPM} ppm drops the saved rate)`
        : `its periods fit ${signed(d.fitPpm, 1)} ppm since it restarted, far from the ${signed(d.priorPpm, 1)} ppm measured before: steps in its periods (a sound server restarting), not its rate`;
    if (!j)
      return `not measured here yet (too few callbacks for a fit; a save needs ±${DAC_SAVE_FIT_MAX_SIGMA_PPM} ppm)`;
    if (j.fitSigmaPpm > DAC_SAVE_FIT_MAX_SIGMA_PPM || j.sigmaPpm > DAC_SAVE_MAX_SIGMA_PPM)
      return `not measured long enough here (known to ±${j.fitSigmaPpm.toFixed(1)} ppm; a save needs ±${DAC_SAVE_FIT_MAX_SIGMA_PPM})`;
    return this.unsteadyWhy();
  }

  /** Each half of the window's envelope against the whole's rate (see DAC_STEADY_SIGMAS). */
  private unsteadyWhy(): string | undefined {
    const whole = this.fitBlocks(this.blocks);
    const mid = this.blocks.length >> 1;
    for (const half of [this.blocks.slice(0, mid), this.blocks.slice(mid)]) {
      const f = this.disagreeing(whole, half);
      if (f && whole)
        return `its rate was not steady (${signed(this.ppmOf(whole.b), 1)} ppm over the run, ${signed(this.ppmOf(f.b), 1)} over half of it: its periods stepped, or its clock wandered)`;
    }
    return undefined;
  }

  /** The fit of `half` when its rate disagrees with the whole's beyond DAC_STEADY_SIGMAS joint σ. */
  private disagreeing(whole: RateFit | undefined, half: Block[]): RateFit | undefined {
    const f = this.fitBlocks(half);
    if (!whole || !f) return undefined;
    const apartPpm = Math.abs(this.ppmOf(f.b) - this.ppmOf(whole.b));
    return apartPpm > DAC_STEADY_SIGMAS * Math.hypot(f.sigmaPpm, whole.sigmaPpm) ? f : undefined;
  }

  /**
   * Something went wrong that may have put wrong period numbers in the fit: nothing from now on is saved until a reset.
   */
  markFaulted(): void {
    this.faulted = true;
  }

  /**
   * The music plays on (true) or was placed anew (false): while it plays on, estimates inside the
   * floor's wander keep the line's place (see the class comment). A reset ends the hold.
   */
  hold(on: boolean): void {
    if (!on) this.lastHeldT = undefined;
    this.holding = on;
  }

  /**
   * How much later the line in use is than the newest estimate (ns) at the newest callback: what the
   * hold, or a later estimate inside the noise, keeps out of the line. The music plays this much early
   * by that estimate: the player's sync error counts it.
   */
  get heldNs(): number {
    this.estimate();
    return this.heldNowNs;
  }
  private heldNowNs = 0;
  /** Estimates kept out of the line while the music played on (wholly, or but for their excess over DAC_HOLD_NS). */
  held = 0;

  get observations(): number {
    return this.ps.length;
  }

  /**
   * A callback: the device popped `period` at `monoNs` or before. `fromAudioThread`: timed by the audio
   * thread as it took the buffer (its lateness has a short tail), not on the event loop.
   */
  observe(period: number, monoNs: bigint, fromAudioThread = false): void {
    this.baseNs ??= monoNs;
    const t = Number(monoNs - this.baseNs);
    this.ps.push(period);
    this.ts.push(t);
    if (this.ps.length > DAC_WINDOW) {
      this.ps.shift();
      this.ts.shift();
    }
    // The block's earliest callback against the nominal line (any fixed line ranks them the same
    // within a block to far below a ns).
    const r = t - this.nominalB * period;
    if (!this.block || r < this.block.r) this.block = { p: period, t, r, n: this.block?.n ?? 0 };
    this.block.n++;
    if (this.block.n >= DAC_BLOCK) {
      this.pushBlock(this.block);
      this.block = undefined;
    }
    this.sinceFit++;
    if (t > (this.refineUntilT ?? Infinity)) this.refineUntilT = undefined;
    if (
      !this.line ||
      this.ps.length < 2 * DAC_MIN_OBSERVATIONS ||
      this.sinceFit >= REFIT_EVERY ||
      this.refineUntilT !== undefined
    )
      this.dirty = true;
    this.watchGrid(period, t, fromAudioThread);
  }

  /**
   * A new envelope sample. Once DAC_STEP_MIN_BLOCKS of them in a row sit later than the line in use by
   * a step's worth (DAC_RATE_STEP_MIN_NS), the rate is refitted at once (and again every few blocks
   * while they do): a fit over a long window is otherwise refitted only every ~22 s, and the step it
   * finds is what lets the offset leave the old grid's callbacks.
   */
  private pushBlock(k: Block): void {
    this.blocks.push({ p: k.p, t: k.t });
    if (this.blocks.length > DAC_MAX_BLOCKS) this.blocks.shift();
    this.blocksSinceRateFit++;
    const line = this.line;
    const lateNs = line ? k.t - lineAt(line, k.p) : 0;
    this.lateBlocks = lateNs >= DAC_RATE_STEP_MIN_NS ? this.lateBlocks + 1 : 0;
    const due = this.lateBlocks - DAC_STEP_MIN_BLOCKS - STEP_LOOK_MARGIN_BLOCKS;
    if (due >= 0 && due % RATE_REFIT_BLOCKS === 0) this.blocksSinceRateFit = Infinity;
  }

  /** Finds a grid that moved later: see the class comment and DAC_JUMP_MIN_NS. */
  private watchGrid(period: number, t: number, fromAudioThread: boolean): void {
    const line = this.line;
    if (!line) return;
    const lateNs = t - lineAt(line, period);
    this.jumpRun = fromAudioThread && lateNs > DAC_JUMP_MIN_NS ? extendRun(this.jumpRun, t) : undefined;
    this.lateRun = lateNs > DAC_SHIFT_MIN_NS ? extendRun(this.lateRun, t) : undefined;
    const jump = this.jumpRun;
    if (
      jump &&
      jump.n >= DAC_JUMP_MIN_CALLBACKS &&
      t - jump.fromT >= DAC_JUMP_MIN_CADENCE * (jump.n - 1) * this.nominalB
    )
      return this.learnFrom(jump.fromT, true);
    const run = this.lateRun;
    if (run && run.n >= DAC_SHIFT_MIN_CALLBACKS && t - run.fromT >= DAC_SHIFT_SPAN_NS) this.learnFrom(run.fromT, false);
  }

  /**
   * The grid moved: learn again from the late run alone (callbacks of the new grid), keeping the rate as
   * the prior. A run can begin with callbacks of the old grid late for their own reasons (on the rig's
   * idle audio-thread stamps, runs of ~3 ms late ones): learned from, they held the line on the old
   * grid, and the move was found again a second later. The new grid's callbacks are late by the move
   * plus their own delay, the old grid's by their delay alone (see DAC_MOVE_KEEP_SHARE; keeping only
   * those near the median dropped the new grid's least delayed callbacks, the ones the line is learned
   * from). `fast`: found by DAC_JUMP_MIN_NS, from DAC_JUMP_MIN_CALLBACKS callbacks.
   */
  private learnFrom(fromT: number, fast: boolean): void {
    const base = this.baseNs!;
    const line = this.line!;
    const late: Array<{ p: number; t: number; lateNs: number }> = [];
    for (let i = 0; i < this.ps.length; i++) {
      const p = this.ps[i]!,
        t = this.ts[i]!;
      if (t >= fromT) late.push({ p, t, lateNs: t - lineAt(line, p) });
    }
    const keepFromLateNs =
      DAC_MOVE_KEEP_SHARE *
      quantile(
        late.map((x) => x.lateNs),
        0.5,
      );
    const kept = late.filter((x) => x.lateNs >= keepFromLateNs);
    this.reset();
    if (fast) this.minObservations = Math.min(DAC_JUMP_MIN_CALLBACKS, kept.length);
    for (const x of kept) this.observe(x.p, base + BigInt(Math.round(x.t)));
    if (fast) this.refineUntilT = this.ts.at(-1)! + DAC_REFINE_SPAN_NS;
    this.gridMoves++;
    this.lastGridMoveNs = Math.min(...kept.map((x) => x.lateNs));
  }

  /**
   * Forget the observations (an xrun restarted the device: its period grid moved). The rate is the
   * same crystal's: it stays, as the prior of what follows, with its uncertainty.
   */
  reset(): void {
    this.ps = [];
    this.ts = [];
    this.blocks = [];
    this.block = undefined;
    this.line = undefined;
    this.rateFit = undefined;
    this.judged = undefined;
    this.baseNs = undefined;
    this.dirty = false;
    this.faulted = false;
    this.stepNs = undefined;
    this.lastA = undefined;
    this.lateRun = undefined;
    this.jumpRun = undefined;
    this.minObservations = DAC_MIN_OBSERVATIONS;
    this.refineUntilT = undefined;
    this.placedLine = undefined;
    this.lateBlocks = 0;
    this.stepTakenFromP = undefined;
    this.holding = false;
    this.lastHeldT = undefined;
    this.heldNowNs = 0;
    this.priorB = this.rateB;
    this.priorSaved = false;
    this.priorSigmaPpm = this.rateSigmaPpm = Math.max(this.rateSigmaPpm, DAC_RESET_MIN_SIGMA_PPM);
    this.measured = false;
    this.joined = undefined;
    this.disputed = undefined;
  }

  /** The rate fit through the block minima, with a stall-rejecting second pass. */
  private fitRate(): RateFit | undefined {
    if (this.blocks.length < DAC_MIN_BLOCKS) return undefined;
    // Early on every new envelope sample counts; later every RATE_REFIT_BLOCKS-th.
    // Once many are held, one new block moves the fit little: refit after a fixed share of them
    // (at the full window every 64 blocks, ~22 s at 1024 frames), so a refit's cost stays flat.
    const refitAfter = Math.max(RATE_REFIT_BLOCKS, Math.floor(this.blocks.length / RATE_REFIT_SHARE));
    if (this.rateFit && this.blocks.length >= 4 * DAC_MIN_BLOCKS && this.blocksSinceRateFit < refitAfter)
      return this.rateFit;
    this.blocksSinceRateFit = 0;
    this.rateFit = this.fitBlocks(this.blocks);
    if (this.rateFit?.stepped) this.rateSteps++;
    return this.rateFit;
  }

  private fitBlocks(blocks: Block[]): RateFit | undefined {
    if (blocks.length < DAC_MIN_BLOCKS) return undefined;
    const pRef = blocks.at(-1)!.p;
    let xs = blocks.map((k) => k.p - pRef);
    const { ys: envelope, step } = this.unstepped(
      xs,
      blocks.map((k) => k.t),
    );
    let ys = envelope;
    const first = fitLine(xs, ys);
    // A block whose every callback was late (a stall) sits far above the envelope: drop it.
    const res = xs.map((x, i) => ys[i]! - (first.a + first.b * x));
    const spread = quantile(res.map(Math.abs), 0.5) || 1;
    const keep = res.map((r) => r <= 4 * spread);
    xs = xs.filter((_, i) => keep[i]);
    ys = ys.filter((_, i) => keep[i]);
    if (xs.length < DAC_MIN_BLOCKS) return undefined;
    const fit = fitLine(xs, ys);
    // The fit's own error assumes independent residuals; the floor's wander (see DAC_FLOOR_WANDER_NS)
    // tilts a line over a span T by up to √2·wander/T, which no residual shows: both count.
    const spanNs = (xs.at(-1)! - xs[0]!) * this.nominalB;
    const wanderPpm = ((Math.SQRT2 * DAC_FLOOR_WANDER_NS) / spanNs) * 1e6;
    const fitPpm = (fit.bStdErr / this.nominalB) * 1e6;
    // The block at the step can hold callbacks of both grids (its earliest then the old one's): the
    // next is wholly new.
    const after = blocks[Math.min(blocks.length - 1, (step?.k ?? 0) + 1)]!;
    const later = step && step.stepY > 0 ? { ns: step.stepY, fromP: after.p } : undefined;
    // A floor: jitter-free callbacks (a simulation) fit exactly, and a zero σ would divide by zero.
    return { b: fit.b, sigmaPpm: Math.max(DAC_MIN_SIGMA_PPM, Math.hypot(fitPpm, wanderPpm)), stepped: !!step, later };
  }

  /**
   * The envelope with a step in the device's periods taken out (see DAC_RATE_STEP_MIN_NS): a fit
   * across it would tilt the rate to meet it.
   */
  private unstepped(xs: number[], ys: number[]): { ys: number[]; step?: { k: number; stepY: number } } {
    const step = bestStep(xs, ys, DAC_STEP_MIN_BLOCKS, DAC_STEP_TRIES);
    const size = Math.abs(step?.stepY ?? 0);
    if (!step || size < DAC_RATE_STEP_MIN_NS || size < DAC_STEP_SIGMAS * step.stepStdErr) return { ys };
    return { ys: ys.map((y, i) => (i >= step.k ? y - step.stepY : y)), step };
  }

  private estimate(): Line | undefined {
    // While every callback comes late beyond DAC_SHIFT_MIN_NS the grid may have moved: a fit across
    // the step would tilt the line to meet it (a rate hundreds of ppm off). Hold until watchGrid decides.
    if (!this.dirty || this.lateRun) return this.line;
    this.dirty = false;
    this.sinceFit = 0;
    if (this.ps.length < this.minObservations) return (this.line = undefined);
    // Rate: the prior, joined by the fit (inverse-variance weights) once the fit knows it to
    // DAC_ADOPT_SIGMA_PPM; "measured" once the fit outweighs the prior.
    const fit = this.fitRate();
    let b = this.priorB,
      sigmaPpm = this.priorSigmaPpm,
      measured = false;
    if (fit && fit.sigmaPpm < DAC_ADOPT_SIGMA_PPM) {
      const maxDev = this.nominalB * DAC_MAX_PPM * 1e-6;
      const fitB = Math.min(this.nominalB + maxDev, Math.max(this.nominalB - maxDev, fit.b));
      this.clamped = fitB !== fit.b;
      if (this.fitJoins(fit, fitB)) {
        const wPrior = 1 / this.priorSigmaPpm ** 2,
          wFit = 1 / fit.sigmaPpm ** 2;
        b = (wPrior * this.priorB + wFit * fitB) / (wPrior + wFit);
        sigmaPpm = 1 / Math.sqrt(wPrior + wFit);
        measured = wFit > wPrior;
        this.joined = { b, sigmaPpm, fitSigmaPpm: fit.sigmaPpm };
      }
    }
    const p0 = this.ps.at(-1)!;
    this.offsetFromP = fit?.later?.fromP;
    const a = this.offsetNs(b, sigmaPpm, this.offsetFromP);
    // The estimate's own noise: how far successive estimates move (averaged over refits).
    const step = this.lastA === undefined ? 0 : Math.abs(a - (this.lastA.a + b * (p0 - this.lastA.p0)));
    this.lastA = { a, p0 };
    this.stepNs = this.stepNs === undefined ? step : (1 - NOISE_SMOOTHING) * this.stepNs + NOISE_SMOOTHING * step;
    const noise = Math.max(DAC_MIN_CORRECTION_NS, this.stepNs);
    const old = this.line;
    this.refineAfterMove(old, a, b, p0);
    const stepped = old !== undefined && this.periodsStepped(fit?.later, a - lineAt(old, p0));
    if (old && !stepped && this.holding && sigmaPpm <= DAC_HOLD_MAX_SIGMA_PPM && this.ts.at(-1)! >= DAC_HOLD_AFTER_NS)
      return this.holdLine(old, a, b, p0, sigmaPpm, measured);
    if (old) {
      // Callbacks are never early: an estimate earlier than the line in use proves it late, and is
      // taken. A later one is taken only beyond the estimate's own noise: a quiet stretch without
      // an early callback is not news.
      const laterNs = a - lineAt(old, p0);
      const rateMoved = Math.abs(this.ppmOf(b) - this.ppmOf(this.rateB)) > Math.max(sigmaPpm, this.rateSigmaPpm);
      if (!rateMoved && laterNs >= -DAC_MIN_CORRECTION_NS && laterNs <= noise) {
        this.heldBack++;
        this.heldNowNs = -laterNs;
        // Keep the line (and its rate); what is known about the rate is the newest estimate's.
        this.rateSigmaPpm = sigmaPpm;
        this.measured = measured;
        return old;
      }
    }
    if (old) this.corrections++;
    this.heldNowNs = 0;
    this.rateB = b;
    this.rateSigmaPpm = sigmaPpm;
    this.measured = measured;
    this.line = { a, b, p0 };
    return this.line;
  }

  /**
   * Estimates that put a line learned quickly after a move more than DAC_REFINE_MIN_NS earlier than
   * where the music was last placed, in steps or at once: re-place (see DAC_REFINE_MIN_NS).
   */
  private refineAfterMove(old: Line | undefined, a: number, b: number, p0: number): void {
    if (this.refineUntilT === undefined) return;
    const placed = (this.placedLine ??= old);
    if (!placed) return;
    const earlierNs = lineAt(placed, p0) - a;
    if (earlierNs <= DAC_REFINE_MIN_NS) return;
    this.placedLine = { a, b, p0 };
    this.gridMoves++;
    this.gridRefines++;
    this.lastGridRefineNs = earlierNs;
  }

  /**
   * Offset at the newest callback: callbacks are never early, so each one bounds the line from above:
   * the line at p0 is no later than its time minus the rate times its distance, give or take what the
   * rate's uncertainty makes of that distance. The tightest bound is the offset: recent callbacks
   * count while the rate is uncertain, all back to DAC_OFFSET_HORIZON_NS once it is well known.
   * Callbacks before a step later in the periods (`fromP`, see DAC_RATE_STEP_MIN_NS) bound the old
   * grid, not this one.
   */
  private offsetNs(b: number, sigmaPpm: number, fromP = -Infinity): number {
    const p0 = this.ps.at(-1)!;
    const slackNsPerPeriod = DAC_BOUND_SIGMAS * sigmaPpm * 1e-6 * b;
    let a = Infinity;
    const bound = (p: number, t: number) => {
      const dp = p0 - p;
      if (p >= fromP) a = Math.min(a, t + b * dp + slackNsPerPeriod * dp);
    };
    for (let i = 0; i < this.ps.length; i++) bound(this.ps[i]!, this.ts[i]!);
    // Before the window, back to DAC_OFFSET_HORIZON_NS: the envelope samples are its earliest callbacks
    // (newest first, so the ~11 min of them kept for the rate are not all walked at every estimate).
    const fromT = this.ts.at(-1)! - DAC_OFFSET_HORIZON_NS;
    for (let j = this.blocks.length - 1; j >= 0 && this.blocks[j]!.t >= fromT; j--)
      if (this.blocks[j]!.p < this.ps[0]!) bound(this.blocks[j]!.p, this.blocks[j]!.t);
    return a;
  }

  /**
   * Whether the estimate moved the line later by a step the rate fit found in the device's periods,
   * not yet taken: the device moved (beyond the floor's wander, which the hold is for), so the line
   * follows it at once, and it is counted for the log (`periodSteps`).
   */
  private periodsStepped(later: RateFit['later'], laterNs: number): boolean {
    if (!later || later.fromP === this.stepTakenFromP || laterNs <= DAC_HOLD_NS) return false;
    // The same step placed a little later by a refit with more data is not another one.
    const sameStep = Math.abs(later.fromP - (this.stepTakenFromP ?? -Infinity)) < DAC_STEP_MIN_BLOCKS * DAC_BLOCK;
    if (!sameStep) this.periodSteps++;
    this.stepTakenFromP = later.fromP;
    this.lastPeriodStepNs = later.ns;
    return true;
  }

  /**
   * Whether the fit joins the prior (see DAC_PRIOR_REJECT_SIGMAS): when they agree, or when a saved
   * prior is dropped for a steady fit known to DAC_DROP_FIT_MAX_SIGMA_PPM; not while a fit that
   * disagrees cannot be trusted over the prior (`disputed`). Judged once per rate fit: estimates between
   * refits reuse it, and the steadiness check fits the whole window and both halves again.
   */
  private fitJoins(fit: RateFit, fitB: number): boolean {
    if (this.judged?.fit !== fit) this.judged = { fit, joins: this.judge(fitB, fit.sigmaPpm) };
    return this.judged.joins;
  }

  private judge(fitB: number, fitSigmaPpm: number): boolean {
    if (this.priorSigmaPpm >= DAC_NOMINAL_SIGMA_PPM) return true;
    const fitPpm = this.ppmOf(fitB),
      priorPpm = this.ppmOf(this.priorB);
    const agree = Math.abs(fitPpm - priorPpm) <= DAC_PRIOR_REJECT_SIGMAS * Math.hypot(this.priorSigmaPpm, fitSigmaPpm);
    if (!agree && this.priorSaved && fitSigmaPpm <= DAC_DROP_FIT_MAX_SIGMA_PPM && this.unsteadyWhy() === undefined) {
      this.priorRejected = { priorPpm, fitPpm };
      this.priorB = this.nominalB;
      this.priorSigmaPpm = DAC_NOMINAL_SIGMA_PPM;
      this.priorSaved = false;
    } else if (!agree) {
      if (!this.disputed) this.disputes++;
      this.disputed = { priorPpm, fitPpm, saved: this.priorSaved };
      return false;
    }
    this.disputed = undefined;
    return true;
  }

  /**
   * The music plays on: a move inside the floor's wander is the floor's, not the device's. Beyond
   * DAC_HOLD_NS the excess moves the line at once (never a step the size of the band); inside it the
   * line drifts toward the estimate with DAC_HOLD_TAU_NS, so it is not kept off for good. The newest
   * rate turns the line about now (kept at an older one, a held line drifted off by its error).
   */
  private holdLine(old: Line, a: number, b: number, p0: number, sigmaPpm: number, measured: boolean): Line {
    const t = this.ts.at(-1)!;
    const dtNs = t - (this.lastHeldT ?? t);
    this.lastHeldT = t;
    const nowNs = lineAt(old, p0);
    const movedNs = a - nowNs;
    const excessNs = Math.sign(movedNs) * Math.max(0, Math.abs(movedNs) - DAC_HOLD_NS);
    if (Math.abs(movedNs) > DAC_MIN_CORRECTION_NS) this.held++;
    this.rateB = b;
    this.rateSigmaPpm = sigmaPpm;
    this.measured = measured;
    const driftNs = (movedNs - excessNs) * Math.min(1, dtNs / DAC_HOLD_TAU_NS);
    this.heldNowNs = nowNs + excessNs + driftNs - a;
    return (this.line = { a: nowNs + excessNs + driftNs, b: this.rateB, p0 });
  }

  /** Local monotonic ns at which stream period p is taken by the device, or undefined while learning. */
  popMonoNs(period: number): bigint | undefined {
    const f = this.estimate();
    if (!f || this.baseNs === undefined) return undefined;
    return this.baseNs + BigInt(Math.round(lineAt(f, period)));
  }

  /** The device's frames per local monotonic second (its true rate as this clock sees it). */
  framesPerSec(): number | undefined {
    const f = this.estimate();
    return f ? (this.periodFrames * 1e9) / f.b : undefined;
  }
}

/** Where a line puts period p (ns after the clock's base). */
function lineAt(line: Line, p: number): number {
  return line.a + line.b * (p - line.p0);
}

/** A run of late callbacks, one longer. */
function extendRun(run: { fromT: number; n: number } | undefined, t: number): { fromT: number; n: number } {
  const r = run ?? { fromT: t, n: 0 };
  r.n++;
  return r;
}
