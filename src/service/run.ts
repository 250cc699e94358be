import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { manifestPathFor, readManifest, repeatManifest, type Manifest } from '../player/manifest.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { parseM3u, type Playlist } from '../player/m3u.js';
import { PlaybackEngine } from '../player/engine.js';
import { buildPlan, CONFIG_STOP_FADE_MS } from '../player/plan.js';
import { AudifySink } from '../player/sinks/audify-sink.js';
import { NoAudioDeviceError, type OutputSink } from '../player/sinks/sink.js';
import { WavFileSink } from '../player/sinks/wav-sink.js';
import { joinFrame, TrackQueue } from '../player/tracks.js';
import { hrtimeClock, sleepNs } from '../time/clock.js';
import { isoFromUtcNs } from '../time/timescale.js';
import { parsePause, parseStartSpec, resolvePath, resolveStart, stateDir, type Config } from './config.js';
import { readDacPrior, saveDacRate } from './clock-state.js';
import type { Logger } from './log.js';
import { startTimingChain, type TimingChain } from './hardware.js';
import { formatClock, formatDuration, formatErrorBound, type LiveStatus } from './status.js';

/**
 * `jaudiosync run`: discipline the clock, load the playlist into RAM, and at the start instant put
 * timeline frame 0 on the speaker, tracks following gaplessly on one open stream.
 */

export interface RunOptions {
  config: Config;
  log: Logger;
  /** Overrides schedule.start. */
  at?: string;
  /** Overrides audio.output / audio.wav_path. */
  output?: 'alsa' | 'wav';
  wavPath?: string;
  /** Process start (monotonic ns), for the ready-time figure. */
  processStartNs?: bigint;
  /** Resolves to stop early (SIGINT/SIGTERM). */
  abort?: AbortSignal;
  /** Start the timeline at this track (1-based): the earlier entries are left out. */
  fromTrack?: number;
  /** A timing chain that outlives this playback (the service's); else one is started and stopped here. */
  chain?: TimingChain;
  /** What `jaudiosync status` shows, kept up to date here. */
  live?: LiveStatus;
  /** A new track began: its index in the playlist as written (0-based), for resume. */
  onTrack?(index: number, title: string): void;
}

/** The start instant has passed and so has the whole playlist: there is nothing to join. */
export class NothingToJoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToJoinError';
  }
}

export interface RunResult {
  startUtcNs: bigint;
  tracksPlayed: number;
  problems: string[];
  output: string;
  readyMs: number;
}

const STATUS_EVERY_MS = 250;
/** On SIGTERM (or a reload) the music fades out over this, instead of stopping on a click. */
export const FADE_OUT_MS = 500;
/** The audio device's measured rate is saved this often while playing (a crash keeps the last). */
const DAC_SAVE_EVERY_MS = 60_000;
/** Keep the stream open this long after the last frame is heard by our estimate: server and DAC buffers. */
const DRAIN_MARGIN_MS = 300;
/** Lock is declared when the clock reports locked; until then wait in steps of this. */
const LOCK_POLL_MS = 100;

export async function run(opts: RunOptions): Promise<RunResult> {
  const { config, log } = opts;
  const t0 = opts.processStartNs ?? hrtimeClock.nowNs();
  const problems: string[] = [];
  const format = { sampleRate: config.audio.sample_rate, channels: config.audio.channels };

  const playlistPath = resolvePath(config, config.playlist.path);
  const playlist = await loadPlaylist(playlistPath);
  for (const p of playlist.problems) problems.push(`playlist ${playlistPath} line ${p.line}: ${p.message}`);
  problems.forEach((p) => log.warn(p));
  if (playlist.entries.length === 0) throw new Error(`playlist ${playlistPath} has no playable entries`);
  const skip = (opts.fromTrack ?? 1) - 1;
  if (skip < 0 || skip >= playlist.entries.length) throw new Error(`--from-track ${opts.fromTrack}: the playlist has tracks 1 to ${playlist.entries.length}`);
  const originalLength = playlist.entries.length;
  playlist.entries = playlist.entries.slice(skip);
  // repeat: the playlist back to back on one fixed timeline.
  if (config.playlist.repeat > 1) playlist.entries = Array.from({ length: config.playlist.repeat }, () => playlist.entries).flat();
  const ffmpeg = findFfmpeg(config.audio.ffmpeg || undefined);

  const startSpec = parseStartSpec(opts.at ?? config.schedule.start);
  if (!startSpec) throw new Error(`start "${opts.at}" not understood: expected "next-10s", "+SECONDS" or an ISO 8601 instant with offset`);

  const ownChain = !opts.chain;
  const chain: TimingChain = opts.chain ?? await startTimingChain(config, log);
  let sink: OutputSink | undefined;
  const live = opts.live;
  try {
    log.info(`timing: ${chain.describe}`);
    const gapFrames = Math.round((config.playlist.gap_ms / 1000) * format.sampleRate);
    const manifestPath = manifestPathOf(config);
    const fullManifest = existsSync(manifestPath) ? await readManifest(manifestPath) : undefined;
    const sliced = fullManifest && skip ? { ...fullManifest, entries: fullManifest.entries.slice(skip) } : fullManifest;
    const manifest = sliced && repeatManifest(sliced, config.playlist.repeat);
    if (config.playlist.manifest && !manifest) throw new Error(`timeline manifest ${manifestPath} not found: build it with "jaudiosync timeline build ${playlistPath}"`);
    if (manifest) log.info(`timeline from ${manifestPath}: identical on every device that has it`);
    const tracks = new TrackQueue(playlist.entries, ffmpeg.path, format, gapFrames, {
      onProblem: (m) => { problems.push(m); log.warn(m); },
      onLoaded: (t, ms) => log.info(`loaded track ${t.index + 1}/${playlist.entries.length} "${t.entry.title ?? t.entry.raw}" (${(t.frames / format.sampleRate).toFixed(1)} s) in ${ms.toFixed(0)} ms`),
    }, undefined, manifest);
    // Before any lock the system clock is the best guess of where the timeline is: decode the
    // track a late join will need while the clock locks (checked, and redone if wrong, below).
    const guessUtcNs = chain.converter.toRealtime(hrtimeClock.nowNs());
    const timing = { timeZone: config.schedule.timezone, playingSec: manifest && timelineSec(manifest, config.playlist.gap_ms) };
    const guessLateNs = Number(guessUtcNs - resolveStart(startSpec, guessUtcNs, timing));
    const preload = tracks.prepare(guessLateNs > 0 ? joinFrame(guessLateNs, format.sampleRate) : 0);
    preload.catch(() => {}); // awaited below; a failure there is reported once

    // The stream opens now and plays silence while the clock locks: the DAC clock learns the
    // device's rate meanwhile, so the first sample is placed on a measured rate, not an assumed one.
    const wavPath = resolvePath(config, opts.wavPath ?? config.audio.wav_path);
    let startUtcNs: bigint | undefined;
    let firstFrameMonoNs: bigint | undefined;
    const writeWavSidecar = () => {
      if (firstFrameMonoNs === undefined || startUtcNs === undefined) return;
      void writeFile(`${wavPath}.json`, JSON.stringify({
        firstFrameRealtimeNs: String(chain.converter.toRealtime(firstFrameMonoNs)), sampleRate: format.sampleRate, startUtcNs: String(startUtcNs),
      }) + '\n').catch(() => {});
    };
    const makeWav = () => new WavFileSink({
      path: wavPath, format, periodFrames: config.audio.period_frames, nowNs: hrtimeClock.nowNs,
      onFirstFrame: (monoNs) => { firstFrameMonoNs = monoNs; writeWavSidecar(); },
      onError: (m) => log.warn(m),
    });
    let engine: PlaybackEngine | undefined;
    const silence = Buffer.alloc(config.audio.period_frames * tracks.frameBytes);
    const fill = (p: number) => engine?.fill(p) ?? silence;
    const dacPriorPpm = await readDacPrior(stateDir(config), config.audio.device, format.sampleRate);
    sink = (opts.output ?? config.audio.output) === 'wav' ? makeWav() : new AudifySink({
      format, periodFrames: config.audio.period_frames, queuePeriods: config.audio.queue_periods,
      deviceName: config.audio.device, nowNs: hrtimeClock.nowNs, extraLatencyNs: config.audio.output_latency_ms * 1e6, dacPriorPpm,
      onNotice: (m) => log.warn(m),
    });
    try {
      await sink.start(fill);
    } catch (e) {
      if (!(e instanceof NoAudioDeviceError)) throw e;
      log.warn(`no audio device (${e.message}): writing the output to ${wavPath} instead`);
      sink = makeWav();
      await sink.start(fill);
    }
    const out: OutputSink = sink;

    await waitForLock(chain, config.clock.lock_timeout_s, log, opts.abort);
    const ts0 = chain.clock.timescale();
    startUtcNs = resolveStart(startSpec, ts0.utcAt(hrtimeClock.nowNs()), timing);
    writeWavSidecar();
    if (live) live.schedule = { nextStartUtc: isoFromUtcNs(startUtcNs), decision: live.schedule?.decision };
    const lateNs = Number(ts0.utcAt(hrtimeClock.nowNs()) - startUtcNs);
    await preload;
    // Joining late: have the track that plays at the join point in RAM before the first frame is placed.
    await tracks.prepare(lateNs > 0 ? joinFrame(lateNs, format.sampleRate) : 0);
    if (tracks.finished) {
      throw new (lateNs > 0 ? NothingToJoinError : Error)(lateNs > 0
        ? `the playlist ended before this device was ready (its start was ${formatDuration(lateNs / 1e9)} ago): nothing to join`
        : `no track of ${playlistPath} could be decoded (see the warnings above)`);
    }

    const readyMs = Number(hrtimeClock.nowNs() - t0) / 1e6;
    log.info(`ready in ${readyMs.toFixed(0)} ms: start at ${isoFromUtcNs(startUtcNs)} (${formatClock(ts0, hrtimeClock.nowNs())})`);

    const trimNs = config.audio.latency_trim_ms * 1e6;
    const thresholdNs = config.clock.max_error_ms > 0 ? config.clock.max_error_ms * 1e6 : Number.POSITIVE_INFINITY;
    // Wait or join: with "wait" the aligner keeps the stream silent until the bound is good, then
    // joins late on the exact sample; with "start" it starts on the clock it has and says so.
    const maxErrorNs = config.clock.when_unsure === 'wait' ? thresholdNs : Number.POSITIVE_INFINITY;
    let decided = false;
    let lastDacSaveNs = hrtimeClock.nowNs();
    const queueLatencyNs = (config.audio.period_frames * config.audio.queue_periods / format.sampleRate) * 1e9 + config.audio.output_latency_ms * 1e6;
    // The SIGTERM fade: this device's alone, from the first instant not yet written (the queue ahead is).
    let fadeFromNs: bigint | undefined;
    const localGainAt = (monoNs: bigint) => fadeFromNs === undefined ? 1 : Math.max(0, Math.min(1, 1 - Number(monoNs - fadeFromNs) / (FADE_OUT_MS * 1e6)));
    let finished = false;
    const stopSpec = config.schedule.stop ? parseStartSpec(config.schedule.stop) : undefined;
    const stopUtcNs = stopSpec?.kind === 'absolute' ? stopSpec.utcNs : undefined;
    const pauses = config.schedule.pauses.map((p) => parsePause(p)!);
    // The plan: the config's baseline (the manifest's timeline when there is one); no ops yet.
    const trackStartFrames: number[] = [];
    let endFrame: number | undefined;
    if (manifest) { let f = 0; for (const e of manifest.entries) { trackStartFrames.push(f); f += e.frames + gapFrames; } endFrame = f - gapFrames; }
    const plan = buildPlan({ startUtcNs, sampleRate: format.sampleRate, trackStartFrames, endFrame, volumeDb: config.audio.volume_db, stopUtcNs, pauses }, []);
    engine = new PlaybackEngine(out, tracks, {
      plan: () => plan, trimNs, maxErrorNs, timescale: () => chain.clock.timescale(), nowNs: hrtimeClock.nowNs,
      channelMode: config.audio.channel_mode, localGainAt,
    }, {
      onStartPlaced: ({ firstTimelineFrame, timescale }) => {
        const how = firstTimelineFrame > 0 ? `joined late at ${formatDuration(firstTimelineFrame / format.sampleRate)} into the playlist` : 'first sample placed';
        log.info(`${how} on ${out.description} (clock ${timescale.source}, ${formatErrorBound(timescale.errorBoundAt(hrtimeClock.nowNs()))})`);
      },
      onFinished: () => { finished = true; },
    });

    // Status until the last frame has been heard (or we are stopped).
    let tracksPlayed = 0;
    let lastIndex = -1;
    for (;;) {
      const nowNs = hrtimeClock.nowNs();
      if (opts.abort?.aborted) {
        // Fade out, then let the fade (and the buffers after us) play before stopping.
        fadeFromNs ??= nowNs + BigInt(Math.round(queueLatencyNs));
        if (!engine.placed || Number(nowNs - fadeFromNs) > (FADE_OUT_MS + 2 * STATUS_EVERY_MS) * 1e6 + queueLatencyNs) break;
      }
      const ts = chain.clock.timescale();
      const untilSec = Number(startUtcNs - ts.utcAt(nowNs)) / 1e9;
      // The device's rate, for a restart after a crash (also saved at the end).
      if (nowNs - lastDacSaveNs > BigInt(DAC_SAVE_EVERY_MS * 1e6)) {
        lastDacSaveNs = nowNs;
        const ppm = sink.dacRatePpm?.();
        if (ppm !== undefined) void saveDacRate(stateDir(config), config.audio.device, format.sampleRate, ppm, Date.now()).catch(() => {});
      }
      if (!decided && untilSec <= 0) {
        decided = true;
        const boundNs = ts.errorBoundAt(nowNs);
        const decision = boundNs <= thresholdNs ? `started on time (${formatErrorBound(boundNs)})`
          : config.clock.when_unsure === 'wait' ? `waiting: the clock's bound ${formatErrorBound(boundNs)} exceeds clock.max_error_ms = ${config.clock.max_error_ms}; joining late on the exact sample once it is good`
            : `started anyway: the clock's bound ${formatErrorBound(boundNs)} exceeds clock.max_error_ms = ${config.clock.max_error_ms} (clock.when_unsure = "start")`;
        (boundNs <= thresholdNs ? log.info : log.warn)(`start instant: ${decision}`);
        if (live) live.schedule = { ...live.schedule, decision };
      }
      const frame = engine.timelineFrameNow();
      const track = frame !== undefined ? tracks.trackAt(frame) : undefined;
      if (track && track.index !== lastIndex) {
        lastIndex = track.index;
        tracksPlayed++;
        opts.onTrack?.((skip + track.index) % originalLength, track.entry.title ?? track.entry.raw);
        log.info(`now playing ${track.index + 1}/${playlist.entries.length}: ${track.entry.title ?? track.entry.raw}`);
      }
      const where = untilSec > 0 ? `start in ${formatDuration(Math.ceil(untilSec))}`
        : track ? `track ${track.index + 1}/${playlist.entries.length} ${formatDuration((frame! - track.startFrame) / format.sampleRate)}/${formatDuration(track.frames / format.sampleRate)} ${track.entry.title ?? track.entry.raw}`
          : finished ? 'finishing' : 'waiting for audio';
      const align = engine.placed ? ` | sync ${(engine.lastErrorFrames / format.sampleRate * 1e6).toFixed(1)} µs @ ${((engine.lastRatio - 1) * 1e6).toFixed(1)} ppm${engine.seeks ? `, ${engine.seeks} re-seeks` : ''}` : '';
      log.status(`${formatClock(ts, nowNs)} | ${where}${align}${sink.underrunPeriods ? ` | underruns ${sink.underrunPeriods}` : ''}`);
      if (live) {
        live.playback = {
          state: untilSec > 0 ? 'waiting' : track ? (fadeFromNs ? 'fading out' : 'playing') : finished ? 'finished' : 'waiting for the clock',
          track: track ? track.index + 1 : undefined, tracks: playlist.entries.length, title: track ? track.entry.title ?? track.entry.raw : undefined,
          positionSec: track ? (frame! - track.startFrame) / format.sampleRate : undefined,
          syncErrorUs: engine.placed ? (engine.lastErrorFrames / format.sampleRate) * 1e6 : undefined,
          ratioPpm: engine.placed ? (engine.lastRatio - 1) * 1e6 : undefined,
          reseeks: engine.seeks, underruns: sink.underrunPeriods, device: sink.description,
        };
      }
      if (process.env.JAUDIOSYNC_DEBUG_ALIGN) process.stderr.write(`align err ${engine.lastErrorFrames.toFixed(3)} frames ratio ${((engine.lastRatio - 1) * 1e6).toFixed(2)} ppm seeks ${engine.seeks}\n`);
      if (finished && (frame === undefined || tracks.endFrame === undefined || frame >= tracks.endFrame)) break;
      if (stopUtcNs !== undefined && ts.utcAt(nowNs) >= stopUtcNs + BigInt(CONFIG_STOP_FADE_MS * 1e6 + queueLatencyNs)) { log.info(`stop instant ${isoFromUtcNs(stopUtcNs)} reached`); break; }
      await sleepNs(hrtimeClock, STATUS_EVERY_MS * 1e6);
    }
    // Buffers past the one we can see (the sound server's, the DAC's) still hold the last frames.
    if (!opts.abort?.aborted) await sleepNs(hrtimeClock, (DRAIN_MARGIN_MS + config.audio.output_latency_ms) * 1e6);
    log.info(opts.abort?.aborted ? 'stopped' : 'playlist finished');
    return { startUtcNs, tracksPlayed, problems, output: sink.description, readyMs };
  } finally {
    const dacPpm = sink?.dacRatePpm?.();
    if (dacPpm !== undefined) {
      await saveDacRate(stateDir(config), config.audio.device, format.sampleRate, dacPpm, Date.now())
        .catch((e: Error) => log.warn(`cannot save the audio device's rate in ${stateDir(config)}: ${e.message}`));
    }
    await sink?.stop();
    if (ownChain) await chain.stop();
  }
}

/** The timeline manifest a config means: playlist.manifest, else the one beside the playlist. */
export function manifestPathOf(config: Config): string {
  return config.playlist.manifest ? resolvePath(config, config.playlist.manifest) : manifestPathFor(resolvePath(config, config.playlist.path));
}

/** How long one playing of a (repeated) manifest's timeline lasts, gaps included (s). */
export function timelineSec(m: Manifest, gapMs: number): number {
  return m.totalFrames / m.sampleRate + (gapMs / 1000) * m.entries.length;
}

async function loadPlaylist(path: string): Promise<Playlist> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the playlist ${path}: ${(e as Error).message}. Set playlist.path in the config.`);
  }
  return parseM3u(text, path);
}

/**
 * "Ready" needs the best source there is, settled: with GPS+PPS a bound under 100 µs, which also
 * means any slew from an earlier source (the RTC) has finished; otherwise playback would start while
 * the timescale still moves and the aligner would have to resample from the first second.
 */
const READY_BOUND_NS = 100_000;

async function waitForLock(chain: TimingChain, timeoutSec: number, log: Logger, abort?: AbortSignal): Promise<void> {
  if (!chain.hasSources) {
    log.warn('no time source configured: playing on the system clock (unsynchronized: other devices will not agree)');
    return;
  }
  const deadline = hrtimeClock.nowNs() + BigInt(Math.round(timeoutSec * 1e9));
  for (;;) {
    const nowNs = hrtimeClock.nowNs();
    const ts = chain.clock.timescale();
    // With a GPS configured, an RTC lock is only a stopgap: wait for GPS (until the timeout).
    const settled = ts.source === 'gps+pps' ? ts.errorBoundAt(nowNs) < READY_BOUND_NS : ts.source === 'gps' || !chain.gpsSource;
    if ((ts.state === 'locked' && settled) || abort?.aborted) return;
    if (nowNs >= deadline) {
      log.warn(`no clock lock after ${timeoutSec} s: carrying on with ${formatClock(ts, nowNs)}`);
      return;
    }
    const s = chain.gpsSource?.status;
    log.status(`${formatClock(ts, nowNs)} | waiting for lock${s ? ` (PPS ${s.pulses}, labelled ${s.labelled})` : ''}`);
    await sleepNs(hrtimeClock, LOCK_POLL_MS * 1e6);
  }
}
