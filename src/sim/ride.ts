import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { manifestTimeline } from '../player/manifest.js';
import { slotAt } from '../player/timeline.js';
import { TrackQueue } from '../player/tracks.js';
import { dacPriorFromSaved, type DacRate } from '../player/dac-clock.js';
import { PlaybackSession, type SessionLog } from '../session/session.js';
import { gaussian } from '../../drivers/pps/emulator.js';
import { ClockWorld, maxOf, percentile } from './clock-world.js';
import { seededRandom } from './oscillator.js';
import { decodeRideSong, makeRidePlaylist, rideSample, type RidePlaylist } from './ride-playlist.js';
import { VirtualSink, type HeardPeriod } from './virtual-sink.js';
import type { RtcCalibration } from '../time/sources/rtc.js';
import { formatDuration } from '../service/status.js';

/**
 * The ride simulator: N complete devices, each the real clock layer and sources (ClockWorld: its
 * crystal, GPS twin with NMEA through the real parser, PPS, DS3231 emulator) and the real aligner
 * (PlaybackEngine on a virtual DAC with its own crystal and late callbacks) reading the real
 * TrackQueue over a manifest of songs (ride-playlist.ts), in one virtual world. Truth is known here
 * only. Every second, for the timeline frame due then, the true instant each playing device puts it
 * out; the inter-device sync error is their spread. The same frame's sample tells whether the device
 * held the right audio there (a missing file must give silence for its slot and nothing shifted).
 *
 * Each device runs over the whole ride on its own (they share nothing but truth; runDevices spreads
 * them over worker threads), so memory is a few numbers per device-second.
 */

export type GpsMode = 'all' | 'some' | 'none';

export interface RideEvent {
  /** missing-file: the song playing at atSec is not on the device (the others have it). */
  kind: 'gps-outage' | 'late-boot' | 'crash' | 'rtc-lost-power' | 'missing-file';
  /** Device index, or 'all'. */
  device: number | 'all';
  atSec: number;
  durationSec?: number;
  label?: string;
}

export interface RideOptions {
  devices: number;
  hours: number;
  gps: GpsMode;
  pps: 'kernel' | 'gpio';
  calibrated: boolean;
  events: RideEvent[];
  seed: number;
  /** A world without noise: every crystal exact, no jitter (the simulator must then say 0). */
  perfect?: boolean;
  /** Switch single noise sources on (for the growth-law tests): overrides the defaults. */
  noise?: Partial<NoiseSettings>;
  /** The playlist starts this long after the devices power up (s). */
  startAfterSec?: number;
  /** Audio period in the simulation (frames): larger is faster to simulate, the aligner is the same. */
  periodFrames?: number;
  /** Worker threads for the devices (default: one per core; 1 runs them in this thread). */
  threads?: number;
  /** The RTCs were last set from GPS this long before power-up (s); default RTC_SET_AGO_SEC. */
  rtcSetAgoSec?: number;
  /** Simulated device-seconds done so far, of `total` (devices × (lead + ride)): for a progress line. */
  onProgress?(done: number, total: number): void;
}

export interface NoiseSettings {
  /** System crystals: ± this (ppm, uniform) and a temperature coefficient (ppm/°C). */
  sysPpm: number;
  sysTempCoeff: number;
  /** DACs: ± this against the system crystal (ppm). */
  dacPpm: number;
  /** DS3231: ± this rate (ppm), and after calibration ± this residual. */
  rtcPpm: number;
  rtcCalibratedPpm: number;
  /** Kernel PPS stamp noise (ns). */
  ppsJitterNs: number;
  /** Callback delay tail on (1) or off (0). */
  callbackJitter: number;
  /** Temperature swing of the ride profile (°C, peak). */
  tempSwingC: number;
  /** DS3231 white FM: σ of the frequency each 64 s temperature conversion sets (ppm). */
  rtcWhiteFmPpm: number;
}

export const DEFAULT_NOISE: NoiseSettings = {
  sysPpm: 50,
  sysTempCoeff: 0.25,
  dacPpm: 100,
  rtcPpm: 2,
  rtcCalibratedPpm: 0.1,
  ppsJitterNs: 1700,
  callbackJitter: 1,
  tempSwingC: 8,
  // "Small steps" every 64 s (WORLD.md): 0.02 ppm each is ~25 µs of wander after 6 h, far below
  // what the calibrated rate's residual (0.1 ppm) costs in that time.
  rtcWhiteFmPpm: 0.02,
};
export const NO_NOISE: NoiseSettings = {
  sysPpm: 0,
  sysTempCoeff: 0,
  dacPpm: 0,
  rtcPpm: 0,
  rtcCalibratedPpm: 0,
  ppsJitterNs: 0,
  callbackJitter: 0,
  tempSwingC: 0,
  rtcWhiteFmPpm: 0,
};

const RATE = 48_000;
/** UTC at true time 0 of every ride. */
const RIDE_UTC0_NS = 1_790_000_000n * 1_000_000_000n;
/** The RTCs were last set from GPS this long before the ride (unless rtcSetAgoSec), to within RTC_SET_ERROR_NS. */
const RTC_SET_AGO_SEC = 6 * 3600;
const RTC_SET_ERROR_NS = 300_000;
const S = 1_000_000_000n;
/** The session looks at the clock and playback once a simulated second (the service: 4 times a second). */
const RIDE_TICK_MS = 1_000;
/** As the service's default clock.lock_timeout_s. */
const RIDE_LOCK_TIMEOUT_SEC = 20;
/** Each device reports its progress every this many simulated seconds (10 min: ~24 reports a 4 h ride). */
const PROGRESS_EVERY_SIM_SEC = 600;
const SILENT_LOG: SessionLog = { info: () => {}, warn: () => {}, status: () => {} };
/** Seconds between the DS3231's temperature conversions (its white FM steps). */
const RTC_CONVERSION_SEC = 64;

export interface DeviceResult {
  name: string;
  gps: boolean;
  /**
   * Per ride second (index from the start of the playlist): the true time error (ns) of the frame due then; NaN when
   * not playing.
   */
  frameErrorNs: Float64Array;
  clock: { p50Us: number; p99Us: number; maxUs: number; boundBrokenPct: number };
  /** When it played each frame against when it should have (µs): mean and standard deviation. */
  playedUs: { mean: number; sd: number };
  /** The device's hidden truths (what the simulator knows and the device must find out). */
  truth: { sysPpm: number; dacPpm: number; rtcPpm: number };
  joins: Array<{ atSec: number; joinedAfterSec: number }>;
  audible: string[];
  /** One frame probed per playing second: held the right song's sample, silence, or something else. */
  content: { checkedSec: number; silentSec: number; wrongSec: number };
}

export interface RideResult {
  options: Omit<RideOptions, 'events'> & { events: RideEvent[] };
  syncErrorUs: { p50: number; p99: number; max: number };
  phases: Record<string, { seconds: number; p50: number; p99: number; max: number }>;
  devices: Array<Omit<DeviceResult, 'frameErrorNs'>>;
  /** Spread per ride second (µs), NaN where fewer than two devices play: for plots. */
  spreadUs: Float64Array;
  /**
   * Per device (in order), its played error against truth for plots: the largest |error| (µs) in each stepSec bucket,
   * NaN where it did not play.
   */
  playedErrorUs: { stepSec: number; devices: Float64Array[] };
  /** The ride's songs on the timeline: frames of each (the manifest's counts). */
  songFrames: number[];
  wallMs: number;
}

export function defaultEvents(devices: number, hours: number): RideEvent[] {
  const T = hours * 3600;
  const ev: RideEvent[] = [
    { kind: 'gps-outage', device: 'all', atSec: Math.round(T * 0.3), durationSec: 90, label: 'underpass' },
    { kind: 'gps-outage', device: 'all', atSec: Math.round(T * 0.55), durationSec: 300, label: 'tunnel' }, // WORLD.md: 10 s - 5 min
  ];
  if (devices >= 2) ev.push({ kind: 'late-boot', device: 1, atSec: Math.round(T * 0.1), label: 'booted late' });
  if (devices >= 3)
    ev.push({ kind: 'crash', device: 2, atSec: Math.round(T * 0.4), durationSec: 5, label: 'crash, systemd restart' });
  if (devices >= 4) ev.push({ kind: 'rtc-lost-power', device: 3, atSec: 0, label: 'RTC never set' });
  if (devices >= 5) ev.push({ kind: 'missing-file', device: 4, atSec: Math.round(T * 0.7), label: 'song missing' });
  return ev;
}

function affects(e: RideEvent, i: number): boolean {
  return e.device === 'all' || e.device === i;
}

/** One device through the whole ride. */
export async function runDevice(
  i: number,
  o: RideOptions,
  noise: NoiseSettings,
  startAfterSec: number,
  rideSec: number,
  playlist: RidePlaylist,
  onSeconds?: (sec: number) => void,
): Promise<DeviceResult> {
  const rnd = seededRandom(o.seed * 1000 + i);
  const u = () => 2 * rnd() - 1;
  const hasGps = o.gps === 'all' || (o.gps === 'some' && i === 0);
  const evs = o.events.filter((e) => affects(e, i));
  const outages = evs
    .filter((e) => e.kind === 'gps-outage')
    .map((e) => [startAfterSec + e.atSec, startAfterSec + e.atSec + (e.durationSec ?? 60)] as const);
  const lateBoot = evs.find((e) => e.kind === 'late-boot');
  const crash = evs.find((e) => e.kind === 'crash');
  const rtcLost = evs.some((e) => e.kind === 'rtc-lost-power');
  const phase = rnd() * 2 * Math.PI;
  const tempC = (t: number) =>
    40 +
    noise.tempSwingC * Math.sin((2 * Math.PI * t) / 2400 + phase) +
    0.4 * noise.tempSwingC * Math.sin((2 * Math.PI * t) / 310);
  const rtcPpm = u() * noise.rtcPpm;
  // The DS3231's TCXO leaves a small curvature (±2 ppm over 0-40 °C in all): a calibration made
  // at the box's working temperature (what `calibrate` does) includes its mean effect.
  const rtcCurvature = o.perfect ? 0 : -0.0005;
  // Every RTC was set on the second from GPS RTC_SET_AGO_SEC before the ride (at home, or on the
  // way), as the service records in its calibration file; calibrated ones also know their rate.
  const workingRatePpm = rtcPpm + rtcCurvature * (40 - 25) ** 2;
  const setErrorNs = noise.ppsJitterNs ? u() * RTC_SET_ERROR_NS : 0;
  const setAgoSec = o.rtcSetAgoSec ?? RTC_SET_AGO_SEC;
  const setAtUtcNs = RIDE_UTC0_NS - BigInt(setAgoSec) * S;
  // The white FM since that set: a random walk of the RTC's time, σ growing as √t (its own stream,
  // so that switching it on leaves the other draws of the device as they were).
  const wanderNs =
    gaussian(seededRandom(o.seed * 1000 + i + 500_000)) *
    noise.rtcWhiteFmPpm *
    1e3 *
    Math.sqrt(RTC_CONVERSION_SEC * setAgoSec);
  const calibration: RtcCalibration = o.calibrated
    ? {
        ratePpm: workingRatePpm + u() * noise.rtcCalibratedPpm,
        rateUncertaintyPpm: Math.max(noise.rtcCalibratedPpm, 0.01),
        setAtUtcNs,
        setErrorNs: RTC_SET_ERROR_NS,
      }
    : { ratePpm: 0, rateUncertaintyPpm: Math.max(noise.rtcPpm, 0.01), setAtUtcNs, setErrorNs: RTC_SET_ERROR_NS };
  const sysPpm = u() * noise.sysPpm,
    sysTc = noise.sysTempCoeff * (0.6 + 0.8 * rnd());
  const world = new ClockWorld({
    seed: o.seed * 7919 + i,
    sysPpm,
    sysTempCoeffPpmPerC: sysTc,
    temperatureC: tempC,
    pps: o.pps,
    ppsJitterNs: noise.ppsJitterNs,
    nmeaJitterMs: o.perfect ? 0 : 2,
    noGps: !hasGps,
    outage: (s) => outages.some(([a, b]) => s >= a && s < b),
    // An RTC that lost power starts days off and says nothing useful until GPS sets it.
    startUtcSec: Number(RIDE_UTC0_NS / S),
    rtc: rtcLost
      ? {
          ppm: rtcPpm,
          tempCoeffPpmPerC2: rtcCurvature,
          initialOffsetNs: 3n * 86_400n * S,
          conversionJitterPpm: noise.rtcWhiteFmPpm,
        } // lost power: days off, nothing known
      : {
          ppm: rtcPpm,
          tempCoeffPpmPerC2: rtcCurvature,
          initialOffsetNs: BigInt(Math.round(setErrorNs + workingRatePpm * 1e3 * setAgoSec + wanderNs)),
          calibration,
          conversionJitterPpm: noise.rtcWhiteFmPpm,
        },
  });
  const bootSec = lateBoot ? startAfterSec + lateBoot.atSec : 0;
  const dacPpm = u() * noise.dacPpm;
  world.up = bootSec === 0;
  const startUtcNs = world.startUtc + BigInt(startAfterSec) * S;
  const frameErrorNs = new Float64Array(rideSec).fill(NaN);
  const joins: DeviceResult['joins'] = [];
  const audible: string[] = [];
  let upSince = bootSec;
  let joinedAt: number | undefined;
  /** True time (s) the first frame after a (re)start was heard. */
  let firstHeardSec: number | undefined;
  // A device booting late today ran on earlier days: its state directory holds the crystal's
  // frequency and the DAC's rate as measured then (a few ppm off now: temperature).
  let savedFreq: number | undefined = lateBoot ? sysPpm + sysTc * (40 - 25) + 2 * u() : undefined;
  let savedDac: DacRate | undefined = lateBoot ? { ppm: dacPpm + u(), sigmaPpm: 1 } : undefined;
  /** The temperature the DAC rate was saved at, when this ride saved it (a late boot's is from another day). */
  let savedDacTempC: number | undefined;
  // As the service weighs a saved rate: by what the temperature (the RTC's) did since it was saved.
  const priorAt = (sec: number) =>
    savedDac &&
    dacPriorFromSaved(savedDac, {
      ageDays: savedDacTempC === undefined ? 1 : 0,
      tempDeltaC: savedDacTempC === undefined ? undefined : tempC(sec) - savedDacTempC,
    });
  let dacPrior = priorAt(0);
  const P = o.periodFrames ?? 4096;
  // The songs this device lacks: the manifest's slot of each missing-file event.
  const timeline = manifestTimeline(playlist.manifest);
  const missing = new Set(
    evs
      .filter((e) => e.kind === 'missing-file')
      .map((e) => slotAt(timeline, e.atSec * RATE)?.index)
      .filter((x) => x !== undefined),
  );
  const entries = playlist.entriesWithout(missing);
  const problems = new Set<string>();
  const content = { checkedSec: 0, silentSec: 0, wrongSec: 0 };
  const probe = Buffer.alloc(4);
  let session: PlaybackSession | undefined;
  let underruns = 0,
    seeks = 0;
  /** Where the session put a heard period: each ride second's probe frame in it, against truth. */
  const onHeard = (own: PlaybackSession, queue: TrackQueue) => (h: HeardPeriod) => {
    const e = own.engine;
    if (!e || own !== session) return;
    const w = e.writtenAt(h.period);
    if (!w || w.pos + P * w.ratio <= 0) return;
    const heardTrue = Number(world.trueAtLocal(h.heardNs));
    const firstSec = Math.ceil(w.pos / RATE - 0.5),
      lastSec = Math.floor((w.pos + P * w.ratio) / RATE - 0.5);
    for (let k = Math.max(0, firstSec); k <= lastSec && k < rideSec; k++) {
      const frame = (k + 0.5) * RATE;
      if (frame < w.pos || frame >= w.pos + P * w.ratio) continue;
      const t = heardTrue + ((frame - w.pos) / w.ratio) * (1e9 / RATE);
      frameErrorNs[k] = t - (startAfterSec * 1e9 + (frame * 1e9) / RATE);
      if (joinedAt === undefined) {
        joinedAt = k;
        firstHeardSec = heardTrue / 1e9;
      }
      // What the device holds for that frame (the engine runs dry: the queue is what it would play).
      queue.render(frame, 1, probe);
      const got = probe.readInt16LE(0);
      const slot = slotAt(timeline, frame);
      const want = !slot || missing.has(slot.index) ? 0 : rideSample(slot.index, slot.frameInTrack);
      content.checkedSec++;
      if (got === 0) content.silentSec++;
      if (got !== want) content.wrongSec++;
    }
  };
  // The service's own session core: the stream opens at (re)start and plays silence while the clock
  // locks, the start is placed (or joined) once the clock is ready, a fresh queue per process.
  const startSession = () => {
    const queue = new TrackQueue(
      entries,
      'synthetic',
      { sampleRate: RATE, channels: 2 },
      0,
      { onProblem: (m) => problems.add(m) },
      decodeRideSong,
      playlist.manifest,
    );
    const own: PlaybackSession = new PlaybackSession({
      clock: world.clock,
      timescale: () => world.layer.timescale(),
      log: SILENT_LOG,
      format: { sampleRate: RATE, channels: 2 },
      periodFrames: P,
      audio: queue,
      trackCount: entries.length,
      dry: true,
      tickMs: RIDE_TICK_MS,
      resolveStart: () => startUtcNs,
      ready: {
        lockTimeoutSec: RIDE_LOCK_TIMEOUT_SEC,
        maxErrorNs: Number.POSITIVE_INFINITY,
        whenUnsure: 'start',
        gpsConfigured: hasGps,
        hasSources: true,
      },
      live: { volumeDb: () => 0, trimNs: () => 0, channelMode: () => 'stereo' },
      openSink: async (fill) => {
        const sink = new VirtualSink({
          clock: world.clock,
          format: { sampleRate: RATE, channels: 2 },
          periodFrames: P,
          queuePeriods: 4,
          dacPpm,
          random: rnd,
          dacPrior,
          ...(noise.callbackJitter ? {} : { delayNs: () => 0 }),
        });
        sink.onHeard = onHeard(own, queue);
        await sink.start(fill);
        return sink;
      },
    });
    session = own;
    void own.run().catch((e: Error) => problems.add(e.message));
  };
  const stopSession = () => {
    underruns += session?.sink?.underrunPeriods ?? 0;
    seeks += session?.engine?.seeks ?? 0;
    void session?.sink?.stop(); // a crash: the device stops at once, not at the next turn of the loop
    session?.abort('now');
    session = undefined;
  };
  const totalSec = startAfterSec + rideSec;
  for (let s = 0; s < totalSec; s++) {
    if (!world.up && s === bootSec) {
      world.restart(savedFreq !== undefined ? { freqPpm: savedFreq, sigmaPpm: 5 } : undefined);
      upSince = s;
      joinedAt = undefined;
    }
    if (crash && s === startAfterSec + crash.atSec && world.up) {
      savedFreq = world.layer.timescale().freqPpm;
      // As the service: a run with nothing savable leaves the file as it was.
      const saving = session?.sink?.dacRate?.();
      if (saving) [savedDac, savedDacTempC] = [saving, tempC(s)];
      stopSession();
      world.up = false;
      audible.push(`${crash.durationSec ?? 5} s of silence at ${formatDuration(crash.atSec)} into the ride (crash)`);
    }
    if (crash && !world.up && s === startAfterSec + crash.atSec + (crash.durationSec ?? 5)) {
      dacPrior = priorAt(s);
      world.restart(savedFreq !== undefined ? { freqPpm: savedFreq, sigmaPpm: 5 } : undefined);
      upSince = s;
      joinedAt = undefined;
    }
    if (world.up && !session) startSession();
    if (s % PROGRESS_EVERY_SIM_SEC === PROGRESS_EVERY_SIM_SEC - 1) onSeconds?.(PROGRESS_EVERY_SIM_SEC);
    world.run(1);
    // Decodes and the session's steps finish before virtual time moves on (real I/O: the file's hash).
    await session?.settled();
    if (
      joinedAt !== undefined &&
      s - startAfterSec >= joinedAt &&
      (joins.length === 0 || joins.at(-1)!.atSec !== upSince - startAfterSec) &&
      upSince > 0
    ) {
      joins.push({
        atSec: upSince - startAfterSec,
        joinedAfterSec: Number(Math.max(0, (firstHeardSec ?? joinedAt + startAfterSec) - upSince).toFixed(2)),
      });
    }
  }
  stopSession();
  audible.push(...problems);
  if (content.silentSec) audible.push(`${content.silentSec} s of silence`);
  if (content.wrongSec) audible.push(`${content.wrongSec} s not the right audio for the timeline`);
  if (underruns) audible.push(`${underruns} underrun periods`);
  if (seeks) audible.push(`${seeks} re-seeks`);
  // Not while it runs on the bare system clock (just booted or restarted: it does not play then).
  const probes = world.probes.filter((p) => p.source !== 'system');
  const errs = probes.map((p) => Math.abs(p.errorNs) / 1000);
  const played = Array.from(frameErrorNs)
    .filter(Number.isFinite)
    .map((x) => x / 1000);
  const mean = played.reduce((a, b) => a + b, 0) / Math.max(1, played.length);
  const sd = Math.sqrt(played.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, played.length));
  return {
    name: `pi-${i + 1}`,
    gps: hasGps,
    frameErrorNs,
    joins,
    audible,
    content,
    playedUs: { mean, sd },
    truth: { sysPpm, dacPpm, rtcPpm },
    clock: {
      p50Us: percentile(errs, 50),
      p99Us: percentile(errs, 99),
      maxUs: Math.max(0, maxOf(errs) || 0),
      // Only where a bound was claimed: "unsynchronized" says it does not know.
      boundBrokenPct: (() => {
        const b = probes.filter((p) => p.state !== 'unsynchronized' && Number.isFinite(p.boundNs));
        return b.length ? (100 * b.filter((p) => Math.abs(p.errorNs) > p.boundNs).length) / b.length : 0;
      })(),
    },
  };
}

/**
 * Devices share nothing but truth, so they run in worker threads, one per core (RideOptions.threads),
 * each on its own seeded streams: the ride is the same whatever the thread count.
 */
async function runDevices(
  o: RideOptions,
  noise: NoiseSettings,
  startAfterSec: number,
  rideSec: number,
  playlist: RidePlaylist,
): Promise<DeviceResult[]> {
  const threads = Math.min(o.devices, Math.max(1, o.threads ?? availableParallelism()));
  const results: DeviceResult[] = new Array(o.devices);
  const total = o.devices * (startAfterSec + rideSec);
  let done = 0;
  const onSeconds = (sec: number) => {
    done += sec;
    o.onProgress?.(done, total);
  };
  if (threads === 1) {
    for (let i = 0; i < o.devices; i++)
      results[i] = await runDevice(i, o, noise, startAfterSec, rideSec, playlist, onSeconds);
    return results;
  }
  // The worker is this folder's ride-worker in the form this module runs as (.ts under tsx, .js
  // built); from source, the thread registers tsx first (loader hooks are per thread).
  const ext = extname(fileURLToPath(import.meta.url));
  const workerUrl = new URL(`./ride-worker${ext}`, import.meta.url).href;
  const source =
    ext === '.ts'
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(workerUrl)}); })`
      : `import(${JSON.stringify(workerUrl)})`;
  const plain = { dir: playlist.dir, manifest: playlist.manifest, entries: playlist.entries };
  await Promise.all(
    Array.from(
      { length: threads },
      (_, w) =>
        new Promise<void>((resolve, reject) => {
          const indices = Array.from({ length: o.devices }, (_, i) => i).filter((i) => i % threads === w);
          const { onProgress: _p, ...cloneable } = o; // functions do not cross into a thread
          const worker = new Worker(source, {
            eval: true,
            workerData: { indices, o: cloneable, noise, startAfterSec, rideSec, playlist: plain },
          });
          worker.on('message', (m: { i: number; result: DeviceResult } | { seconds: number }) => {
            if ('seconds' in m) onSeconds(m.seconds);
            else results[m.i] = m.result;
          });
          worker.on('error', reject);
          worker.on('exit', (code) =>
            code === 0 && indices.every((i) => results[i])
              ? resolve()
              : reject(new Error(`ride simulation thread ${w} ended (exit code ${code}) before its devices were done`)),
          );
        }),
    ),
  );
  return results;
}

export async function simulateRide(o: RideOptions): Promise<RideResult> {
  const t0 = Date.now();
  const noise = o.perfect ? NO_NOISE : { ...DEFAULT_NOISE, ...o.noise };
  const startAfterSec = o.startAfterSec ?? 60;
  const rideSec = Math.round(o.hours * 3600);
  // Songs for the whole ride and some: the timeline never ends inside it.
  const playlist = await makeRidePlaylist(o.seed, rideSec + 600, { sampleRate: RATE, channels: 2 });
  let devices: DeviceResult[];
  try {
    devices = await runDevices(o, noise, startAfterSec, rideSec, playlist);
  } finally {
    playlist.remove();
  }
  const spreadUs = new Float64Array(rideSec).fill(NaN);
  const phaseOf = (s: number) => {
    const out = o.events.find(
      (e) => e.kind === 'gps-outage' && e.device === 'all' && s >= e.atSec && s < e.atSec + (e.durationSec ?? 60),
    );
    if (out) return 'GPS outage';
    if (o.gps === 'none') return 'RTC only';
    if (o.gps === 'some') return 'GPS on one, RTC on the rest';
    return 'all with GPS';
  };
  const byPhase = new Map<string, number[]>();
  const all: number[] = [];
  for (let s = 0; s < rideSec; s++) {
    const xs: number[] = [];
    for (const d of devices) if (!Number.isNaN(d.frameErrorNs[s]!)) xs.push(d.frameErrorNs[s]!);
    if (xs.length < 2) continue;
    const spread = (Math.max(...xs) - Math.min(...xs)) / 1000;
    spreadUs[s] = spread;
    all.push(spread);
    const ph = phaseOf(s);
    (byPhase.get(ph) ?? byPhase.set(ph, []).get(ph)!).push(spread);
  }
  const stats = (v: number[]) => ({ p50: percentile(v, 50), p99: percentile(v, 99), max: maxOf(v) });
  return {
    options: o,
    syncErrorUs: stats(all),
    phases: Object.fromEntries([...byPhase].map(([k, v]) => [k, { seconds: v.length, ...stats(v) }])),
    devices: devices.map(({ frameErrorNs: _f, ...d }) => d),
    spreadUs,
    playedErrorUs: playedErrorEnvelopes(devices, rideSec),
    songFrames: playlist.manifest.entries.map((e) => e.frames),
    wallMs: Date.now() - t0,
  };
}

/** About this many buckets per device for the plot, whatever the ride's length. */
const PLOT_BUCKETS = 2000;

function playedErrorEnvelopes(devices: readonly DeviceResult[], rideSec: number): RideResult['playedErrorUs'] {
  const stepSec = Math.max(1, Math.ceil(rideSec / PLOT_BUCKETS));
  return {
    stepSec,
    devices: devices.map((d) => {
      const out = new Float64Array(Math.ceil(rideSec / stepSec)).fill(NaN);
      for (let s = 0; s < rideSec; s++) {
        const e = Math.abs(d.frameErrorNs[s]!) / 1000;
        const k = Math.floor(s / stepSec);
        if (Number.isFinite(e) && !(out[k]! >= e)) out[k] = e;
      }
      return out;
    }),
  };
}
