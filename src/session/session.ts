import type { PcmFormat } from '../player/decoder.js';
import { PlaybackEngine, type ChannelMode, type TimelineAudio } from '../player/engine.js';
import { buildPlan, type Plan, type PlanBaseline } from '../player/plan.js';
import type { PlanOp } from '../player/plan-ops.js';
import type { OutputSink } from '../player/sinks/sink.js';
import { joinFrame, type Silence, type SilenceReason, type TimelineTrack } from '../player/tracks.js';
import type { MonotonicClock } from '../time/clock.js';
import type { Timescale } from '../time/timescale.js';
import { clockSettled, placementLimitNs, startDecision, type ReadinessPolicy } from './readiness.js';
import { sleepMono } from './wake.js';

/**
 * One start of the playlist, the same for the service (real time) and the ride simulator (virtual
 * time): open the stream (silence while the clock locks, so the DAC's rate is measured before the
 * first frame) -> wait until the clock is ready -> resolve the start -> have the audio at the join
 * point in RAM -> place timeline frame 0 on its exact sample, or join late -> play, reporting each
 * track -> stop at the end, at the stop instant, or on abort (a fade, or at once for a crash).
 * Time comes from the injected monotonic clock and the disciplined timescale only.
 */

/** The timeline's audio as the session needs it: the engine's view plus loading and lookups. */
export interface SessionAudio extends TimelineAudio {
  prepare(frame: number): Promise<void>;
  readonly finished: boolean;
  trackAt(frame: number): TimelineTrack | undefined;
  /** Why a frame is silent on this device (undefined: its audio is there). */
  silenceAt(frame: number): Silence | undefined;
  whenIdle(): Promise<void>;
}

export interface SessionLog {
  info(m: string): void;
  warn(m: string): void;
  status(line: string): void;
}

export interface SessionOptions {
  clock: MonotonicClock;
  timescale(): Timescale;
  log: SessionLog;
  format: PcmFormat;
  periodFrames: number;
  audio: SessionAudio;
  /** Tracks in the playlist (for "track i/n"). */
  trackCount: number;
  /** The playlist's name in messages (its path). */
  name?: string;
  /** Opens the output and starts pulling periods through fill. */
  openSink(fill: (p: number) => Buffer): Promise<OutputSink>;
  ready: ReadinessPolicy;
  /** The start instant, resolved once the clock is ready (given UTC then). */
  resolveStart(readyUtcNs: bigint): bigint;
  /** A guess of the start from the unsynchronized clock, to decode the join point while the clock locks. */
  guessStart?(utcNowNs: bigint): bigint;
  /** Audio settings read live (a reload changes them without a gap). */
  live: { volumeDb(): number; trimNs(): number; channelMode(): ChannelMode };
  stopUtcNs?: bigint;
  pauses?: Array<{ fromUtcNs: bigint; toUtcNs: bigint }>;
  /** The timeline's track starts and end (frames), when known (a manifest): what a skip or seek lands on. */
  timeline?: { trackStartFrames: number[]; endFrame?: number };
  /** Operations from beyond the config (the fleet's commands), already verified and sorted. */
  ops?: () => readonly PlanOp[];
  /** Time from writing a period to hearing it (ns): the SIGTERM fade starts after what is queued. */
  outputLatencyNs?: number;
  /** Compute positions only (long simulations). */
  dry?: boolean;
  /** Status and stop checks this often (ms): 250 in the service, coarser in simulations. */
  tickMs?: number;
  /** After the last frame, keep the stream open this long (buffers past the one we see). */
  drainMs?: number;
  fadeOutMs?: number;
  events?: SessionEvents;
}

export interface SessionEvents {
  /** The clock is ready and the start resolved (before the audio at the join point is loaded). */
  onReady?(startUtcNs: bigint, readyAtNs: bigint): void;
  /** A new track began (0-based index in the timeline). */
  onTrack?(index: number, title: string): void;
  onDecision?(text: string, onTime: boolean): void;
  /** The first sample placed: timeline frame firstTimelineFrame plays at stream frame firstStreamFrame. */
  onPlaced?(info: {
    firstTimelineFrame: number;
    firstStreamFrame: number;
    timescale: Timescale;
    sink: OutputSink;
  }): void;
  /** Every tick while the stream is open (the service saves the DAC's rate, updates status). */
  onTick?(s: SessionSnapshot): void;
}

/**
 * After the start, each silence says its cause: 'starting' until the first frame is heard, 'paused'
 * and 'muted' by the plan (a command, a config pause), 'between tracks' in a configured gap, 'silent
 * slot' (its file missing or different here), 'decode failed' part-way, 'loading' the audio at a new
 * position (a skip, a clock step), 'decoding late' (a slow CPU or card).
 */
export type SessionState =
  | 'opening'
  | 'waiting for the clock'
  | 'waiting'
  | 'starting'
  | 'playing'
  | 'paused'
  | 'muted'
  | 'between tracks'
  | 'silent slot'
  | 'decode failed'
  | 'loading'
  | 'decoding late'
  | 'fading out'
  | 'finished'
  | 'stopped';

const SILENCE_STATES: Record<SilenceReason, SessionState> = {
  gap: 'between tracks',
  end: 'finished',
  slot: 'silent slot',
  failed: 'decode failed',
  seeking: 'loading',
  decoding: 'decoding late',
};
/** A plan gain below this (−80 dB) is silence: a mute or a config pause, not quiet music. */
const SILENT_GAIN = 1e-4;

export interface SessionSnapshot {
  state: SessionState;
  startUtcNs?: bigint;
  untilStartSec?: number;
  track?: number;
  title?: string;
  positionSec?: number;
  trackSec?: number;
  /** The music against the timeline by the device's newest timing estimate (µs, + = ahead), held part included. */
  syncErrorUs?: number;
  ratioPpm?: number;
  reseeks: number;
  underruns: number;
  device?: string;
  /** Why the music is silent here (a slot's missing file, a failed decode), in words. */
  silentBecause?: string;
}

export class NothingToJoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToJoinError';
  }
}

/** On SIGTERM the music fades out over this, instead of stopping on a click. */
export const FADE_OUT_MS = 500;
/** A reload's new volume ramps over this: no zipper, no step. */
const LIVE_VOLUME_RAMP_MS = 300;
/** ...and starts this long after what is already queued, so no frame already written would need it. */
const LIVE_CHANGE_MARGIN_NS = 50_000_000;
const DEFAULT_TICK_MS = 250;
/** A late join re-prepares where the timeline has got to at most this often (see catchUpJoin)... */
const JOIN_CATCH_UP_TRIES = 3;
/** ...looking this far ahead: the first frame is placed a queue's length after the check. */
const JOIN_CATCH_UP_AHEAD_NS = 500_000_000;
/** Keep the stream open this long after the last frame is heard by our estimate: server and DAC buffers. */
const DEFAULT_DRAIN_MS = 300;

export class PlaybackSession {
  sink?: OutputSink;
  engine?: PlaybackEngine;
  startUtcNs?: bigint;
  /** Monotonic ns at which the clock was ready and the start resolved. */
  readyAtNs?: bigint;
  private state: SessionState = 'opening';
  private abortKind?: 'fade' | 'now';
  private readonly aborted = new AbortController();
  private fadeFromNs?: bigint;
  private lastTrack = -1;
  private decided = false;
  /** How the music ended: its timeline played out, or the plan stopped it (schedule.stop, a stop command). */
  endedBy?: 'end' | 'stop';
  /** Since when (monotonic ns) the audio due has been silent from a late or failed decode. */
  private decodeSilence?: { sinceNs: bigint; state: SessionState };
  private plan?: Plan;
  private baseVolumeDb: number;
  /** This device's own operations: volume changes from a reload. */
  private readonly localOps: PlanOp[] = [];
  /** The I/O the session awaits (decoding the join point): a simulation waits for it before time moves on. */
  private io: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: SessionOptions) {
    this.baseVolumeDb = o.live.volumeDb();
  }

  /** Stops: 'fade' fades out over FADE_OUT_MS (SIGTERM), 'now' cuts at once (a crash, a test). */
  abort(kind: 'fade' | 'now'): void {
    if (this.abortKind === 'now') return;
    this.abortKind = kind;
    if (kind === 'now' || !this.engine?.placed) this.aborted.abort();
  }

  /** Resolves once no I/O of the session is in flight (simulations step time only then). */
  async settled(): Promise<void> {
    const turn = () => new Promise<void>((r) => setImmediate(r)); // every pending continuation runs
    for (;;) {
      await turn();
      const seen = this.io;
      await seen;
      await this.o.audio.whenIdle();
      await turn();
      if (seen === this.io) return;
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.io = Promise.all([this.io, p]).catch(() => {});
    return p;
  }

  /** Runs the start to its end; rejects when nothing can be played (the caller says why and retries). */
  async run(): Promise<{ startUtcNs?: bigint; sink: OutputSink }> {
    const guess = this.preloadGuess();
    const sink = (this.sink = await this.o.openSink((p) => this.engine?.fill(p) ?? this.silence()));
    try {
      this.state = 'waiting for the clock';
      await this.waitUntilReady();
      if (!this.aborted.signal.aborted) {
        await guess;
        await this.placeOrJoin();
        await this.play();
      }
      return { startUtcNs: this.startUtcNs, sink };
    } finally {
      if (this.state !== 'finished') this.state = 'stopped';
      await sink.stop();
    }
  }

  private silenceBuf?: Buffer;
  private silence(): Buffer {
    this.silenceBuf ??= Buffer.alloc(this.o.dry ? 0 : this.o.periodFrames * this.o.audio.frameBytes);
    return this.silenceBuf;
  }

  /** Before any lock the system clock is the best guess of where the timeline is: decode there meanwhile. */
  private preloadGuess(): Promise<void> {
    if (!this.o.guessStart) return Promise.resolve();
    const utcNow = this.o.timescale().utcAt(this.o.clock.nowNs());
    const lateNs = Number(utcNow - this.o.guessStart(utcNow));
    const p = this.track(this.o.audio.prepare(lateNs > 0 ? joinFrame(lateNs, this.o.format.sampleRate) : 0));
    p.catch(() => {}); // awaited after the lock; a failure there is reported once
    return p;
  }

  private async waitUntilReady(): Promise<void> {
    const { clock, ready } = this.o;
    const deadlineNs = clock.nowNs() + BigInt(Math.round(ready.lockTimeoutSec * 1e9));
    while (!this.aborted.signal.aborted) {
      const now = clock.nowNs();
      if (!ready.hasSources || clockSettled(this.o.timescale(), now, ready.gpsConfigured)) return;
      if (now >= deadlineNs) {
        this.o.log.warn(
          `no settled clock lock after ${ready.lockTimeoutSec} s: carrying on with the clock there is (the start instant decides: see below)`,
        );
        return;
      }
      this.tick();
      await sleepMono(clock, this.tickNs, this.aborted.signal);
    }
  }

  private get tickNs(): number {
    return (this.o.tickMs ?? DEFAULT_TICK_MS) * 1e6;
  }

  private async placeOrJoin(): Promise<void> {
    const { clock, format } = this.o;
    this.readyAtNs = clock.nowNs();
    const utcNow = this.o.timescale().utcAt(this.readyAtNs);
    this.startUtcNs = this.o.resolveStart(utcNow);
    this.o.events?.onReady?.(this.startUtcNs, this.readyAtNs);
    const lateNs = Number(utcNow - this.startUtcNs);
    // Joining late: have the track that plays at the join point in RAM before the first frame is placed.
    await this.track(this.o.audio.prepare(lateNs > 0 ? joinFrame(lateNs, format.sampleRate) : 0));
    if (lateNs > 0) await this.catchUpJoin();
    if (this.o.audio.finished) {
      throw lateNs > 0
        ? new NothingToJoinError(
            `the playlist ended before this device was ready (its start was ${Math.round(lateNs / 1e9)} s ago): nothing to join`,
          )
        : new Error(`no track of ${this.o.name ?? 'the playlist'} could be decoded (see the warnings above)`);
    }
    this.rebuildPlan();
    const ended = this.plan!.endUtcNs;
    if (ended !== undefined && ended <= utcNow)
      throw new NothingToJoinError(
        `the plan for this start ended ${Math.round(Number(utcNow - ended) / 1e9)} s ago (a stop): nothing to play`,
      );
    this.engine = this.makeEngine();
    this.state = 'waiting';
  }

  /**
   * Decoding the join point takes seconds on a slow machine (or with short tracks, several of them):
   * the timeline has moved on meanwhile. Have the audio where it is now, a few times at most, so the
   * join does not begin in the silence of a decode that is already late.
   */
  private async catchUpJoin(): Promise<void> {
    for (let i = 0; i < JOIN_CATCH_UP_TRIES && !this.aborted.signal.aborted; i++) {
      const nowNs = this.o.timescale().utcAt(this.o.clock.nowNs()) + BigInt(JOIN_CATCH_UP_AHEAD_NS);
      const frame = joinFrame(Number(nowNs - this.startUtcNs!), this.o.format.sampleRate);
      const reason = this.o.audio.silenceAt(frame)?.reason;
      if (reason !== 'decoding' && reason !== 'seeking') return;
      await this.track(this.o.audio.prepare(frame));
    }
  }

  private makeEngine(): PlaybackEngine {
    const { o } = this;
    const fadeNs = (o.fadeOutMs ?? FADE_OUT_MS) * 1e6;
    return new PlaybackEngine(
      this.sink!,
      o.audio,
      {
        plan: () => this.plan!,
        maxErrorNs: placementLimitNs(o.ready),
        timescale: o.timescale,
        nowNs: () => o.clock.nowNs(),
        dry: o.dry,
        get trimNs() {
          return o.live.trimNs();
        },
        get channelMode() {
          return o.live.channelMode();
        },
        // The SIGTERM fade: this device's alone (not the shared plan), from what is not queued yet.
        localGainAt: (monoNs) =>
          this.fadeFromNs === undefined ? 1 : Math.max(0, Math.min(1, 1 - Number(monoNs - this.fadeFromNs) / fadeNs)),
      },
      {
        onStartPlaced: ({ startStreamFrame, firstTimelineFrame, timescale }) =>
          o.events?.onPlaced?.({
            firstTimelineFrame,
            firstStreamFrame: startStreamFrame + firstTimelineFrame,
            timescale,
            sink: this.sink!,
          }),
        onFinished: (how) => {
          this.endedBy = how;
        },
        // Never silent about the music moving: a re-seek (far off the timeline) or a re-placement after an underrun.
        onSeek: (errorFrames) =>
          o.log.warn(
            `re-seeked: the music was ${((errorFrames / o.format.sampleRate) * 1e3).toFixed(1)} ms off its timeline (a stall or a clock correction); back on its frame with a short fade`,
          ),
        onPlaced: ({ why, timelineFrame }) => {
          if (why === 'underrun')
            o.log.warn(
              `an underrun: re-placed on timeline frame ${timelineFrame} (where the DAC clock puts the device now)`,
            );
          if (why === 'regrid')
            o.log.warn(
              `the audio device's periods moved: re-placed on timeline frame ${timelineFrame} (where the DAC clock, learned again, puts the device now)`,
            );
        },
      },
    );
  }

  /**
   * The plan, rebuilt from the config's baseline and the operations: the fleet's (shared) and this
   * device's own volume changes from a reload (each a ramp, so a new volume never steps).
   */
  private rebuildPlan(): void {
    const { o } = this;
    if (this.startUtcNs === undefined) return;
    const baseline: PlanBaseline = {
      startUtcNs: this.startUtcNs,
      sampleRate: o.format.sampleRate,
      trackStartFrames: o.timeline?.trackStartFrames ?? [],
      endFrame: o.timeline?.endFrame,
      volumeDb: this.baseVolumeDb,
      stopUtcNs: o.stopUtcNs,
      pauses: o.pauses ?? [],
    };
    const ops = [...(o.ops?.() ?? []), ...this.localOps].sort((a, b) =>
      a.atUtcNs < b.atUtcNs ? -1 : a.atUtcNs > b.atUtcNs ? 1 : 0,
    );
    this.plan = buildPlan(baseline, ops);
  }

  /** The fleet's operations changed: the engine reads the new plan from its next period. */
  opsChanged(): void {
    this.rebuildPlan();
  }

  /** A reload set a new volume: ramped from what plays now, starting after what is already queued. */
  setVolume(db: number): void {
    if (this.startUtcNs === undefined) {
      this.baseVolumeDb = db;
      return;
    }
    const atUtcNs =
      this.o.timescale().utcAt(this.o.clock.nowNs()) + BigInt(Math.round(this.latencyNs() + LIVE_CHANGE_MARGIN_NS));
    this.localOps.push({ atUtcNs, op: 'volume', db, rampMs: LIVE_VOLUME_RAMP_MS });
    this.rebuildPlan();
  }

  /** The plan in force (for status: its digest, what it says now). */
  get currentPlan(): Plan | undefined {
    return this.plan;
  }

  private async play(): Promise<void> {
    const { clock } = this.o;
    const fadeNs = (this.o.fadeOutMs ?? FADE_OUT_MS) * 1e6;
    while (!this.aborted.signal.aborted) {
      const now = clock.nowNs();
      if (this.abortKind === 'fade') {
        // The fade begins with the first period not written yet, then it and the buffers after us play out.
        this.fadeFromNs ??= now + BigInt(Math.round(this.latencyNs()));
        this.state = 'fading out';
        if (!this.engine!.placed || now > this.fadeFromNs + BigInt(Math.round(fadeNs + 2 * this.tickNs))) return;
      }
      const snap = this.tick();
      if (this.endedBy !== undefined && (snap.state === 'finished' || snap.state === 'stopped')) break;
      const end = this.plan?.endUtcNs;
      if (end !== undefined && this.o.timescale().utcAt(now) >= end + BigInt(Math.round(this.latencyNs()))) {
        this.o.log.info('the plan stopped the music (a stop instant or command): faded out');
        break;
      }
      await sleepMono(clock, this.tickNs, this.aborted.signal);
    }
    if (!this.aborted.signal.aborted)
      await sleepMono(clock, (this.o.drainMs ?? DEFAULT_DRAIN_MS) * 1e6, this.aborted.signal);
    this.state = 'finished';
  }

  /** Time from writing a period to hearing it: what the caller says, else a bound of 8 periods. */
  private latencyNs(): number {
    return this.o.outputLatencyNs ?? ((8 * this.o.periodFrames) / this.o.format.sampleRate) * 1e9;
  }

  /** Looks at where playback is, says what changed, and tells the caller. */
  private tick(): SessionSnapshot {
    const snap = this.snapshot();
    const engine = this.engine;
    if (engine && !this.decided && snap.untilStartSec !== undefined && snap.untilStartSec <= 0) {
      this.decided = true;
      const d = startDecision(this.o.timescale(), this.o.clock.nowNs(), this.o.ready);
      (d.onTime ? this.o.log.info : this.o.log.warn)(`start instant: ${d.text}`);
      this.o.events?.onDecision?.(d.text, d.onTime);
    }
    this.sayDecodeSilence(snap);
    if (snap.track !== undefined && snap.track - 1 !== this.lastTrack) {
      this.lastTrack = snap.track - 1;
      this.o.log.info(`now playing ${snap.track}/${this.o.trackCount}: ${snap.title}`);
      this.o.events?.onTrack?.(this.lastTrack, snap.title ?? '');
    }
    this.o.events?.onTick?.(snap);
    return snap;
  }

  /** A late or failed decode is silence the rider hears: said when it begins and when it ends. */
  private sayDecodeSilence(snap: SessionSnapshot): void {
    const now = this.o.clock.nowNs();
    const silent = snap.state === 'decoding late' || snap.state === 'decode failed';
    if (silent && this.decodeSilence === undefined) {
      this.decodeSilence = { sinceNs: now, state: snap.state };
      this.o.log.warn(
        snap.state === 'decoding late'
          ? `silence: the audio due now is not decoded yet (this CPU or card is too slow for the playlist's format, or busy); it plays from where the shared timeline is once it is, in sync`
          : `silence: track ${snap.track ?? '?'} could not be decoded to its end (${snap.silentBecause ?? 'ffmpeg failed'}); the rest of its slot is silent, the next track plays on time`,
      );
    } else if (!silent && this.decodeSilence !== undefined) {
      const sec = (Number(now - this.decodeSilence.sinceNs) / 1e9).toFixed(1);
      const cause = this.decodeSilence.state === 'decoding late' ? 'a late decode' : 'a failed decode';
      this.decodeSilence = undefined;
      this.o.log.info(
        snap.state === 'playing'
          ? `music again after ${sec} s of silence from ${cause}`
          : `${sec} s of silence from ${cause}, now ${snap.state}`,
      );
    }
  }

  /** What a listener hears now, in words: never "playing" over silence, never silence blamed on the wrong cause. */
  private stateNow(
    utcNowNs: bigint,
    untilStartSec: number,
    frame: number | undefined,
    done: boolean,
    silence?: Silence,
  ): SessionState {
    if (this.state === 'fading out' || this.state === 'stopped') return this.state;
    if (untilStartSec > 0) return 'waiting';
    // The engine's end: a planned stop before the playlist's end is a stop, not the playlist finishing.
    if (done) return this.endedBy === 'end' ? 'finished' : 'stopped';
    if (silence?.reason === 'end') return 'finished';
    const planned = this.plan?.stateAt(utcNowNs).state;
    // The plan ends at the playlist's end too: only a stop before it is 'stopped'.
    if (planned === 'ended') return this.endedBy === 'end' ? 'finished' : 'stopped';
    if (planned === 'held') return 'paused';
    if (frame === undefined) {
      // The engine holds the first frame until the clock's error is within the placement limit.
      const boundNs = this.o.timescale().errorBoundAt(this.o.clock.nowNs());
      return boundNs > placementLimitNs(this.o.ready) ? 'waiting for the clock' : 'starting';
    }
    if ((this.plan?.gainAt(utcNowNs) ?? 1) < SILENT_GAIN) return 'muted';
    return silence ? SILENCE_STATES[silence.reason] : 'playing';
  }

  /** Where the session is now, for status. */
  snapshot(): SessionSnapshot {
    const sink = this.sink,
      engine = this.engine;
    const base = {
      reseeks: engine?.seeks ?? 0,
      underruns: sink?.underrunPeriodsInMusic ?? sink?.underrunPeriods ?? 0,
      device: sink?.description,
    };
    if (!engine || this.startUtcNs === undefined) return { ...base, state: this.state };
    const rate = this.o.format.sampleRate;
    const utcNowNs = this.o.timescale().utcAt(this.o.clock.nowNs());
    const untilStartSec = Number(this.startUtcNs - utcNowNs) / 1e9;
    const frame = engine.timelineFrameNow();
    const t = frame !== undefined ? this.o.audio.trackAt(frame) : undefined;
    const end = this.o.audio.endFrame;
    const done = this.endedBy !== undefined && (frame === undefined || end === undefined || frame >= end);
    const silence = frame === undefined ? undefined : this.o.audio.silenceAt(frame);
    const state = this.stateNow(utcNowNs, untilStartSec, frame, done, silence);
    return {
      ...base,
      state,
      startUtcNs: this.startUtcNs,
      untilStartSec,
      ...(silence?.why !== undefined ? { silentBecause: silence.why } : {}),
      ...(t && frame !== undefined
        ? {
            track: t.index + 1,
            title: t.entry.title ?? t.entry.raw,
            positionSec: (frame - t.startFrame) / rate,
            trackSec: t.frames / rate,
          }
        : {}),
      ...(engine.placed
        ? {
            // Against the device's newest timing estimate: the player's own error plus what the DAC clock holds back.
            syncErrorUs: (engine.lastErrorFrames / rate) * 1e6 + engine.heldAheadNs / 1e3,
            ratioPpm: (engine.lastRatio - 1) * 1e6,
          }
        : {}),
    };
  }
}
