import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LedTwin, openGpioLed, type LedOutput } from '../../drivers/led/led.js';
import { platformSummary } from '../../drivers/platform/pi.js';
import { findFfmpeg } from '../player/ffmpeg.js';
import { countedManifest } from '../player/frame-count-cache.js';
import { readManifest, repeatManifest } from '../player/manifest.js';
import { NothingToJoinError, type PlaybackSession } from '../session/session.js';
import { sleepMono, sleepUntilUtc, untilAborted } from '../session/wake.js';
import { clockSettled } from '../session/readiness.js';
import { hrtimeClock } from '../time/clock.js';
import { isoFromUtcNs, type SourceName } from '../time/timescale.js';
import type { DeviceStatus, Fleet, FleetOptions } from '../fleet/index.js';
import type { PlanOp } from '../player/plan-ops.js';
import { systemTimeZone } from './schedule.js';
import { readCpuTempC } from '../time/drift-log.js';
import { writeFileAtomic } from '../util/files.js';
import {
  isRepeating,
  parseStartSpec,
  resolvePath,
  resolveStart,
  runtimeDir,
  stateDir,
  type Config,
  type StartSpecParsed,
} from './config.js';
import { startTimingChain, type HardwareFactory, type TimingChain } from './hardware.js';
import { acquireInstanceLock, ensurePrivateDir, makeFolder, type InstanceLock } from './instance-lock.js';
import { driveLed, ledPatternFor, type LedPattern } from './led.js';
import type { Logger } from './log.js';
import { loadPlaylist, manifestPathOf, playingSecOf, run } from './run.js';
import { reloadPlan } from './reload.js';
import { startStatusServer, type StatusServer } from './status-server.js';
import type { LiveStatus } from './status.js';

/**
 * `jaudiosync run` as a service: one instance per state folder; the clock is disciplined once and
 * kept; the schedule gives each start (one-off, daily, cron), the service sleeps until shortly
 * before it on the monotonic clock (a stepped system clock cannot move it), plays or joins late,
 * and goes round again. SIGTERM fades out and exits; SIGHUP reloads the config: audio settings
 * apply live, everything else at the next start (never a gap); a broken config is reported and the
 * running one kept. The status socket answers `jaudiosync status`; the track playing is saved for
 * --resume. A failure of one start (a missing playlist or audio device) is reported and retried,
 * never the end of the service.
 */

export const RESUME_FILE = 'resume.json';
/** After a start fails (playlist missing, no device), try again after this, or on SIGHUP. */
export const RETRY_AFTER_MS = 30_000;
/** While waiting for the first lock, look at the clock this often. */
const CLOCK_POLL_MS = 250;
/** CPU temperature for status, this often. */
const CPU_TEMP_EVERY_MS = 10_000;

export interface ServeOptions {
  loadConfig(): Config;
  /** The timing hardware for a config (the CLI's choice: real devices or their twins). */
  hardware(config: Config): HardwareFactory;
  log: Logger;
  processStartNs: bigint;
  /** Stay up when nothing more is scheduled (the systemd unit); else return after the playlist. */
  service: boolean;
  resume: boolean;
  fromTrack?: number;
  at?: string;
  output?: 'alsa' | 'wav';
  wavPath?: string;
  version: string;
  /** Starts fleet control (src/fleet, chosen by the CLI like the hardware): the ride is named by its start instant. */
  startFleet?(o: Omit<FleetOptions, 'rideId'> & { rideStartUtcNs(): bigint | undefined }): Promise<Fleet>;
}

interface ResumeState {
  v: 1;
  playlist: string;
  track: number;
  title?: string;
  savedAtUtc: string;
}

/** What the service holds while it runs. */
interface Service {
  o: ServeOptions;
  /** Bumped by what the very next status must show (a problem, a reload): the status cache is not reused across it. */
  statusChanges: number;
  log: Logger;
  config: Config;
  /** A config loaded by SIGHUP that waits for the current start to end. */
  pending?: Config;
  hardware: HardwareFactory;
  chain: TimingChain;
  live: LiveStatus;
  stopping: boolean;
  /** Aborted by SIGTERM (fade) and by a reload that must interrupt a sleep. */
  wake: AbortController;
  session?: PlaybackSession;
  /** The audio settings the engine reads live (a reload updates them at once). */
  audio: Config['audio'];
  /** Relative starts ("+30", "next-10s") are resolved once per process, when the clock is first ready. */
  resolved?: { spec: string; utcNs: bigint };
  wavWritten: boolean;
  cpuTempC?: number;
  /** Fleet control when a network exists (src/fleet): its operations go into every plan. */
  fleet?: Fleet;
  fleetOps: PlanOp[];
  fleetDigest?: string;
  /** The start instant of the ride now (the fleet's ride id), and of the last one played. */
  rideStartUtcNs?: bigint;
  lastPlayedStartUtcNs?: bigint;
}

export async function serve(o: ServeOptions): Promise<void> {
  const config = o.loadConfig();
  const lock = await takeLock(config);
  const s: Service = {
    o,
    statusChanges: 0,
    log: o.log,
    config,
    audio: config.audio,
    hardware: o.hardware(config),
    live: newLive(o, config),
    stopping: false,
    wake: new AbortController(),
    wavWritten: false,
    fleetOps: [],
    chain: undefined as unknown as TimingChain,
  };
  // Signals first: a SIGTERM (or the output going away) while the clock starts must still stop us.
  const cleanups: Array<() => Promise<void> | void> = [() => lock.release(), handleSignals(s)];
  try {
    o.log.info(`timing hardware: ${s.hardware.why}`);
    s.chain = await startTimingChain(config, o.log, { hardware: s.hardware });
    o.log.info(`timing: ${s.chain.describe}`);
    cleanups.push(() => s.chain.stop());
    cleanups.push(await startStatus(s), startCpuTemp(s), await startLed(s));
    if (config.fleet.enabled && o.startFleet) {
      s.fleet = await startFleetFor(s, o.startFleet);
      cleanups.push(() => s.fleet?.stop());
    }
    await schedule(s);
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

/** One jaudiosync per state and runtime folder (the service, or `play`): see instance-lock.ts. */
export async function takeLock(config: Config): Promise<InstanceLock> {
  const runDir = runtimeDir(config);
  const state = stateDir(config);
  await makeFolder(state, 'state folder', `set service.state_dir to a folder this user can write`);
  await makeFolder(runDir, 'runtime folder', `set service.runtime_dir to a folder this user can write`);
  if (!config.service.runtime_dir && !process.env.RUNTIME_DIRECTORY && !process.env.XDG_RUNTIME_DIR)
    await ensurePrivateDir(runDir);
  return acquireInstanceLock([state, runDir]);
}

function newLive(o: ServeOptions, config: Config): LiveStatus {
  // Labels for people (not timing): the system clock's reading at start; the board it runs on.
  return {
    pid: process.pid,
    version: o.version,
    config: config.source,
    startedAtUtc: new Date().toISOString(),
    platform: platformSummary(),
    health: { problems: [] },
  };
}

/** The starts, one after another, until SIGTERM (or the end of a one-off start without --service). */
async function schedule(s: Service): Promise<void> {
  let fromTrack = s.o.fromTrack ?? (s.o.resume ? await readResume(s) : undefined);
  let notBeforeUtcNs: bigint | undefined;
  while (!s.stopping) {
    await applyPending(s);
    const spec = parseStartSpec(s.o.at ?? s.config.schedule.start)!;
    const startUtcNs = await nextOccurrence(s, spec, notBeforeUtcNs);
    if (startUtcNs === undefined || !(await sleepUntilWake(s, startUtcNs))) continue;
    const outcome = await playOnce(s, startUtcNs, fromTrack);
    if (outcome === 'retry') continue;
    fromTrack = undefined;
    s.lastPlayedStartUtcNs = startUtcNs;
    if (outcome.startUtcNs !== undefined) notBeforeUtcNs = outcome.startUtcNs + 1n;
    const oneOff = !isRepeating(spec) && pendingFleetStart(s) === undefined;
    if (outcome.nothingPlayed) {
      // A plain run whose one start played nothing failed, as `play` does: said, exit 1. Otherwise
      // (the service, a daily schedule) it is said and the next start awaited.
      if (oneOff && !s.o.service && !s.stopping && !s.pending)
        throw new Error(
          `${outcome.nothingPlayed}; give a start that is still to come (--at or schedule.start)${s.config.schedule.stop ? ' and a schedule.stop after it' : ''}`,
        );
      s.log.info(outcome.nothingPlayed);
    }
    if (s.stopping || s.pending) continue;
    if (oneOff) {
      if (!s.o.service) break;
      s.live.playback = { state: 'idle' };
      s.live.schedule = {
        note: 'the one-off start is over: nothing more is scheduled (edit schedule.start, then systemctl reload jaudiosync)',
      };
      s.log.info(s.live.schedule.note!);
      await untilAborted(s.wake.signal);
      if (!s.stopping) s.wake = new AbortController();
    }
  }
}

/**
 * The start to play next: an absolute instant; a repeating schedule's next (or still playing)
 * occurrence; a relative start ("+30", "next-10s") resolved once per process, when the clock is first
 * ready (so that every device picks the same 10 s slot). Undefined when interrupted.
 */
async function nextOccurrence(s: Service, spec: StartSpecParsed, notBeforeUtcNs?: bigint): Promise<bigint | undefined> {
  const start = await configuredOccurrence(s, spec, notBeforeUtcNs);
  const fleetStart = pendingFleetStart(s);
  const chosen =
    fleetStart !== undefined && (start === undefined || start <= s.lastPlayedStartUtcNs! || fleetStart < start)
      ? fleetStart
      : start;
  if (chosen !== undefined) {
    s.rideStartUtcNs = chosen;
    s.live.schedule = { ...s.live.schedule, nextStartUtc: isoFromUtcNs(chosen) };
    s.fleet?.refresh(); // commands stored for this ride (a stop before a reboot) count from its first frame
  }
  return chosen;
}

async function configuredOccurrence(
  s: Service,
  spec: StartSpecParsed,
  notBeforeUtcNs?: bigint,
): Promise<bigint | undefined> {
  if (spec.kind !== 'absolute' && !isRepeating(spec)) {
    s.live.schedule = { note: `${s.o.at ?? s.config.schedule.start}: fixed once the clock is ready (waiting for it)` };
    if (!(await waitForClock(s))) return undefined;
    const start = resolveOnce(s, spec, utcNow(s));
    s.live.schedule = { nextStartUtc: isoFromUtcNs(start) };
    return start;
  }
  const nowUtc = utcNow(s);
  const timeZone = s.config.schedule.timezone;
  let start = resolveStart(spec, nowUtc, { timeZone, playingSec: isRepeating(spec) ? await playingSec(s) : undefined });
  if (notBeforeUtcNs !== undefined && start < notBeforeUtcNs) start = resolveStart(spec, notBeforeUtcNs, { timeZone });
  s.live.schedule = { nextStartUtc: isoFromUtcNs(start) };
  return start;
}

/** Sleeps (on the monotonic clock) until wake_early_s before the start; false when interrupted. */
async function sleepUntilWake(s: Service, startUtcNs: bigint): Promise<boolean> {
  const wakeUtcNs = startUtcNs - BigInt(s.config.schedule.wake_early_s * 1e9);
  if (wakeUtcNs <= utcNow(s)) return true;
  s.log.info(`next start ${isoFromUtcNs(startUtcNs)}: sleeping until ${s.config.schedule.wake_early_s} s before it`);
  s.live.playback = { state: 'sleeping until the next start' };
  // The bare system clock is believed only after the lock timeout: it may be hours off (fake-hwclock).
  const trustAfterNs = s.chain.hasSources ? s.config.clock.lock_timeout_s * 1e9 : 0;
  await sleepUntilUtc(hrtimeClock, () => s.chain.clock.timescale(), wakeUtcNs, s.wake.signal, trustAfterNs);
  if (s.wake.signal.aborted) {
    s.wake = new AbortController();
    return false;
  }
  return true;
}

/** One start through run(): its outcome, or 'retry' after a failure (reported, retried in 30 s). */
async function playOnce(
  s: Service,
  startUtcNs: bigint,
  fromTrack?: number,
): Promise<{ startUtcNs?: bigint; nothingPlayed?: string } | 'retry'> {
  const stop = new AbortController();
  const onWake = () => {
    if (s.stopping) stop.abort();
  };
  s.wake.signal.addEventListener('abort', onWake);
  try {
    const r = await run({
      config: s.config,
      log: s.log,
      chain: s.chain,
      abort: stop.signal,
      live: s.live,
      fromTrack,
      processStartNs: s.o.processStartNs,
      at: s.o.at,
      resolveStart: () => startUtcNs,
      ops: () => s.fleetOps,
      output: { kind: s.o.output, wavPath: s.o.wavPath, appendWav: s.wavWritten, named: s.o.output === 'alsa' },
      liveAudio: () => s.audio,
      onTrack: (i, title) => saveResume(s, i + 1, title),
      onSession: (x) => {
        s.session = x;
      },
    });
    s.wavWritten ||= r.output.startsWith('WAV');
    if (!stop.signal.aborted) saveResume(s, 1); // the playlist ended: the next start begins at the top
    return { startUtcNs: r.startUtcNs };
  } catch (e) {
    if (e instanceof NothingToJoinError) return { startUtcNs, nothingPlayed: e.message };
    if (!s.o.service) throw e;
    const m = `this start failed: ${(e as Error).message}; trying again in ${RETRY_AFTER_MS / 1000} s or on reload`;
    s.log.error(m);
    addProblem(s, m);
    s.live.playback = { state: 'failed, retrying' };
    await sleepMono(hrtimeClock, RETRY_AFTER_MS * 1e6, s.wake.signal);
    if (s.wake.signal.aborted && !s.stopping) s.wake = new AbortController();
    return 'retry';
  } finally {
    s.wake.signal.removeEventListener('abort', onWake);
    s.session = undefined;
  }
}

/** A fleet `start` not played yet: an operator started a ride (the idle service plays it). */
function pendingFleetStart(s: Service): bigint | undefined {
  const starts = s.fleetOps.filter((op) => op.op === 'start').map((op) => op.atUtcNs);
  const last = starts.length ? starts.reduce((a, b) => (b > a ? b : a)) : undefined;
  return last !== undefined && (s.lastPlayedStartUtcNs === undefined || last > s.lastPlayedStartUtcNs)
    ? last
    : undefined;
}

/** Starts fleet control: its operations go into the plan of the session playing now and of every later one. */
function startFleetFor(s: Service, start: NonNullable<ServeOptions['startFleet']>): Promise<Fleet> {
  return start({
    config: s.config,
    log: s.log,
    clock: hrtimeClock,
    utcNowNs: () => utcNow(s),
    stateDir: stateDir(s.config),
    rideStartUtcNs: () => s.rideStartUtcNs,
    status: () => deviceStatus(s),
    renderedToUtcNs: () => s.session?.engine?.renderedToUtcNs,
    onOps: (ops, info) => {
      const hadStart = pendingFleetStart(s);
      s.fleetOps = ops;
      s.fleetDigest = info.digest;
      for (const a of info.accepted) {
        if (a.lateNs > 0)
          s.log.info(
            `fleet: ${a.op} (${a.id.slice(0, 12)}) arrived ${(a.lateNs / 1e6).toFixed(0)} ms after its instant: re-placed onto the plan`,
          );
      }
      s.session?.opsChanged();
      // An operator's start while the service idles between rides: plan it now.
      if (!s.session && pendingFleetStart(s) !== hadStart) s.wake.abort();
    },
  });
}

/** What this device reports to the fleet (status/<device>): never pretending, simulated or not. */
function deviceStatus(s: Service): DeviceStatus {
  const ts = s.chain.clock.timescale();
  const bound = ts.errorBoundAt(hrtimeClock.nowNs());
  const p = s.live.playback;
  return {
    clock: { state: ts.state, source: ts.source, errorBoundUs: Number.isFinite(bound) ? bound / 1000 : null },
    simulated: s.chain.simulated,
    playback: p && {
      state: p.state,
      track: p.track,
      tracks: p.tracks,
      positionSec: p.positionSec,
      syncErrorUs: p.syncErrorUs,
    },
    planDigest: s.fleetDigest,
  };
}

/** Until the clock has settled on its best source, or clock.lock_timeout_s; false when interrupted. */
async function waitForClock(s: Service): Promise<boolean> {
  const text = s.o.at ?? s.config.schedule.start;
  if (s.resolved?.spec === text) return true;
  const deadline = hrtimeClock.nowNs() + BigInt(Math.round(s.config.clock.lock_timeout_s * 1e9));
  s.live.playback = { state: 'waiting for the clock' };
  while (
    !clockSettled(s.chain.clock.timescale(), hrtimeClock.nowNs(), Boolean(s.chain.gpsSource)) &&
    hrtimeClock.nowNs() < deadline &&
    s.chain.hasSources
  ) {
    await sleepMono(hrtimeClock, CLOCK_POLL_MS * 1e6, s.wake.signal);
    if (s.wake.signal.aborted) {
      if (!s.stopping) s.wake = new AbortController();
      return false;
    }
  }
  return true;
}

function resolveOnce(s: Service, spec: StartSpecParsed, utcNowNs: bigint): bigint {
  const text = s.o.at ?? s.config.schedule.start;
  if (s.resolved?.spec !== text) s.resolved = { spec: text, utcNs: resolveStart(spec, utcNowNs) };
  return s.resolved.utcNs;
}

function utcNow(s: Service): bigint {
  return s.chain.clock.timescale().utcAt(hrtimeClock.nowNs());
}

/**
 * A config that waited for the current start to end takes over now (restarting the clock only if its settings changed).
 */
async function applyPending(s: Service): Promise<void> {
  const next = s.pending;
  if (!next) return;
  s.pending = undefined;
  if (reloadPlan(s.config, next).restartClock) {
    s.log.info('clock or hardware settings changed: restarting the timing chain');
    await s.chain.stop();
    s.hardware = s.o.hardware(next);
    s.log.info(`timing hardware: ${s.hardware.why}`);
    s.chain = await startTimingChain(next, s.log, { hardware: s.hardware });
    s.log.info(`timing: ${s.chain.describe}`);
  }
  s.config = next;
  s.audio = next.audio;
  s.live.config = next.source;
}

/** SIGHUP: live audio settings at once; the rest at the next start (or now, between starts). */
function reload(s: Service): void {
  s.statusChanges++;
  let next: Config;
  try {
    next = s.o.loadConfig();
  } catch (e) {
    const m = `SIGHUP: the config could not be reloaded, keeping the running one: ${(e as Error).message}`;
    s.log.error(m);
    addProblem(s, m);
    return;
  }
  const plan = reloadPlan(s.pending ?? s.config, next);
  s.audio = {
    ...s.audio,
    volume_db: next.audio.volume_db,
    latency_trim_ms: next.audio.latency_trim_ms,
    channel_mode: next.audio.channel_mode,
  };
  if (plan.live.includes('audio.volume_db')) s.session?.setVolume(next.audio.volume_db);
  const playing = s.session !== undefined;
  const parts = [
    plan.live.length ? `applied now: ${plan.live.join(', ')}` : '',
    plan.nextStart.length ? `${playing ? 'at the next start' : 'now'}: ${plan.nextStart.join(', ')}` : '',
  ].filter(Boolean);
  s.log.info(`SIGHUP: ${next.source} reloaded; ${parts.length ? parts.join('; ') : 'nothing changed'}`);
  s.pending = next;
  if (!playing && plan.nextStart.length) s.wake.abort(); // between starts: re-plan with the new config now
}

/** How long one playing lasts (a daily start joins the playlist while it plays): shared manifest, else counted here. */
async function playingSec(s: Service): Promise<number | undefined> {
  const { config } = s;
  try {
    return playingSecOf(repeatManifest(await readManifest(manifestPathOf(config)), config.playlist.repeat), config);
  } catch {
    // No manifest (or a broken one, which run() reports): count the frames here (cached in the state folder).
  }
  try {
    const pl = await loadPlaylist(resolvePath(config, config.playlist.path));
    const m = await countedManifest(pl, {
      ffmpeg: findFfmpeg(config.audio.ffmpeg || undefined).path,
      format: { sampleRate: config.audio.sample_rate, channels: config.audio.channels },
      cacheDir: stateDir(config),
      log: s.log.info,
      onProblem: () => {}, // run() reports the missing files
    });
    return m && playingSecOf(repeatManifest(m, config.playlist.repeat), config);
  } catch {
    return undefined; // run() says what is wrong with the playlist
  }
}

function saveResume(s: Service, track: number, title?: string): void {
  const path = join(stateDir(s.config), RESUME_FILE);
  const state: ResumeState = {
    v: 1,
    playlist: resolvePath(s.config, s.config.playlist.path),
    track,
    title,
    savedAtUtc: isoFromUtcNs(utcNow(s)),
  };
  void writeFileAtomic(path, JSON.stringify(state) + '\n', { createDir: true }).catch((e: Error) =>
    s.log.warn(`cannot save the resume position in ${path}: ${e.message}`),
  );
}

/** The saved track, when it is one of this playlist's; anything else is said and ignored (track 1). */
async function readResume(s: Service): Promise<number | undefined> {
  const path = join(stateDir(s.config), RESUME_FILE);
  const playlist = resolvePath(s.config, s.config.playlist.path);
  let state: ResumeState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as ResumeState;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    s.log.warn(
      missing
        ? `--resume: nothing saved yet (${path}): starting at track 1`
        : `--resume: ${path} is unreadable (${(e as Error).message}): starting at track 1`,
    );
    return undefined;
  }
  if (state.playlist !== playlist) {
    s.log.warn(`--resume: ${path} is for ${state.playlist}, not ${playlist}: starting at track 1`);
    return undefined;
  }
  const tracks = await loadPlaylist(playlist).then(
    (p) => p.entries.length,
    () => undefined,
  );
  if (!Number.isInteger(state.track) || state.track < 1 || (tracks !== undefined && state.track > tracks)) {
    const m = `--resume: ${path} says track ${state.track}, but ${playlist} has ${tracks ?? 'no readable'} tracks: ignored, starting at track 1`;
    s.log.warn(m);
    addProblem(s, m);
    return undefined;
  }
  s.log.info(`--resume: from track ${state.track}${state.title ? ` (${state.title})` : ''}, saved ${state.savedAtUtc}`);
  return state.track;
}

function addProblem(s: Service, m: string): void {
  s.live.health ??= { problems: [] };
  s.live.health.problems = [...s.live.health.problems.filter((p) => p !== m).slice(-9), m];
  s.statusChanges++;
}

function startCpuTemp(s: Service): () => void {
  let timer = hrtimeClock.setTimer(0, function tick() {
    void readCpuTempC().then((c) => {
      s.cpuTempC = c;
    });
    timer = hrtimeClock.setTimer(CPU_TEMP_EVERY_MS * 1e6, tick);
  });
  return () => timer.cancel();
}

/** The status socket; a failure to open it is said and the service runs on without it. */
async function startStatus(s: Service): Promise<() => Promise<void>> {
  let server: StatusServer;
  try {
    server = await startStatusServer(
      runtimeDir(s.config),
      () => snapshot(s),
      hrtimeClock,
      () => s.statusChanges,
    );
  } catch (e) {
    s.log.warn(`no status socket: ${(e as Error).message}`);
    return async () => {};
  }
  s.log.info(`status: jaudiosync status (socket ${server.path})`);
  return () => server.close();
}

/** What `jaudiosync status` shows, computed when asked. */
function snapshot(s: Service): LiveStatus {
  const { live, chain } = s;
  const now = hrtimeClock.nowNs();
  const ts = chain.clock.timescale();
  const bound = ts.errorBoundAt(now);
  const gps = chain.gpsSource?.status;
  const hardware = chain.hardware();
  live.hardware = hardware;
  live.clock = {
    state: ts.state,
    source: ts.source,
    errorBoundUs: Number.isFinite(bound) ? bound / 1000 : null,
    freqPpm: ts.freqPpm,
    simulated: hardware.simulated,
    rtcTempC: chain.rtcLoop?.temperatureC,
    cpuTempC: s.cpuTempC,
    satellites: gps?.satellites,
    ppsPulses: gps?.pulses,
    ppsLabelled: gps?.labelled,
    gps: gps?.sky,
  };
  live.sources = chain.clock.sourcesReport(expectedSources(s));
  if (live.schedule) live.schedule.timeZone = s.config.schedule.timezone || systemTimeZone();
  const start =
    s.session?.startUtcNs ??
    (live.schedule?.nextStartUtc ? BigInt(Date.parse(live.schedule.nextStartUtc)) * 1_000_000n : undefined);
  if (live.schedule && start !== undefined)
    live.schedule.countdownSec = Math.max(0, Number(start - ts.utcAt(now)) / 1e9);
  live.health = { ...live.health!, ...chain.health(), ppsFault: gps?.ppsFault };
  if (s.fleet?.enabled) live.fleet = s.fleet.snapshot();
  return live;
}

/** The sources this config asks for: listed by `clock sources` even before their first sample. */
function expectedSources(s: Service): SourceName[] {
  return [
    ...(s.chain.gpsSource ? ['gps+pps' as const] : []),
    ...(s.chain.rtcSource ? ['rtc' as const] : []),
    ...(s.config.ntp.servers.length ? ['ntp' as const] : []),
  ];
}

function ledPattern(s: Service): LedPattern {
  return ledPatternFor({
    clockState: s.chain.clock.timescale().state,
    // A configured gap is part of playing; a late decode's silence is not (the LED must not say music).
    playing: s.live.playback?.state === 'playing' || s.live.playback?.state === 'between tracks',
    simulated: s.chain.simulated,
    simulationAsked: s.config.hardware.mode === 'simulated',
  });
}

async function startLed(s: Service): Promise<() => void> {
  const { config, log } = s;
  if (config.service.led_gpio < 0) return () => {};
  let out: LedOutput;
  try {
    out = config.hardware.mode === 'simulated' ? new LedTwin(Date.now) : await openGpioLed(config.service.led_gpio);
  } catch (e) {
    log.warn(`status LED: ${(e as Error).message}; carrying on without it`);
    return () => {};
  }
  return driveLed(out, () => ledPattern(s), hrtimeClock);
}

/** SIGTERM/SIGINT fade out and stop; SIGHUP reloads. Returns the cleanup that removes the handlers. */
function handleSignals(s: Service): () => void {
  const onTerm = (sig: string) => {
    s.log.info(`${sig}: fading out and stopping`);
    s.stopping = true;
    s.wake.abort();
  };
  const sigTerm = () => onTerm('SIGTERM'),
    sigInt = () => onTerm('SIGINT'),
    sigHup = () => reload(s);
  process.on('SIGTERM', sigTerm);
  process.on('SIGINT', sigInt);
  process.on('SIGHUP', sigHup);
  return () => {
    process.off('SIGTERM', sigTerm);
    process.off('SIGINT', sigInt);
    process.off('SIGHUP', sigHup);
  };
}
