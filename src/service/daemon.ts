import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import schedule from 'node-schedule';
import { LedTwin, openGpioLed, type LedOutput } from '../../drivers/led/led.js';
import { hrtimeClock } from '../time/clock.js';
import { isoFromUtcNs } from '../time/timescale.js';
import { readCpuTempC } from '../time/drift-log.js';
import { writeFileAtomic } from './atomic-file.js';
import { isRepeating, parseStartSpec, resolvePath, resolveStart, runtimeDir, stateDir, type Config } from './config.js';
import { startTimingChain, type TimingChain } from './hardware.js';
import { driveLed, type LedPattern } from './led.js';
import type { Logger } from './log.js';
import { manifestPathOf, NothingToJoinError, run, timelineSec } from './run.js';
import { readManifest, repeatManifest } from '../player/manifest.js';
import { startStatusServer } from './status-server.js';
import type { LiveStatus } from './status.js';

/**
 * `jaudiosync run` as a service: the clock is disciplined once and kept, the schedule gives each
 * start (one-off, daily, cron), the service sleeps until shortly before it, plays or joins late,
 * and goes round again. SIGTERM fades out and exits; SIGHUP reloads the config (a bad one is
 * reported and the running one kept); the status socket answers `jaudiosync status`; the track
 * playing is saved for --resume. A failure of one start (a missing playlist) is reported and
 * retried, never the end of the service.
 */

export const RESUME_FILE = 'resume.json';
/** After a start fails (playlist missing, no device), try again after this, or on SIGHUP. */
export const RETRY_AFTER_MS = 30_000;
/** node-schedule wakes by the system clock: wake in steps of at most this and check our own clock. */
const MAX_SLEEP_STEP_MS = 600_000;

export interface ServeOptions {
  loadConfig(): Config;
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
}

interface ResumeState { v: 1; playlist: string; track: number; title?: string; savedAtUtc: string }

export async function serve(o: ServeOptions): Promise<void> {
  const { log } = o;
  let config = o.loadConfig();
  const live: LiveStatus = { pid: process.pid, version: o.version, config: config.source, startedAtUtc: new Date().toISOString(), health: { problems: [] } };
  let chain: TimingChain = await startTimingChain(config, log);
  let cpuTempC: number | undefined;
  const snapshot = (): LiveStatus => {
    const now = hrtimeClock.nowNs();
    const ts = chain.clock.timescale();
    const bound = ts.errorBoundAt(now);
    const gps = chain.gpsSource?.status;
    live.clock = {
      state: ts.state, source: ts.source, errorBoundUs: Number.isFinite(bound) ? bound / 1000 : null, freqPpm: ts.freqPpm,
      rtcTempC: chain.rtcLoop?.temperatureC, cpuTempC, satellites: gps?.satellites, ppsPulses: gps?.pulses, ppsLabelled: gps?.labelled,
    };
    if (live.schedule?.nextStartUtc) live.schedule.countdownSec = Math.max(0, (Date.parse(live.schedule.nextStartUtc) - Number(ts.utcAt(now) / 1_000_000n)) / 1000);
    live.health = { ...live.health!, ...chain.health() };
    return live;
  };
  const tempTimer = setInterval(() => void readCpuTempC().then((c) => { cpuTempC = c; }), 10_000);

  let status: Awaited<ReturnType<typeof startStatusServer>> | undefined;
  try {
    status = await startStatusServer(runtimeDir(config), snapshot);
    log.info(`status: jaudiosync status (socket ${status.path})`);
  } catch (e) {
    log.warn(`no status socket: ${(e as Error).message}`);
  }
  const stopLed = await startLed(config, log, () => ledPattern(chain, live));

  let stopping = false;
  let reloadTo: Config | undefined;
  let current: AbortController | undefined;
  let wake: () => void = () => {};
  const interrupted = () => new Promise<void>((r) => { wake = r; });
  const onTerm = (sig: string) => { log.info(`${sig}: fading out and stopping`); stopping = true; current?.abort(); wake(); };
  const onHup = () => {
    try {
      reloadTo = o.loadConfig();
      log.info(`SIGHUP: ${reloadTo.source} reloaded; applying it`);
      current?.abort();
      wake();
    } catch (e) {
      const m = `SIGHUP: the config could not be reloaded, keeping the running one: ${(e as Error).message}`;
      log.error(m);
      live.health!.problems = [...live.health!.problems.slice(-9), m];
    }
  };
  const sigTerm = () => onTerm('SIGTERM'), sigInt = () => onTerm('SIGINT');
  process.on('SIGTERM', sigTerm);
  process.on('SIGINT', sigInt);
  process.on('SIGHUP', onHup);

  const resumePath = () => join(stateDir(config), RESUME_FILE);
  const playlistPath = () => resolvePath(config, config.playlist.path);
  const saveResume = (track: number, title?: string) => {
    const s: ResumeState = { v: 1, playlist: playlistPath(), track, title, savedAtUtc: new Date().toISOString() };
    void writeFileAtomic(resumePath(), JSON.stringify(s) + '\n', { createDir: true })
      .catch((e: Error) => log.warn(`cannot save the resume position in ${resumePath()}: ${e.message}`));
  };
  let fromTrack = o.fromTrack ?? (o.resume ? await readResume(resumePath(), playlistPath(), log) : undefined);
  let notBeforeUtcNs: bigint | undefined;
  try {
    while (!stopping) {
      if (reloadTo) {
        if (clockSettings(reloadTo) !== clockSettings(config)) {
          log.info('clock settings changed: restarting the timing chain');
          await chain.stop();
          chain = await startTimingChain(reloadTo, log);
        }
        config = reloadTo;
        live.config = config.source;
        reloadTo = undefined;
      }
      const spec = parseStartSpec(o.at ?? config.schedule.start)!;
      let at = o.at;
      let startUtcNs: bigint | undefined;
      if (spec.kind === 'absolute' || isRepeating(spec)) {
        const nowUtc = chain.clock.timescale().utcAt(hrtimeClock.nowNs());
        startUtcNs = resolveStart(spec, nowUtc, { timeZone: config.schedule.timezone, playingSec: await playingSec(config) });
        if (notBeforeUtcNs !== undefined && startUtcNs < notBeforeUtcNs) startUtcNs = resolveStart(spec, notBeforeUtcNs, { timeZone: config.schedule.timezone });
        at = new Date(Number(startUtcNs / 1_000_000n)).toISOString();
        live.schedule = { nextStartUtc: isoFromUtcNs(startUtcNs) };
        const wakeUtcNs = startUtcNs - BigInt(config.schedule.wake_early_s * 1e9);
        if (wakeUtcNs > nowUtc) {
          log.info(`next start ${isoFromUtcNs(startUtcNs)}: sleeping until ${config.schedule.wake_early_s} s before it`);
          live.playback = { state: 'sleeping until the next start' };
          await sleepUntilUtc(wakeUtcNs, chain, interrupted());
          if (stopping || reloadTo) continue;
          if (chain.clock.timescale().utcAt(hrtimeClock.nowNs()) < wakeUtcNs) continue; // woke early by the system clock: sleep on
        }
      }
      current = new AbortController();
      try {
        await run({ config, log, chain, at, abort: current.signal, live, fromTrack, processStartNs: o.processStartNs, output: o.output, wavPath: o.wavPath,
          onTrack: (i, title) => saveResume(i + 1, title) });
        if (!current.signal.aborted) saveResume(1); // the playlist ended: the next start begins at the top
      } catch (e) {
        if (e instanceof NothingToJoinError) log.info(e.message);
        else if (!o.service) throw e;
        else {
          const m = `this start failed: ${(e as Error).message}; trying again in ${RETRY_AFTER_MS / 1000} s or on reload`;
          log.error(m);
          live.health!.problems = [...live.health!.problems.slice(-9), m];
          live.playback = { state: 'failed, retrying' };
          await Promise.race([interrupted(), new Promise((r) => setTimeout(r, RETRY_AFTER_MS))]);
          continue;
        }
      }
      fromTrack = undefined;
      if (startUtcNs !== undefined) notBeforeUtcNs = startUtcNs + 1n;
      if (stopping || reloadTo) continue;
      if (!isRepeating(spec)) {
        if (!o.service) break;
        live.playback = { state: 'idle' };
        live.schedule = { note: 'the one-off start is over: nothing more is scheduled (edit schedule.start, then systemctl reload jaudiosync)' };
        log.info(live.schedule.note!);
        await interrupted();
      }
    }
  } finally {
    process.off('SIGTERM', sigTerm);
    process.off('SIGINT', sigInt);
    process.off('SIGHUP', onHup);
    clearInterval(tempTimer);
    stopLed();
    await status?.close();
    await chain.stop();
  }
}

/** Sections whose change needs the timing chain restarted. */
function clockSettings(c: Config): string {
  return JSON.stringify([c.hardware, c.gps, c.rtc, c.ntp, c.clock.drift_log, c.sim, c.service.state_dir]);
}

/** How long one playing lasts, when a manifest says so (a daily start joins the playlist while it plays). */
async function playingSec(config: Config): Promise<number | undefined> {
  try {
    return timelineSec(repeatManifest(await readManifest(manifestPathOf(config)), config.playlist.repeat), config.playlist.gap_ms);
  } catch {
    return undefined; // no manifest (or a broken one, which run() reports): the length is unknown
  }
}

async function readResume(path: string, playlist: string, log: Logger): Promise<number | undefined> {
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as ResumeState;
    if (s.playlist !== playlist) {
      log.warn(`--resume: ${path} is for ${s.playlist}, not ${playlist}: starting at track 1`);
      return undefined;
    }
    log.info(`--resume: from track ${s.track}${s.title ? ` (${s.title})` : ''}, saved ${s.savedAtUtc}`);
    return Number.isInteger(s.track) && s.track >= 1 ? s.track : undefined;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    log.warn(missing ? `--resume: nothing saved yet (${path}): starting at track 1` : `--resume: ${path} is unreadable (${(e as Error).message}): starting at track 1`);
    return undefined;
  }
}

/** Sleeps until a UTC instant of our clock, waking by the system clock through node-schedule. */
async function sleepUntilUtc(targetUtcNs: bigint, chain: TimingChain, interrupt: Promise<void>): Promise<void> {
  let stop = false;
  void interrupt.then(() => { stop = true; });
  while (!stop) {
    const nowUtcNs = chain.clock.timescale().utcAt(hrtimeClock.nowNs());
    const leftMs = Number(targetUtcNs - nowUtcNs) / 1e6;
    if (leftMs <= 0) return;
    // The system clock may differ from ours: aim node-schedule at the system clock's reading of the target.
    const systemTargetMs = Date.now() + Math.min(leftMs, MAX_SLEEP_STEP_MS);
    await new Promise<void>((resolve) => {
      const job = schedule.scheduleJob(new Date(systemTargetMs), () => resolve());
      if (!job) { resolve(); return; }
      void interrupt.then(() => { job.cancel(); resolve(); });
    });
  }
}

function ledPattern(chain: TimingChain, live: LiveStatus): LedPattern {
  if (live.playback?.state === 'playing') return 'playing';
  const s = chain.clock.timescale().state;
  return s === 'locked' ? 'locked' : s === 'holdover' ? 'holdover' : 'unsynchronized';
}

async function startLed(config: Config, log: Logger, pattern: () => LedPattern): Promise<() => void> {
  if (config.service.led_gpio < 0) return () => {};
  let out: LedOutput;
  try {
    out = config.hardware.mode === 'simulated' ? new LedTwin(Date.now) : await openGpioLed(config.service.led_gpio);
  } catch (e) {
    log.warn(`status LED: ${(e as Error).message}; carrying on without it`);
    return () => {};
  }
  return driveLed(out, pattern, Date.now);
}
