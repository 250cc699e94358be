import { createHash } from 'node:crypto';
import type { PlanOp } from './plan-ops.js';

/**
 * The plan: what should sound at UTC u (DESIGN.md: "the only thing the engine reads about what
 * should sound at UTC u"). Pure: no I/O, no clock. The config gives a baseline; PlanOps (fleet
 * commands, config stop) are folded over it. Equal inputs give an equal plan on every device.
 *
 * The timeline is piecewise linear in UTC: `run` segments (frame = f0 + (u − u0)·rate), `hold`
 * segments (paused: the frame stands still, output silent) and `end` segments (stopped, or past the
 * timeline's last frame: silent). The output gain is the product of four piecewise-linear factors
 * of UTC, all in LINEAR AMPLITUDE (so a ramp is linear in amplitude, not in dB; a product of
 * linear pieces is cheap to evaluate per frame):
 *  - volume:    the baseline's volumeDb, then each `volume` op ramps linearly from its value at `at`
 *               to 10^(db/20) over rampMs;
 *  - mute:      `mute` fades to 0 over PLAN_FADE_MS ENDING at `at` (silent from `at`), `unmute` fades
 *               back to 1 over PLAN_FADE_MS STARTING at `at` (full level from at + fade);
 *  - transport: the fades around pause, resume, skip, seek, start and stop (below);
 *  - windows:   config pauses, silent in [from, to) with the same fades outside it (the timeline
 *               runs on through them, so the music comes back in sync).
 * The rule for every short fade: silence begins exactly at the op's instant, sound begins exactly
 * at it. A jump to a track's first frame plays that frame unfaded (a track start is its own fade-in);
 * a jump anywhere else fades in over PLAN_FADE_MS.
 *
 * Op semantics (applied in time order; ties in the order given; the fleet sorts by (at, issued, kid,
 * id), which this stable sort by `at` keeps):
 *  - start {fromTrack}: the timeline (re)starts at that track's first frame at `at`, from any state
 *    (also after a stop, and inside a stop's fade, which it cancels). A timeline heard just before
 *    `at` fades out over PLAN_FADE_MS ending at `at`.
 *  - stop {fadeMs}: fade to 0 over fadeMs from `at`, then the timeline ends (silence). No-op when
 *    already ended or stopping.
 *  - pause: fade out ending at `at`, then hold at the frame reached at `at`. Applies while running,
 *    also before the timeline's first frame (the countdown holds). No-op while held or ended.
 *  - resume: run again from the held frame at `at` (fade-in unless on a track start). No-op unless held.
 *  - skip {n}: from the track holding the frame at `at` to track (current + n), clamped below at
 *    track 0; at or past the last track = the timeline's end (fade out ending at `at`, then ended).
 *    While held, moves the held frame and stays held. No-op before the timeline's first frame (use
 *    start {fromTrack} to choose where a ride begins) and when ended. n is truncated to an integer.
 *  - seek {track, offsetSec}: to track's first frame + offsetSec (offset clamped to ≥ 0; a frame at
 *    or past the timeline's end = the end). Same states as skip.
 *  - volume {db, rampMs}: db clamped to [PLAN_MIN_DB, PLAN_MAX_DB], PLAN_MIN_DB meaning 0 (silence).
 *  - mute / unmute: see above; muting a muted plan changes nothing.
 * Track indices are truncated to integers; a negative index is 0; an index past the last track is
 * the timeline's end. An op with a non-finite number is ignored. Fade and ramp lengths are clamped
 * to [0, PLAN_MAX_RAMP_MS]. An op inside a fade cuts that fade where it starts its own.
 */

/**
 * Short fade around pauses, jumps, mutes and config pauses (ms): long enough not to click, short enough to be "at" the
 * instant.
 */
export const PLAN_FADE_MS = 20;
/** The config's schedule.stop fades out over this long (ms) from the stop instant. */
export const CONFIG_STOP_FADE_MS = 1000;
/** Volume limits (dB): the config's own (audio.volume_db); at or below PLAN_MIN_DB the gain is 0. */
export const PLAN_MAX_DB = 12;
export const PLAN_MIN_DB = -90;
/** Longest fade or ramp an op may ask for (ms): ten minutes. */
export const PLAN_MAX_RAMP_MS = 600_000;

export interface PlanBaseline {
  /** Timeline frame 0 sounds at this UTC instant (ns). */
  startUtcNs: bigint;
  sampleRate: number;
  /** Track i starts at this timeline frame (ascending). Unknown tracks (no manifest yet) are absent. */
  trackStartFrames: number[];
  /** The timeline's end (frames), or undefined while unknown (then it runs on until an op ends it). */
  endFrame?: number;
  volumeDb: number;
  /** Config schedule.stop: a stop op with CONFIG_STOP_FADE_MS at this instant. */
  stopUtcNs?: bigint;
  /** Config schedule.pauses: silent windows [from, to) while the timeline runs on. */
  pauses: Array<{ fromUtcNs: bigint; toUtcNs: bigint }>;
}

export type TimelineState = 'running' | 'held' | 'ended';

interface Segment {
  /** Start of the segment (UTC ns); undefined = since forever (the baseline's running timeline). */
  fromUtcNs: bigint | undefined;
  kind: 'run' | 'hold' | 'end';
  /** The frame at anchorUtcNs (a run) or the held frame. */
  anchorUtcNs: bigint;
  anchorFrame: number;
  /** The frame is discontinuous at fromUtcNs (a jump, a resume, a (re)start). */
  jump: boolean;
}

/** A piecewise-linear function of UTC: constant `initial` before the first point, last value after. */
class Ramp {
  readonly ts: bigint[] = [];
  readonly vs: number[] = [];
  constructor(readonly initial: number) {}

  /** Index of the last point at or before u (the last of equal instants: right-continuous), or -1. */
  indexAt(u: bigint): number {
    let lo = 0,
      hi = this.ts.length - 1,
      found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ts[mid]! <= u) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  valueAt(u: bigint): number {
    const i = this.indexAt(u);
    if (i < 0) return this.initial;
    if (i === this.ts.length - 1) return this.vs[i]!;
    return this.vs[i]! + this.slopeAfter(i) * Number(u - this.ts[i]!);
  }

  /** Per-ns slope between point i and the next (0 after the last). */
  slopeAfter(i: number): number {
    if (i < 0 || i >= this.ts.length - 1) return 0;
    return (this.vs[i + 1]! - this.vs[i]!) / Number(this.ts[i + 1]! - this.ts[i]!);
  }

  /** Linear from its value at `fromUtcNs` to `target` at `toUtcNs` (equal instants: a step); later points go. */
  rampTo(fromUtcNs: bigint, toUtcNs: bigint, target: number): void {
    const v = this.valueAt(fromUtcNs);
    while (this.ts.length && this.ts.at(-1)! > fromUtcNs) {
      this.ts.pop();
      this.vs.pop();
    }
    this.ts.push(fromUtcNs, toUtcNs);
    this.vs.push(v, target);
  }

  /** Points strictly inside (u0, u1). */
  pointsIn(u0: bigint, u1: bigint, out: bigint[]): void {
    for (let i = this.indexAt(u0) + 1; i < this.ts.length && this.ts[i]! < u1; i++)
      if (this.ts[i]! > u0) out.push(this.ts[i]!);
  }
}

/** One stretch of a window where the timeline is one linear piece and every gain factor linear. */
export interface PlanPiece {
  /** [fromUtcNs, toUtcNs) */
  fromUtcNs: bigint;
  toUtcNs: bigint;
  /** Timeline frame at fromUtcNs (fractional; negative before frame 0), or undefined: silent (held or ended). */
  frame: number | undefined;
  /** Timeline frames per UTC ns: sampleRate/1e9 while running, 0 while silent. */
  framesPerNs: number;
  /** The frame is discontinuous at fromUtcNs: the read position must jump there (no resampling across it). */
  jump: boolean;
  /** Gain at fromUtcNs + dtNs = Π (gainA[k] + gainB[k]·dtNs): linear amplitude. Empty = 1. */
  gainA: number[];
  gainB: number[];
}

/** Gain of a piece dtNs after its start (linear amplitude). */
export function pieceGainAt(p: PlanPiece, dtNs: number): number {
  let g = 1;
  for (let k = 0; k < p.gainA.length; k++) g *= p.gainA[k]! + p.gainB[k]! * dtNs;
  return g < 0 ? 0 : g;
}

export function dbToGain(db: number): number {
  return db <= PLAN_MIN_DB ? 0 : Math.pow(10, Math.min(PLAN_MAX_DB, db) / 20);
}

export class Plan {
  /** The ops as applied: stable-sorted by atUtcNs (the config stop among them). */
  readonly ops: readonly PlanOp[];
  private readonly segs: Segment[];
  private readonly volume: Ramp;
  private readonly mute = new Ramp(1);
  private readonly transport = new Ramp(1);
  private readonly windows = new Ramp(1);
  private readonly framesPerNs: number;

  constructor(
    readonly baseline: PlanBaseline,
    ops: readonly PlanOp[],
  ) {
    this.framesPerNs = baseline.sampleRate / 1e9;
    this.volume = new Ramp(dbToGain(baseline.volumeDb));
    this.segs = [{ fromUtcNs: undefined, kind: 'run', anchorUtcNs: baseline.startUtcNs, anchorFrame: 0, jump: false }];
    const all: PlanOp[] = [...ops];
    if (baseline.stopUtcNs !== undefined)
      all.unshift({ atUtcNs: baseline.stopUtcNs, op: 'stop', fadeMs: CONFIG_STOP_FADE_MS });
    // Stable: ops at one instant keep the caller's order (the config stop first).
    this.ops = all
      .map((op, i) => ({ op, i }))
      .sort((a, b) => (a.op.atUtcNs < b.op.atUtcNs ? -1 : a.op.atUtcNs > b.op.atUtcNs ? 1 : a.i - b.i))
      .map((x) => x.op);
    for (const op of this.ops) this.apply(op);
    this.addNaturalEnds();
    this.addWindows();
  }

  // ---- queries ----

  /** The timeline frame that should sound at u (fractional; negative before frame 0), or undefined: silent. */
  frameAt(utcNs: bigint): number | undefined {
    const s = this.segmentAt(utcNs);
    return s.kind === 'run' ? this.runFrame(s, utcNs) : undefined;
  }

  /** Total gain at u (linear): volume × mute × transport fades × config pauses. */
  gainAt(utcNs: bigint): number {
    return (
      this.volume.valueAt(utcNs) *
      this.mute.valueAt(utcNs) *
      this.transport.valueAt(utcNs) *
      this.windows.valueAt(utcNs)
    );
  }

  /** State at u, with the frame (running: where it is; held: where it holds) and its track (0-based). */
  stateAt(utcNs: bigint): { state: TimelineState; frame?: number; track?: number } {
    const s = this.segmentAt(utcNs);
    if (s.kind === 'end') return { state: 'ended' };
    const frame = s.kind === 'run' ? this.runFrame(s, utcNs) : s.anchorFrame;
    return { state: s.kind === 'run' ? 'running' : 'held', frame, track: frame >= 0 ? this.trackOf(frame) : undefined };
  }

  /** Instants in [u0, u1) where the frame jumps, holds, resumes or ends. */
  discontinuities(fromUtcNs: bigint, toUtcNs: bigint): bigint[] {
    const out: bigint[] = [];
    for (const s of this.segs) {
      if (s.fromUtcNs !== undefined && s.fromUtcNs >= fromUtcNs && s.fromUtcNs < toUtcNs && out.at(-1) !== s.fromUtcNs)
        out.push(s.fromUtcNs);
    }
    return out;
  }

  /**
   * From this instant on the plan is silent for good (stopped, or past the timeline's end); undefined: not (yet) known
   * to end.
   */
  get endUtcNs(): bigint | undefined {
    const last = this.segs.at(-1)!;
    return last.kind === 'end' ? last.fromUtcNs : undefined;
  }

  /**
   * The window [u0, u1) cut where the timeline or any gain factor changes shape: the engine's
   * per-period query (one call per period; per frame it evaluates the pieces in doubles).
   */
  pieces(u0: bigint, u1: bigint): PlanPiece[] {
    const cuts: bigint[] = [u0];
    for (const s of this.segs)
      if (s.fromUtcNs !== undefined && s.fromUtcNs > u0 && s.fromUtcNs < u1) cuts.push(s.fromUtcNs);
    for (const r of [this.volume, this.mute, this.transport, this.windows]) r.pointsIn(u0, u1, cuts);
    cuts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: PlanPiece[] = [];
    for (let j = 0; j < cuts.length; j++) {
      const from = cuts[j]!;
      if (j > 0 && from === cuts[j - 1]) continue;
      let to = u1;
      for (let k = j + 1; k < cuts.length; k++)
        if (cuts[k]! > from) {
          to = cuts[k]!;
          break;
        }
      const s = this.segmentAt(from);
      const gainA: number[] = [],
        gainB: number[] = [];
      for (const r of [this.volume, this.mute, this.transport, this.windows]) {
        const i = r.indexAt(from);
        const a = r.valueAt(from),
          b = r.slopeAfter(i);
        if (a !== 1 || b !== 0) {
          gainA.push(a);
          gainB.push(b);
        }
      }
      out.push({
        fromUtcNs: from,
        toUtcNs: to,
        frame: s.kind === 'run' ? this.runFrame(s, from) : undefined,
        framesPerNs: s.kind === 'run' ? this.framesPerNs : 0,
        jump: s.jump && s.fromUtcNs === from,
        gainA,
        gainB,
      });
    }
    return out;
  }

  // ---- folding ----

  private segmentAt(u: bigint): Segment {
    let lo = 0,
      hi = this.segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const f = this.segs[mid]!.fromUtcNs;
      if (f === undefined || f <= u) lo = mid;
      else hi = mid - 1;
    }
    return this.segs[lo]!;
  }

  private runFrame(s: Segment, u: bigint): number {
    return s.anchorFrame + Number(u - s.anchorUtcNs) * this.framesPerNs;
  }

  private trackOf(frame: number): number {
    const starts = this.baseline.trackStartFrames;
    let lo = 0,
      hi = starts.length - 1,
      found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= frame) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Timeline state at u during the fold (a run past endFrame has ended; a pending stop counts as ended). */
  private foldState(u: bigint): { kind: 'run' | 'hold' | 'end'; frame: number } {
    const last = this.segs.at(-1)!;
    if (last.fromUtcNs !== undefined && last.fromUtcNs > u) return { kind: 'end', frame: NaN }; // stopping
    const s = this.segmentAt(u);
    if (s.kind === 'end') return { kind: 'end', frame: NaN };
    const frame = s.kind === 'run' ? this.runFrame(s, u) : s.anchorFrame;
    const end = this.baseline.endFrame;
    if (end !== undefined && frame >= end) return { kind: 'end', frame: NaN };
    return { kind: s.kind, frame };
  }

  private push(s: Segment): void {
    // A later op overrides what an earlier one scheduled after it (a start inside a stop's fade).
    while (this.segs.length > 1 && this.segs.at(-1)!.fromUtcNs! > s.fromUtcNs!) this.segs.pop();
    this.segs.push(s);
  }

  /** Track i's first frame, or undefined when i is past the last track (the timeline's end). */
  private trackStart(i: number): number | undefined {
    return this.baseline.trackStartFrames[Math.max(0, i)];
  }

  private isTrackStart(frame: number): boolean {
    return this.baseline.trackStartFrames.includes(frame);
  }

  private apply(op: PlanOp): void {
    const a = op.atUtcNs;
    const fadeNs = BigInt(PLAN_FADE_MS * 1_000_000);
    const st = this.foldState(a);
    const audible = st.kind === 'run' && st.frame >= 0;
    const fadeOutEndingAt = () => this.transport.rampTo(a - fadeNs, a, 0);
    /** The timeline is at `frame` from `a`: running or still held; undefined frame = ended. */
    const jumpTo = (frame: number | undefined, hold: boolean) => {
      const end = this.baseline.endFrame;
      if (frame === undefined || (end !== undefined && frame >= end)) {
        if (audible) fadeOutEndingAt();
        this.push({ fromUtcNs: a, kind: 'end', anchorUtcNs: a, anchorFrame: NaN, jump: true });
        return;
      }
      if (hold) {
        this.push({ fromUtcNs: a, kind: 'hold', anchorUtcNs: a, anchorFrame: frame, jump: true });
        return;
      }
      if (audible) fadeOutEndingAt();
      if (this.isTrackStart(frame)) this.transport.rampTo(a, a, 1);
      else {
        this.transport.rampTo(a, a, 0);
        this.transport.rampTo(a, a + fadeNs, 1);
      }
      this.push({ fromUtcNs: a, kind: 'run', anchorUtcNs: a, anchorFrame: frame, jump: true });
    };
    const num = (x: number) => Number.isFinite(x);
    const rampNs = (ms: number) => BigInt(Math.round(Math.min(PLAN_MAX_RAMP_MS, Math.max(0, ms)) * 1e6));
    switch (op.op) {
      case 'start': {
        if (!num(op.fromTrack)) return;
        // From any state, also inside a stop's fade (which it cancels): heard if a run is at a frame.
        const s = this.segmentAt(a);
        const f = s.kind === 'run' ? this.runFrame(s, a) : -1;
        const wasAudible = f >= 0 && (this.baseline.endFrame === undefined || f < this.baseline.endFrame);
        const frame = this.trackStart(Math.trunc(op.fromTrack));
        if (wasAudible) fadeOutEndingAt();
        if (frame === undefined) {
          this.push({ fromUtcNs: a, kind: 'end', anchorUtcNs: a, anchorFrame: NaN, jump: true });
          return;
        }
        this.transport.rampTo(a, a, 1);
        this.push({ fromUtcNs: a, kind: 'run', anchorUtcNs: a, anchorFrame: frame, jump: true });
        return;
      }
      case 'stop': {
        if (!num(op.fadeMs) || st.kind === 'end') return;
        const d = rampNs(op.fadeMs);
        this.transport.rampTo(a, a + d, 0);
        this.push({ fromUtcNs: a + d, kind: 'end', anchorUtcNs: a + d, anchorFrame: NaN, jump: true });
        return;
      }
      case 'pause':
        if (st.kind !== 'run') return;
        fadeOutEndingAt();
        this.push({ fromUtcNs: a, kind: 'hold', anchorUtcNs: a, anchorFrame: st.frame, jump: true });
        return;
      case 'resume':
        if (st.kind !== 'hold') return;
        this.transport.rampTo(a, a, 0);
        if (this.isTrackStart(st.frame)) this.transport.rampTo(a, a, 1);
        else this.transport.rampTo(a, a + fadeNs, 1);
        this.push({ fromUtcNs: a, kind: 'run', anchorUtcNs: a, anchorFrame: st.frame, jump: true });
        return;
      case 'skip': {
        if (!num(op.n) || st.kind === 'end' || st.frame < 0) return;
        const target = Math.max(0, this.trackOf(st.frame) + Math.trunc(op.n));
        jumpTo(this.trackStart(target), st.kind === 'hold');
        return;
      }
      case 'seek': {
        if (!num(op.track) || !num(op.offsetSec) || st.kind === 'end' || st.frame < 0) return;
        const start = this.trackStart(Math.trunc(op.track));
        jumpTo(
          start === undefined ? undefined : start + Math.round(Math.max(0, op.offsetSec) * this.baseline.sampleRate),
          st.kind === 'hold',
        );
        return;
      }
      case 'volume':
        if (!num(op.db) || !num(op.rampMs)) return;
        this.volume.rampTo(a, a + rampNs(op.rampMs), dbToGain(op.db));
        return;
      case 'mute':
        this.mute.rampTo(a - fadeNs, a, 0);
        return;
      case 'unmute':
        this.mute.rampTo(a, a + fadeNs, 1);
        return;
    }
  }

  /** A running segment that reaches endFrame before the next segment ends there. */
  private addNaturalEnds(): void {
    const end = this.baseline.endFrame;
    if (end === undefined) return;
    const out: Segment[] = [];
    for (let i = 0; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      out.push(s);
      if (s.kind !== 'run') continue;
      const endAt = s.anchorUtcNs + BigInt(Math.ceil((end - s.anchorFrame) / this.framesPerNs));
      const next = this.segs[i + 1]?.fromUtcNs;
      if ((s.fromUtcNs === undefined || endAt > s.fromUtcNs) && (next === undefined || endAt < next)) {
        out.push({ fromUtcNs: endAt, kind: 'end', anchorUtcNs: endAt, anchorFrame: NaN, jump: false });
      } else if (s.fromUtcNs !== undefined && endAt <= s.fromUtcNs) {
        out[out.length - 1] = { ...s, kind: 'end', anchorFrame: NaN }; // starts at or past the end
      }
    }
    this.segs.splice(0, this.segs.length, ...out);
  }

  /** Config pauses: silent windows, merged where their fades would overlap. */
  private addWindows(): void {
    const fadeNs = BigInt(PLAN_FADE_MS * 1_000_000);
    const ws = [...this.baseline.pauses]
      .filter((w) => w.toUtcNs > w.fromUtcNs)
      .sort((x, y) => (x.fromUtcNs < y.fromUtcNs ? -1 : x.fromUtcNs > y.fromUtcNs ? 1 : 0));
    const merged: Array<{ fromUtcNs: bigint; toUtcNs: bigint }> = [];
    for (const w of ws) {
      const last = merged.at(-1);
      if (last && w.fromUtcNs - fadeNs <= last.toUtcNs + fadeNs) {
        if (w.toUtcNs > last.toUtcNs) last.toUtcNs = w.toUtcNs;
      } else merged.push({ ...w });
    }
    for (const w of merged) {
      this.windows.rampTo(w.fromUtcNs - fadeNs, w.fromUtcNs, 0);
      this.windows.rampTo(w.toUtcNs, w.toUtcNs + fadeNs, 1);
    }
  }
}

/** Folds `ops` (ordered by the caller; stably sorted by atUtcNs here) over the baseline. Pure and deterministic. */
export function buildPlan(baseline: PlanBaseline, ops: readonly PlanOp[]): Plan {
  return new Plan(baseline, ops);
}

/** The plainest plan: the timeline from frame 0 at startUtcNs, on and on (simulations, one-off tools). */
export function plainPlan(startUtcNs: bigint, sampleRate: number): Plan {
  return buildPlan({ startUtcNs, sampleRate, trackStartFrames: [0], volumeDb: 0, pauses: [] }, []);
}

/** A short stable hex digest of a plan's inputs (baseline and ops as applied): devices compare plans by it. */
export function planDigest(plan: Plan): string {
  const b = plan.baseline;
  const canon = {
    startUtcNs: String(b.startUtcNs),
    sampleRate: b.sampleRate,
    trackStartFrames: b.trackStartFrames,
    endFrame: b.endFrame ?? null,
    volumeDb: b.volumeDb,
    pauses: b.pauses.map((p) => [String(p.fromUtcNs), String(p.toUtcNs)]),
    ops: plan.ops.map((o) =>
      Object.keys(o)
        .sort()
        .map((k) => [k, String((o as unknown as Record<string, unknown>)[k])]),
    ),
  };
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 16);
}
