import { existsSync } from 'node:fs';
import { manifestPathFor, manifestTimeline, readManifest, repeatManifest, type Manifest } from '../player/manifest.js';
import { gapFramesFor, timelineSec } from '../player/timeline.js';
import type { PlanOp } from '../player/plan-ops.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { readPlaylist, type Playlist, type PlaylistEntry } from '../player/m3u.js';
import { countedManifest } from '../player/frame-count-cache.js';
import { TrackQueue } from '../player/tracks.js';
import type { OutputSink } from '../player/sinks/sink.js';
import { hrtimeClock } from '../time/clock.js';
import { isoFromUtcNs, type Timescale } from '../time/timescale.js';
import { PlaybackSession, type SessionEvents, type SessionOptions, type SessionSnapshot } from '../session/session.js';
import {
  isRepeating,
  parsePause,
  parseStartSpec,
  resolvePath,
  resolveStart,
  stateDir,
  type Config,
  type StartSpecParsed,
} from './config.js';
import { dacPriorNow, readDacPrior } from './clock-state.js';
import { keepDacRate } from './dac-saver.js';
import type { DacRate } from '../player/dac-clock.js';
import type { Logger } from './log.js';
import type { TimingChain } from './hardware.js';
import { openOutput, type OpenedOutput, type OutputChoice } from './output.js';
import { formatClock, formatDuration, formatErrorBound, formatStatusLine, type LiveStatus } from './status.js';

export { NothingToJoinError } from '../session/session.js';

/**
 * `jaudiosync run` / `play`, one start: the service's side of the session core (src/session):
 * the playlist and its timeline from the config, the output device, status and the saved DAC rate.
 * The session places timeline frame 0 on the speaker at the start instant, tracks following
 * gaplessly on one open stream, or joins late on the exact frame.
 */

export interface RunOptions {
  config: Config;
  log: Logger;
  /** The disciplined clock (the caller starts it with the hardware it chose, and stops it). */
  chain: TimingChain;
  /** Overrides schedule.start. */
  at?: string;
  /** The start instant already resolved (the service resolves relative starts once per process). */
  resolveStart?: (utcNowNs: bigint) => bigint;
  output?: OutputChoice;
  /** Process start (monotonic ns), for the ready-time figure. */
  processStartNs?: bigint;
  /** Fires to stop early (SIGINT/SIGTERM): a fade-out. */
  abort?: AbortSignal;
  /** Start the timeline at this track (1-based): the earlier entries are left out. */
  fromTrack?: number;
  /** What `jaudiosync status` shows, kept up to date here. */
  live?: LiveStatus;
  /** A new track began: its index in the playlist as written (0-based), for resume. */
  onTrack?(index: number, title: string): void;
  /**
   * The audio settings read live (volume, trim, channel mode): the service's reload updates them. Default:
   * config.audio.
   */
  liveAudio?: () => Config['audio'];
  /** Operations beyond the config (the fleet's commands), read whenever the plan is rebuilt. */
  ops?: () => readonly PlanOp[];
  /** Called with the session once it exists (the service reloads audio settings into it). */
  onSession?(s: PlaybackSession): void;
}

export interface RunResult {
  startUtcNs?: bigint;
  problems: string[];
  output: string;
  readyMs?: number;
}

export async function run(opts: RunOptions): Promise<RunResult> {
  const { config, log, chain } = opts;
  const t0 = opts.processStartNs ?? hrtimeClock.nowNs();
  const problems: string[] = [];
  const onProblem = (m: string) => {
    problems.push(m);
    log.warn(m);
    if (opts.live) addProblem(opts.live, m);
  };
  const spec = parseStartSpec(opts.at ?? config.schedule.start);
  if (!spec)
    throw new Error(
      `start "${opts.at ?? config.schedule.start}" not understood: expected "next-10s", "+SECONDS", "daily HH:MM", "cron EXPR" or an ISO 8601 instant with offset`,
    );
  const tl = await loadTimeline(config, opts.fromTrack, needsTimeline(opts, spec), log, onProblem);
  const format = { sampleRate: config.audio.sample_rate, channels: config.audio.channels };
  const queue = new TrackQueue(
    tl.entries,
    findFfmpeg(config.audio.ffmpeg || undefined).path,
    format,
    gapFrames(config),
    {
      onProblem,
      onLoaded: (t, ms) =>
        log.info(
          `loaded track ${t.index + 1}/${tl.entries.length} "${t.entry.title ?? t.entry.raw}" (${(t.frames / format.sampleRate).toFixed(1)} s) in ${ms.toFixed(0)} ms`,
        ),
    },
    undefined,
    tl.manifest,
  );
  const timing = { timeZone: config.schedule.timezone, playingSec: tl.manifest && playingSecOf(tl.manifest, config) };
  const dacPrior = await dacPriorOf(config, format.sampleRate, chain, log);
  let opened: OpenedOutput | undefined;
  const session = new PlaybackSession({
    clock: hrtimeClock,
    timescale: () => chain.clock.timescale(),
    log,
    format,
    periodFrames: config.audio.period_frames,
    audio: queue,
    trackCount: tl.entries.length,
    name: tl.playlistPath,
    openSink: async (fill) =>
      (opened = await openOutput(config, fill, {
        choice: opts.output,
        dacPrior,
        log,
        simulated: chain.simulated,
        converter: chain.converter,
      })).sink,
    ready: {
      lockTimeoutSec: config.clock.lock_timeout_s,
      maxErrorNs: config.clock.max_error_ms * 1e6,
      whenUnsure: config.clock.when_unsure,
      gpsConfigured: Boolean(chain.gpsSource),
      hasSources: chain.hasSources,
    },
    resolveStart: opts.resolveStart ?? ((u) => resolveStart(spec, u, timing)),
    guessStart: (u) => resolveStart(spec, u, timing),
    live: liveSettings(opts.liveAudio ?? (() => config.audio)),
    stopUtcNs: stopInstant(config),
    pauses: config.schedule.pauses.map((p) => parsePause(p)!),
    timeline: planTimeline(tl.manifest, config),
    ops: opts.ops,
    outputLatencyNs:
      ((config.audio.period_frames * config.audio.queue_periods) / format.sampleRate) * 1e9 +
      config.audio.output_latency_ms * 1e6,
    events: sessionEvents(opts, tl, t0, {
      started: (u) => opened?.started(u),
      placed: (ts, streamFrame) => opened?.placed?.(ts, streamFrame),
    }),
  });
  opts.onSession?.(session);
  const stopOnAbort = () => session.abort('fade');
  opts.abort?.addEventListener('abort', stopOnAbort);
  if (opts.abort?.aborted) session.abort('fade');
  const dacSaver = keepDacRate({
    dir: stateDir(config),
    device: config.audio.device,
    sampleRate: format.sampleRate,
    sink: () => session.sink,
    now: () => ({ utcMs: utcMsNow(chain), tempC: chain.rtcLoop?.temperatureC }),
    clock: hrtimeClock,
    log,
  });
  try {
    const r = await session.run();
    log.info(
      opts.abort?.aborted
        ? 'stopped'
        : session.endedBy === 'stop'
          ? "stopped at the planned stop (schedule.stop or a stop command) before the playlist's end"
          : 'playlist finished',
    );
    return {
      startUtcNs: r.startUtcNs,
      problems,
      output: r.sink.description,
      readyMs: session.readyAtNs !== undefined ? Number(session.readyAtNs - t0) / 1e6 : undefined,
    };
  } finally {
    opts.abort?.removeEventListener('abort', stopOnAbort);
    await dacSaver.stop();
  }
}

function sessionEvents(
  opts: RunOptions,
  tl: LoadedTimeline,
  t0: bigint,
  output: { started: (startUtcNs: bigint) => void; placed: (clock: Timescale, streamFrame: number) => void },
): SessionEvents {
  const { log, live, chain } = opts;
  return {
    onReady: (startUtcNs, readyAtNs) => {
      output.started(startUtcNs);
      const ts = chain.clock.timescale();
      log.info(
        `ready in ${(Number(readyAtNs - t0) / 1e6).toFixed(0)} ms: start at ${isoFromUtcNs(startUtcNs)} (${formatClock(ts, readyAtNs)})`,
      );
      if (live) live.schedule = { ...live.schedule, nextStartUtc: isoFromUtcNs(startUtcNs) };
    },
    onPlaced: ({ firstTimelineFrame, firstStreamFrame, timescale, sink }) => {
      output.placed(timescale, firstStreamFrame);
      const rate = opts.config.audio.sample_rate;
      const how =
        firstTimelineFrame > 0
          ? `joined late at ${formatJoin(firstTimelineFrame / rate)} into the playlist`
          : 'first sample placed';
      log.info(
        `${how} on ${sink.description} (clock ${timescale.source}, ${formatErrorBound(timescale.errorBoundAt(hrtimeClock.nowNs()))})`,
      );
    },
    onDecision: (text) => {
      if (live) live.schedule = { ...live.schedule, decision: text };
    },
    onTrack: (i, title) => opts.onTrack?.((tl.skip + i) % tl.originalLength, title),
    onTick: (s) => {
      log.status(statusLine(chain, s, tl.entries.length));
      if (live) live.playback = playbackStatus(s, tl.entries.length);
    },
  };
}

/** States a rider must not misread on the status line: silence says it is silence, and why. */
function stateNote(s: SessionSnapshot): string {
  switch (s.state) {
    case 'decoding late':
      return 'SILENCE: the audio due is not decoded yet (slow CPU or card)';
    case 'decode failed':
      return `SILENCE: decode failed (${s.silentBecause ?? 'ffmpeg'})`;
    case 'silent slot':
      return `SILENCE: ${s.silentBecause ?? 'this slot is silent here'}`;
    case 'loading':
      return 'SILENCE: loading the audio at the new position';
    case 'between tracks':
      return 'between tracks (the configured gap)';
    default:
      return s.state;
  }
}

/** The status line a rider sees on a terminal (fitted to its width) and the journal (every 10 s). */
function statusLine(chain: TimingChain, s: SessionSnapshot, tracks: number): string {
  const now = hrtimeClock.nowNs();
  const ts = chain.clock.timescale();
  const waiting = s.untilStartSec !== undefined && s.untilStartSec > 0;
  return formatStatusLine(
    {
      clock: { state: ts.state, source: ts.source, errorBoundNs: ts.errorBoundAt(now), simulated: chain.simulated },
      ...(waiting
        ? { startInSec: s.untilStartSec }
        : s.track !== undefined
          ? {
              track: {
                number: s.track,
                count: tracks,
                positionSec: s.positionSec ?? 0,
                lengthSec: s.trackSec ?? 0,
                title: s.title ?? '',
              },
              // Paused, muted or silent within a track: the track shows, and so does the silence.
              ...(s.state === 'playing' ? {} : { note: stateNote(s) }),
            }
          : { note: stateNote(s) }),
      ...(s.syncErrorUs !== undefined
        ? { sync: { errorUs: s.syncErrorUs, dacPpm: s.ratioPpm ?? 0, reseeks: s.reseeks } }
        : {}),
      underruns: s.underruns,
    },
    process.stdout.isTTY ? process.stdout.columns : undefined,
  );
}

function playbackStatus(s: SessionSnapshot, tracks: number): NonNullable<LiveStatus['playback']> {
  return {
    state: s.state,
    track: s.track,
    tracks,
    title: s.title,
    positionSec: s.positionSec,
    syncErrorUs: s.syncErrorUs,
    ratioPpm: s.ratioPpm,
    reseeks: s.reseeks,
    underruns: s.underruns,
    device: s.device,
  };
}

function addProblem(live: LiveStatus, m: string): void {
  live.health ??= { problems: [] };
  live.health.problems = [...live.health.problems.filter((p) => p !== m).slice(-9), m];
}

/** UTC ms now by the disciplined clock (or the system clock it falls back on): the DAC rate's age. */
const utcMsNow = (chain: TimingChain) => Number(chain.clock.timescale().utcAt(hrtimeClock.nowNs()) / 1_000_000n);

/**
 * The saved DAC rate as this start's prior: its uncertainty grown by what can have moved the crystal
 * since (the DS3231's temperature then and now, its age), said in the log.
 */
async function dacPriorOf(
  config: Config,
  sampleRate: number,
  chain: TimingChain,
  log: Logger,
): Promise<DacRate | undefined> {
  const { saved, note } = await readDacPrior(stateDir(config), config.audio.device, sampleRate);
  if (note) log.info(note);
  if (!saved) return undefined;
  const { prior, said } = dacPriorNow(saved, utcMsNow(chain), chain.rtcLoop?.temperatureC);
  log.info(said);
  return prior;
}

/** A join under a second late (a machine too busy to be ready at the start instant) in ms, not "0:00". */
const formatJoin = (sec: number) => (sec < 1 ? `${(sec * 1000).toFixed(sec < 0.01 ? 2 : 0)} ms` : formatDuration(sec));

/**
 * Without a shared manifest this device counts frames itself (once per file, cached) only where the
 * whole timeline is needed up front: a repeating schedule (a restart during today's ride), a start
 * that the clock already says has passed, or fleet control (a skip or seek lands on a track's first
 * frame). An on-time start decodes as it plays.
 */
function needsTimeline(opts: RunOptions, spec: StartSpecParsed): boolean {
  if (isRepeating(spec) || opts.config.fleet.enabled) return true;
  // Relative starts are resolved once the clock is ready: ahead of it by construction.
  if (spec.kind !== 'absolute') return false;
  return spec.utcNs < opts.chain.clock.timescale().utcAt(hrtimeClock.nowNs());
}

function liveSettings(audio: () => Config['audio']): SessionOptions['live'] {
  return {
    volumeDb: () => audio().volume_db,
    trimNs: () => audio().latency_trim_ms * 1e6,
    channelMode: () => audio().channel_mode,
  };
}

function gapFrames(config: Config): number {
  return gapFramesFor(config.playlist.gap_ms, config.audio.sample_rate);
}

function stopInstant(config: Config): bigint | undefined {
  const s = config.schedule.stop ? parseStartSpec(config.schedule.stop) : undefined;
  return s?.kind === 'absolute' ? s.utcNs : undefined;
}

interface LoadedTimeline {
  entries: PlaylistEntry[];
  manifest?: Manifest;
  /** Entries left out before the first (--from-track) and the playlist's length as written. */
  skip: number;
  originalLength: number;
  playlistPath: string;
}

/** The playlist, and its timeline: the shared manifest, else frame counts this device made itself. */
async function loadTimeline(
  config: Config,
  fromTrack: number | undefined,
  count: boolean,
  log: Logger,
  onProblem: (m: string) => void,
): Promise<LoadedTimeline> {
  const playlistPath = resolvePath(config, config.playlist.path);
  const playlist = await checkedPlaylist(config, fromTrack, log);
  for (const p of playlist.problems) onProblem(`playlist ${playlistPath} line ${p.line}: ${p.message}`);
  const skip = (fromTrack ?? 1) - 1;
  const manifest = await timelineManifest(config, playlist, count, log, onProblem);
  // A timeline counted here holds only the files this device has: play those.
  const have = manifest && 'counted' in manifest ? new Set(manifest.entries.map((m) => m.line)) : undefined;
  const once = playlist.entries.slice(skip).filter((e) => !have || have.has(e.line));
  const entries = Array.from({ length: config.playlist.repeat }, () => once).flat();
  const sliced =
    manifest && skip
      ? { ...manifest, entries: manifest.entries.filter((m) => m.line >= playlist.entries[skip]!.line) }
      : manifest;
  return {
    entries,
    manifest: sliced && repeatManifest(sliced, config.playlist.repeat),
    skip,
    originalLength: playlist.entries.length,
    playlistPath,
  };
}

async function timelineManifest(
  config: Config,
  playlist: Playlist,
  count: boolean,
  log: Logger,
  onProblem: (m: string) => void,
): Promise<Manifest | undefined> {
  const path = manifestPathOf(config);
  if (existsSync(path)) {
    try {
      const m = await readManifest(path);
      log.info(`timeline from ${path}: identical on every device that has it`);
      return m;
    } catch (e) {
      // A damaged copy must not silence a ride: this device goes on its own counts, and says so.
      onProblem(
        `${(e as Error).message}: playing on frame counts made here instead (copy the manifest again from another device)`,
      );
      count = true;
    }
  }
  if (config.playlist.manifest)
    throw new Error(`timeline manifest ${path} not found: build it with "jaudiosync timeline build ${playlist.path}"`);
  return countedManifest(playlist, {
    ffmpeg: findFfmpeg(config.audio.ffmpeg || undefined).path,
    format: { sampleRate: config.audio.sample_rate, channels: config.audio.channels },
    cacheDir: stateDir(config),
    log: log.info,
    onProblem,
    cacheOnly: !count,
  });
}

/** The timeline manifest a config means: playlist.manifest, else the one beside the playlist. */
export function manifestPathOf(config: Config): string {
  return config.playlist.manifest
    ? resolvePath(config, config.playlist.manifest)
    : manifestPathFor(resolvePath(config, config.playlist.path));
}

/** Track starts and end of a manifest's timeline, for the plan (skip and seek land on them). */
function planTimeline(
  m: Manifest | undefined,
  config: Config,
): { trackStartFrames: number[]; endFrame: number } | undefined {
  if (!m) return undefined;
  const tl = manifestTimeline(m, {
    gapFrames: gapFramesFor(config.playlist.gap_ms, config.audio.sample_rate),
    sampleRate: config.audio.sample_rate,
  });
  return { trackStartFrames: [...tl.starts], endFrame: tl.endFrame };
}

/** How long one playing of a (repeated) manifest's timeline lasts, gaps between tracks included (s). */
export function playingSecOf(m: Manifest, config: Config): number {
  return timelineSec(
    manifestTimeline(m, {
      gapFrames: gapFramesFor(config.playlist.gap_ms, config.audio.sample_rate),
      sampleRate: config.audio.sample_rate,
    }),
  );
}

/** The config's playlist, read; an error when it has no entry or no track `fromTrack`. */
export async function checkedPlaylist(
  config: Config,
  fromTrack?: number,
  log?: Pick<Logger, 'info'>,
): Promise<Playlist> {
  const path = resolvePath(config, config.playlist.path);
  const playlist = await loadPlaylist(path, log);
  if (playlist.entries.length === 0) throw new Error(`playlist ${path} has no playable entries`);
  if ((fromTrack ?? 1) < 1 || (fromTrack ?? 1) > playlist.entries.length)
    throw new Error(`--from-track ${fromTrack}: the playlist has tracks 1 to ${playlist.entries.length}`);
  return playlist;
}

/** The playlist as people have them (encodings, VLC's escapes, Windows paths); what it noticed is said. */
export async function loadPlaylist(path: string, log?: Pick<Logger, 'info'>): Promise<Playlist> {
  let pl: Playlist;
  try {
    pl = await readPlaylist(path);
  } catch (e) {
    const why = (e as Error).message.replace(`playlist ${path}: `, '').replace(`playlist ${path} `, '');
    throw new Error(`cannot read the playlist ${path}: ${why}. Set playlist.path in the config.`);
  }
  for (const n of pl.notes ?? []) log?.info(`playlist ${path}: ${n}`);
  return pl;
}

export type { StartSpecParsed, OutputSink };
