import { readFileSync } from 'node:fs';
import audify from 'audify';
import { rtaudioDeviceName } from '../../../drivers/platform/pi.js';
import type { PcmFormat } from '../decoder.js';
import { AudioDeviceUnavailableError, NoAudioDeviceError, QueueSizer, type OutputSink } from './sink.js';
import { probeAlsaOutputs } from './alsa-probe.js';
import { DAC_BLOCK, DAC_DROP_FIT_MAX_SIGMA_PPM, DacClock, type DacRate } from '../dac-clock.js';
import { signed } from '../../util/format.js';

/**
 * ALSA through audify (RtAudio). audify keeps a queue of written periods and pops one per device
 * period, calling back into JS (late, never early) each time it pops one; when the queue is empty
 * it plays silence and calls nothing, and `streamTime` keeps counting periods. So:
 *  - we keep `queuePeriods` written ahead, refilling one per callback, and more when callbacks are
 *    seen late (QueueSizer: the queue grows to the worst lateness, up to QUEUE_MAX_AHEAD_MS);
 *  - RtAudio's periods (streamTime) minus the buffers we ever wrote is silence audify inserted,
 *    known at the first callback after the queue drained (it cannot pop what was never written);
 *    periods minus callbacks is that silence plus callbacks not delivered yet (a late event loop):
 *    after a stall, its minimum over the next callbacks finds the one silent period the first rule
 *    cannot see (still being written when we woke);
 *  - an ALSA xrun (RtAudio reports "underrun") restarts the device on a new phase: the DAC clock
 *    is reset and learned again (keeping the rate), and the player re-places when it knows; a
 *    device whose periods come later with nothing reported (the JACK plugin when JACK's driver was
 *    late) is found by the DAC clock itself (gridMoves), and the player re-places as well;
 *  - the callback thread asks for realtime scheduling (RTAUDIO_SCHEDULE_REALTIME); whether the
 *    system allows it is said once;
 *  - the pop instant of period p, and the DAC's true rate, come from the lower envelope of the
 *    callback times (DacClock): callbacks come late by event-loop delay, never early.
 */

const RTAUDIO_API_LINUX_ALSA = 2; // RtAudioApi.LINUX_ALSA (a const enum, unusable under isolatedModules)
type RtAudio = InstanceType<typeof audify.RtAudio>;
/** What the sink uses of RtAudio: the real one, or a twin in tests (`rtAudio` option). */
export type RtAudioLike = Pick<
  RtAudio,
  | 'getDevices'
  | 'getDefaultOutputDevice'
  | 'openStream'
  | 'start'
  | 'stop'
  | 'closeStream'
  | 'write'
  | 'getStreamLatency'
  | 'setFrameOutputCallback'
  | 'streamTime'
>;
/**
 * Callbacks after a stall over which consumed-minus-callbacks is watched for one more silent period (~0.34 s at 1024).
 */
const UNDERRUN_WINDOW = 16;
/** A stamp this old in the stream's first callbacks is not on our clock (nothing can have stalled it yet). */
const STAMP_MAX_AGE_NS = 10_000_000_000n;
const RTAUDIO_FORMAT_SINT16 = 0x2 as Parameters<RtAudio['openStream']>[2];
/** RtAudioStreamFlags.RTAUDIO_SCHEDULE_REALTIME: SCHED_RR for RtAudio's callback thread where allowed. */
const RTAUDIO_SCHEDULE_REALTIME = 0x8 as Parameters<RtAudio['openStream']>[8];
/**
 * The write-ahead queue grows from the lateness seen up to this much audio (ms): a plan change reaches the output
 * within it.
 */
const QUEUE_MAX_AHEAD_MS = 1000;
/**
 * The device buffer ahead of a popped period is the deepest delay RtAudio read after its writes
 * (snd_pcm_delay, getStreamLatency) over this many callbacks after the start-up burst. During the burst
 * it reads the buffer still filling: 0, 1024, 2048 or 3072 of 4096 frames in 3 of 40 starts on the JACK
 * rig; one start took 2048 and played two periods (42.7 ms) late, steady, with nothing said. From the
 * fifth callback on every reading was the full 4096. (The DAC clock needs as many callbacks anyway.)
 */
const BUFFER_SETTLE_CALLBACKS = 16;
/**
 * RtAudio asks ALSA for this many periods of buffer (RtApiAlsa: "a fairly safe default"): the depth taken
 * when the device never reports its delay (RtAudio keeps 0 unless snd_pcm_delay reads above it).
 */
const RTAUDIO_ALSA_PERIODS = 4;
/**
 * JAUDIOSYNC_TRACE_ALIGN=1 (with the engine's trace): once per DAC_BLOCK callbacks (the DAC clock's
 * refit cadence), its line as a phase of the period in CLOCK_MONOTONIC (comparable between two players
 * on one sound server: the same device cycle has the same phase), its rate, and how late this
 * callback came against it.
 */
const TRACE_DAC = Boolean(process.env.JAUDIOSYNC_TRACE_ALIGN);

export interface AudifySinkOptions {
  format: PcmFormat;
  periodFrames: number;
  /** Periods written ahead of the device: margin against event-loop stalls. */
  queuePeriods: number;
  /** Output device name as RtAudio lists it; "default" = the system default. */
  deviceName: string;
  /** Injected local monotonic clock. */
  nowNs: () => bigint;
  /** Latency after the period is popped, beyond RtAudio's own buffer (ns): device / server delay. */
  extraLatencyNs?: number;
  /** The device's rate as the last run measured it: see DacClock. */
  dacPrior?: DacRate;
  /**
   * Things worth a line in the log (realtime scheduling refused, an xrun): default process warnings.
   * 'info': nothing to hear was affected (a gap before the music began).
   */
  onNotice?: (message: string, level: 'warn' | 'info') => void;
  /** RtAudio for ALSA, or a twin (tests); given, the device probe in a child process is skipped. */
  rtAudio?: () => RtAudioLike;
}

/**
 * Whether this process may run a thread SCHED_RR: root, or a realtime-priority limit above 0
 * (systemd LimitRTPRIO=, or "@audio - rtprio 95" in limits.conf for the audio group).
 */
export function realtimeAllowed(): { allowed: boolean; why: string } {
  if (process.getuid?.() === 0) return { allowed: true, why: 'running as root' };
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max realtime priority'));
    const soft = line ? Number(line.trim().split(/\s+/)[3]) : NaN;
    if (soft > 0) return { allowed: true, why: `realtime priority limit ${soft}` };
    return {
      allowed: false,
      why: 'realtime priority limit 0: allow it (systemd LimitRTPRIO=95, or "@audio - rtprio 95" in /etc/security/limits.d/ for a user in the audio group)',
    };
  } catch {
    return { allowed: false, why: 'cannot read /proc/self/limits' };
  }
}

export class AudifySink implements OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  description = '';
  private rt?: RtAudioLike;
  private fill?: (p: number) => Buffer;
  private written = 0;
  private callbacks = 0;
  private underruns = 0;
  /** Silent periods counted before the engine first wrote music (see musicPlays); unset until then. */
  private underrunsBeforeMusic?: number;
  /** A stamp was found not on this process's monotonic clock: see stampOf. */
  private stampsDistrusted = false;
  xruns = 0;
  private gaps: number[] = [];
  /** The period numbers of the buffers written and not yet reported popped, oldest first. */
  private inQueue: number[] = [];
  /** Consumed − callbacks − silence counted, in the steady stream (median of the recent callbacks). */
  private recentGaps: number[] = [];
  private steadyGap?: number;
  /** Callbacks up to this one watch for a silent period the stall hid (armed at the start, the first burst). */
  private suspectUntil = UNDERRUN_WINDOW;
  private sizer: QueueSizer;
  private dac: DacClock;
  /** The device buffer's depth (frames), and how many readings it was taken from (see BUFFER_SETTLE_CALLBACKS). */
  private bufferFrames = 0;
  private bufferReadings = 0;
  private stopped = false;

  constructor(private readonly opts: AudifySinkOptions) {
    this.format = opts.format;
    this.periodFrames = opts.periodFrames;
    this.dac = new DacClock(opts.periodFrames, opts.format.sampleRate, opts.dacPrior);
    const periodNs = (opts.periodFrames * 1e9) / opts.format.sampleRate;
    this.sizer = new QueueSizer(
      opts.queuePeriods,
      Math.max(opts.queuePeriods, Math.ceil((QUEUE_MAX_AHEAD_MS * 1e6) / periodNs)),
      periodNs,
    );
  }

  /** Periods written ahead now. */
  get queueTarget(): number {
    return this.sizer.target;
  }

  private notice(message: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.opts.onNotice) this.opts.onNotice(message, level);
    else if (level === 'warn') process.emitWarning(message);
  }

  get underrunPeriods(): number {
    return this.underruns;
  }

  /** Silent periods counted while the music played: what status reports (the start-up ones moved nothing heard). */
  get underrunPeriodsInMusic(): number {
    return this.underruns - (this.underrunsBeforeMusic ?? this.underruns);
  }

  get gridMoves(): number {
    return this.dac.gridMoves;
  }

  /** Of gridMoves, the re-placements of a line learned from the first few late callbacks (see DAC_REFINE_MIN_NS). */
  get gridRefines(): number {
    return this.dac.gridRefines;
  }

  async start(fill: (p: number) => Buffer): Promise<void> {
    this.fill = fill;
    // Ask a child first: with no device at all, libasound's complaints stay out of our output.
    if (!this.opts.rtAudio && (await probeAlsaOutputs()).length === 0)
      throw new NoAudioDeviceError('no ALSA output device found');
    let rt: RtAudioLike;
    try {
      rt = this.opts.rtAudio ? this.opts.rtAudio() : new audify.RtAudio(RTAUDIO_API_LINUX_ALSA);
    } catch (e) {
      throw new NoAudioDeviceError(`ALSA is not usable: ${(e as Error).message}`);
    }
    const devices = rt.getDevices().filter((d) => d.outputChannels > 0);
    if (devices.length === 0) throw new NoAudioDeviceError('no ALSA output device found');
    const dev =
      this.opts.deviceName === 'default'
        ? (devices.find((d) => d.id === rt.getDefaultOutputDevice()) ?? devices[0]!)
        : devices.find((d) => d.name === rtaudioDeviceName(this.opts.deviceName)); // hw:CARD=… names too
    const names = devices.map((d) => d.name);
    if (!dev) throw new AudioDeviceUnavailableError(this.opts.deviceName, 'missing', names);
    this.description = `ALSA "${dev.name}"`;
    const rtOk = realtimeAllowed();
    if (!rtOk.allowed)
      this.notice(`audio thread: realtime scheduling refused (${rtOk.why}); a busy machine may then underrun`);
    try {
      rt.openStream(
        { deviceId: dev.id, nChannels: this.format.channels, firstChannel: 0 },
        null,
        RTAUDIO_FORMAT_SINT16,
        this.format.sampleRate,
        this.periodFrames,
        'jaudiosync',
        null,
        (stampNs?: number) => this.onPeriodTaken(stampNs),
        RTAUDIO_SCHEDULE_REALTIME,
        (_type, msg) => this.onDeviceError(msg),
      );
    } catch (e) {
      const msg = (e as Error).message;
      if (/busy|in use|EBUSY/i.test(msg)) throw new AudioDeviceUnavailableError(dev.name, 'busy', names, msg);
      throw new NoAudioDeviceError(`cannot open ${this.description}: ${msg}`);
    }
    this.rt = rt;
    for (let i = 0; i < this.opts.queuePeriods; i++) this.writeNext();
    rt.start();
  }

  /** The deepest delay read after a write, until settled (see BUFFER_SETTLE_CALLBACKS). */
  private readBufferDepth(): void {
    if (this.bufferReadings >= BUFFER_SETTLE_CALLBACKS) return;
    this.bufferFrames = Math.max(this.bufferFrames, this.rt!.getStreamLatency());
    if (++this.bufferReadings < BUFFER_SETTLE_CALLBACKS || this.bufferFrames > 0) return;
    // Never placed, and nothing said, before: a driver whose delay reads 0 would have played silence.
    this.bufferFrames = RTAUDIO_ALSA_PERIODS * this.periodFrames;
    const ms = (this.bufferFrames * 1e3) / this.format.sampleRate;
    this.notice(
      `audio device: it never reported its delay (snd_pcm_delay read 0 in ${BUFFER_SETTLE_CALLBACKS} callbacks): its buffer is taken as the ${RTAUDIO_ALSA_PERIODS} periods RtAudio asks ALSA for (${this.bufferFrames} frames, ${ms.toFixed(1)} ms); if the music starts early or late by periods, measure it and set audio.latency_trim_ms`,
    );
  }

  private get bufferKnown(): boolean {
    return this.bufferReadings >= BUFFER_SETTLE_CALLBACKS;
  }

  private writeNext(): void {
    // Period number in device order: everything written so far plus the silence the device inserted.
    const p = this.written + this.underruns;
    this.rt!.write(this.fill!(p));
    this.written++;
    this.inQueue.push(p);
  }

  /**
   * A stall may have drained the queue: watch the next UNDERRUN_WINDOW callbacks for a silent period not yet counted.
   */
  private suspect(): void {
    if (this.suspectUntil < this.callbacks) this.gaps = [];
    this.suspectUntil = this.callbacks + UNDERRUN_WINDOW;
  }

  private traceDac(p: number, popNs: bigint, nowNs: bigint): void {
    const phaseUs = (((Number(popNs) % this.periodNs) + this.periodNs) % this.periodNs) / 1e3;
    const r = this.dac.rate();
    process.stderr.write(
      `trace dac p ${p} mono ${nowNs} phase ${phaseUs.toFixed(1)} late ${(Number(nowNs - popNs) / 1e3).toFixed(1)} ppm ${r.ppm.toFixed(2)} sigma ${r.sigmaPpm.toFixed(2)} held ${(this.dac.heldNs / 1e3).toFixed(1)} steps ${this.dac.rateSteps} from ${this.dac.offsetFromP ?? '-'}\n`,
    );
  }

  private get periodNs(): number {
    return (this.periodFrames * 1e9) / this.format.sampleRate;
  }

  /**
   * Silence the device inserted: the numbering moves on by as much, the DAC clock's fit must not see the change as
   * rate.
   */
  private countSilence(total: number, why: string): void {
    const n = total - this.underruns;
    this.underruns = total;
    if (this.underrunsBeforeMusic === undefined) {
      // Starting up (the clock locking, tracks loading) on a busy machine: silence the device played anyway.
      this.notice(
        `audio queue gap before the music: ${n} period(s) of silence while starting up (${why}: this machine was busy); the period count moves on by as much, nothing to hear moved`,
        'info',
      );
      return;
    }
    this.notice(
      `audio queue gap: ${n} period(s) of silence (${why}); the period count moves on by as much, so the music goes on from the frame that belongs there`,
    );
  }

  /** RtAudio's error callback: an ALSA underrun restarted the device on a new phase. */
  private onDeviceError(msg: string): void {
    if (this.stopped) return;
    if (/underrun|xrun/i.test(msg)) {
      this.xruns++;
      this.dac.reset();
      this.notice(
        `audio device xrun ${this.xruns} (${msg}): it restarted on a new phase; its clock is learned again from the next callbacks (keeping the rate) and the music re-placed where that puts the device`,
      );
      return;
    }
    this.notice(`audio device: ${msg}`);
  }

  /**
   * One buffer taken by RtAudio's thread. `stampNs`: the instant it took it (audify built by
   * scripts/audify-stamp.mjs); without it, now, when the event loop runs this: its wake-up is in it too.
   */
  private onPeriodTaken(stampNs?: number): void {
    if (this.stopped || !this.rt) return;
    const nowNs = this.opts.nowNs();
    const takenNs = this.stampOf(stampNs, nowNs);
    this.callbacks++;
    if (this.callbacks === 1 && !this.stampsDistrusted) this.sayStamping(takenNs !== undefined);
    const consumed = Math.round((this.rt.streamTime * this.format.sampleRate) / this.periodFrames);
    // RtAudio cannot have popped more than we wrote: periods it completed beyond that were silence,
    // for certain. And it is always writing one more: the queue is still empty (we have not written
    // since it ran dry), so that one is silent too.
    const certain = consumed - this.written;
    if (certain > this.underruns) {
      this.countSilence(certain + 1, 'the queue ran dry');
      this.suspect();
    }
    // A stall that ends while the first silent period is being written leaves nothing completed to
    // count. Periods consumed minus callbacks (minus the silence counted) is, in a steady stream, a
    // constant: −1 while callbacks arrive within their period (they come before RtAudio's tick), 0
    // if they lag a period. A silent period not counted raises it by one for good; a backlog of
    // callbacks raises it only until it clears. So after a stall its minimum over the next callbacks
    // against the steady value before it finds that period. Only after a stall: a backlog that
    // builds up slowly moves the steady value instead.
    const gap = consumed - this.callbacks - this.underruns;
    if (this.suspectUntil >= this.callbacks) {
      this.gaps.push(gap);
      if (this.gaps.length === UNDERRUN_WINDOW) {
        if (this.steadyGap !== undefined && Math.min(...this.gaps) === this.steadyGap + 1)
          this.countSilence(this.underruns + 1, 'a silent period still being written when the stall ended');
        this.suspectUntil = 0;
      }
    } else {
      this.recentGaps.push(gap);
      if (this.recentGaps.length > UNDERRUN_WINDOW) this.recentGaps.shift();
      this.steadyGap = [...this.recentGaps].sort((a, b) => a - b)[this.recentGaps.length >> 1];
    }
    // The period just popped: the number its buffer was written with. (Not callbacks − 1 + the
    // silence counted now: the callbacks delivered after a stall popped their buffers before the
    // silence, and numbered with it they would look early and pull the DAC clock's line a period
    // off.) The start-up burst (the device buffer filling at once) says nothing about the cadence:
    // skip it.
    const p = this.inQueue.shift() ?? this.callbacks - 1 + this.underruns;
    if (this.callbacks > this.opts.queuePeriods) {
      this.readBufferDepth();
      const dac = this.dac;
      const before = {
        moves: dac.gridMoves,
        refines: dac.gridRefines,
        steps: dac.periodSteps,
        rejected: dac.priorRejected,
        disputes: dac.disputes,
      };
      this.dac.observe(p, takenNs ?? nowNs, takenNs !== undefined);
      const pop = this.dac.popMonoNs(p);
      this.sayDacNews(before);
      if (TRACE_DAC && pop !== undefined && p % DAC_BLOCK === 0) this.traceDac(p, pop, takenNs ?? nowNs);
      if (pop !== undefined) {
        const lateNs = Number(nowNs - pop);
        this.sizer.observe(lateNs);
        // Late by nearly the whole queue: it may have run dry.
        if (lateNs > (this.written - this.callbacks - 1) * this.periodNs) this.suspect();
      }
    }
    this.writeNext();
    while (this.written - this.callbacks < this.sizer.target) this.writeNext();
  }

  /**
   * The audio thread's stamp, while it reads as this process's monotonic clock: never after now, and
   * in the stream's first callbacks not more than STAMP_MAX_AGE_NS before (later, a long event-loop
   * stall delivers true old stamps). One that does not is said once, and the rest of the stream is
   * timed on the event loop.
   */
  private stampOf(stampNs: number | undefined, nowNs: bigint): bigint | undefined {
    if (this.stampsDistrusted || typeof stampNs !== 'number' || !Number.isFinite(stampNs)) return undefined;
    const t = BigInt(Math.round(stampNs));
    const early = this.callbacks < this.opts.queuePeriods + DAC_BLOCK;
    if (t <= nowNs && (!early || nowNs - t <= STAMP_MAX_AGE_NS)) return t;
    this.stampsDistrusted = true;
    this.notice(
      `audio device: the audio thread's time stamp reads ${((Number(t) - Number(nowNs)) / 1e9).toFixed(3)} s from this process's monotonic clock: not used; the periods are timed on the event loop from now on`,
    );
    return undefined;
  }

  private sayStamping(stamped: boolean): void {
    this.notice(
      stamped
        ? 'audio device: periods timed by the audio thread as it takes each buffer (audify with the callback stamp)'
        : "audio device: periods timed on the event loop (this audify has no callback stamp: run npm ci, or node scripts/audify-stamp.mjs, to build it): the main thread's wake-up, tens of µs and more on a busy machine, is then in the DAC clock's time",
      stamped ? 'info' : 'warn',
    );
  }

  /** What the DAC clock learned in this callback that the log should have (once each). */
  private sayDacNews(before: {
    moves: number;
    refines: number;
    steps: number;
    rejected?: object;
    disputes: number;
  }): void {
    const dac = this.dac;
    if (dac.gridRefines !== before.refines)
      this.notice(
        `audio device: its periods come ${(dac.lastGridRefineNs / 1e6).toFixed(1)} ms earlier than the first callbacks after the move said: the music re-placed again`,
      );
    else if (dac.gridMoves !== before.moves)
      this.notice(
        `audio device: its periods come up to ${(dac.lastGridMoveNs / 1e6).toFixed(1)} ms later than learned, with no xrun reported (the device or its sound server stalled): its clock is learned again from them and the music re-placed where that puts the device`,
      );
    if (dac.periodSteps !== before.steps)
      this.notice(
        `audio device: its periods stepped about ${(dac.lastPeriodStepNs / 1e3).toFixed(0)} µs later, with no xrun reported (its sound server or the device restarted its schedule): its clock is learned from the callbacks since, and the music follows it`,
      );
    const r = dac.priorRejected;
    if (r && !before.rejected)
      this.notice(
        `audio device: its rate measures ${signed(r.fitPpm, 1)} ppm, steadily, beyond what the saved ${signed(r.priorPpm, 1)} ppm allows (another device under the same name, or much warmer or colder): the saved rate is dropped and the rate learned afresh`,
      );
    const d = dac.disputed;
    // The first dispute only: a fit may wobble in and out of one while its window holds the steps.
    if (d && before.disputes === 0 && dac.disputes === 1)
      this.notice(
        d.saved
          ? `audio device: its periods fit ${signed(d.fitPpm, 1)} ppm, far from the saved ${signed(d.priorPpm, 1)} ppm, but not yet steadily enough to drop it (that needs a steady fit known to ±${DAC_DROP_FIT_MAX_SIGMA_PPM} ppm, some 40 s of callbacks): the saved rate is kept meanwhile (steps in its periods tilt a short fit; another device under the same name would measure steadily)`
          : `audio device: its periods since it restarted fit ${signed(d.fitPpm, 1)} ppm, far from the ${signed(d.priorPpm, 1)} ppm measured before: taken as steps in its periods (its sound server restarting), not as its rate: the rate measured before is kept`,
      );
  }

  dacRate(): DacRate | undefined {
    return this.dac.savableRate();
  }

  dacUnsavedWhy(): string | undefined {
    return this.dac.whyNotSavable();
  }

  holdPlacement(on: boolean): void {
    this.dac.hold(on);
  }

  musicPlays(): void {
    this.underrunsBeforeMusic ??= this.underruns;
  }

  placementHeldNs(): number {
    return this.dac.heldNs;
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    // Heard once the device buffer ahead of it has played: counted in the DAC's own periods (a
    // 100 ppm DAC makes a nominal conversion of its buffer wrong by µs), then the fixed extra latency.
    // The depth is taken once, when settled, and kept: per-callback delay readings jump on some
    // drivers (snapcast #399).
    if (!this.bufferKnown) return undefined;
    const pop = this.dac.popMonoNs(streamPeriod + this.bufferFrames / this.periodFrames);
    return pop === undefined ? undefined : pop + BigInt(Math.round(this.opts.extraLatencyNs ?? 0));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const rt = this.rt;
    this.rt = undefined;
    if (!rt) return;
    // audify (1.10) never releases the frame callback's thread-safe function, so the process stays
    // alive after this: the CLI exits explicitly.
    rt.setFrameOutputCallback(null);
    try {
      rt.stop();
    } catch {
      /* already stopped */
    }
    try {
      rt.closeStream();
    } catch {
      /* already closed */
    }
  }
}
