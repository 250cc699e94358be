import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../util/files.js';
import type { RtcCalibration } from './sources/rtc.js';

/**
 * The calibration store: ONE JSON file per device, by default `<state dir>/rtc-calibration.json`,
 * shared by the service (the RTC's rate measured against GPS, when it last set the RTC on the second)
 * and `calibrate apply` (the aging-register trim, the temperature models, which recording they came
 * from). Every write merges into what is there (read, merge, atomic write, under a lock file), so no
 * writer drops another's fields; a field is removed only by patching it to null.
 */

export const CALIBRATION_FILE_NAME = 'rtc-calibration.json';

/** Where the service and `calibrate` keep it when the config names no other file (rtc.calibration = ""). */
export function defaultCalibrationPath(stateDir: string): string {
  return join(stateDir, CALIBRATION_FILE_NAME);
}

/** Frequency against temperature: ppm = c0 + c1 (T - refC) + c2 (T - refC)² (c0 at refC). */
export interface TemperatureModel {
  kind: 'none' | 'linear' | 'quadratic';
  refC: number;
  c0: number;
  c1PpmPerC: number;
  c2PpmPerC2: number;
  /** Temperature range seen (°C). */
  minC: number;
  maxC: number;
  /** Why this kind (too little range, the quadratic term not significant...). */
  note: string;
}

/** Which recording a calibration came from: `calibrate verify` refuses to judge it with itself. */
export interface RecordingFingerprint {
  /** First and last reference instants (ISO 8601 UTC) and the records' count. */
  from: string;
  to: string;
  records: number;
  files: string[];
  /** True when a simulated source (GPS, PPS or DS3231 twin) made it. */
  simulated?: boolean;
}

export interface CalibrationFile {
  v: 1;
  /** The RTC's rate as it runs now (ppm, + = fast) and how well it is known: what holdover uses. */
  ratePpm: number;
  rateUncertaintyPpm: number;
  /** ISO 8601 UTC instant of the last set on the second, and how far off that set may be (ns). */
  setAt?: string;
  setErrorNs?: number;
  /** When ratePpm was last measured (ISO 8601 UTC). */
  measuredAt?: string;
  /** What `calibrate apply` did to the DS3231. */
  rtc?: {
    measuredPpm: number;
    measuredUncertaintyPpm?: number;
    agingBefore: number;
    agingAfter: number;
    temperature?: TemperatureModel;
    appliedAt?: string;
    recording?: RecordingFingerprint;
  };
  /** The system crystal as `calibrate apply` last measured it (for the record; the servo learns its own). */
  system?: { ppm: number; uncertaintyPpm: number; temperature?: TemperatureModel; measuredAt?: string };
  /** `calibrate record` is measuring this RTC: nobody may set it meanwhile (see rtcSetHeld). */
  recordingInProgress?: { pid: number; out: string; since: string };
  /** Written by a service running on the twins: says nothing about a real DS3231. */
  simulated?: boolean;
}

/** A patch: a key left out (or undefined) keeps its value, null removes it; nested objects merge one level. */
export type CalibrationPatch = {
  [K in keyof CalibrationFile]?: CalibrationFile[K] extends object | undefined
    ? Partial<NonNullable<CalibrationFile[K]>> | null
    : CalibrationFile[K] | null;
};

export interface ReadResult {
  file?: CalibrationFile;
  /** Set when the file exists but cannot be used (not JSON, wrong fields): say it, do not trust it. */
  problem?: string;
}

function validate(raw: unknown): CalibrationFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
  const f = raw as CalibrationFile;
  if (typeof f.ratePpm !== 'number' || !Number.isFinite(f.ratePpm)) throw new Error('ratePpm must be a number');
  if (typeof f.rateUncertaintyPpm !== 'number' || !(f.rateUncertaintyPpm >= 0))
    throw new Error('rateUncertaintyPpm must be a number ≥ 0');
  if (f.setAt !== undefined && !Number.isFinite(Date.parse(f.setAt)))
    throw new Error(`setAt "${String(f.setAt)}" is not an ISO 8601 instant`);
  return f;
}

/** Reads the store: {} when there is none, {problem} when it is broken. */
export async function readCalibration(path: string): Promise<ReadResult> {
  let text: string | undefined;
  try {
    text = await readTextIfExists(path);
  } catch (e) {
    return { problem: `calibration file ${path} cannot be read: ${(e as Error).message}` };
  }
  if (text === undefined) return {};
  try {
    return { file: validate(JSON.parse(text)) };
  } catch (e) {
    return { problem: `calibration file ${path} is not usable (${(e as Error).message})` };
  }
}

function merge(cur: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cur };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const old = out[k];
    const plain = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = plain(v) && plain(old) ? { ...(old as object), ...(v as object) } : v;
  }
  return out;
}

/** A lock file beside the store older than this is left over from a crash: taken over. */
const STALE_LOCK_MS = 10_000;
const LOCK_RETRY_MS = 20;
const LOCK_WAIT_MS = 3_000;

async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS; // wall time only bounds a wait for another process
  for (;;) {
    try {
      await (await open(lock, 'wx')).close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS || Date.now() > deadline) {
        await unlink(lock).catch(() => {});
        continue;
      }
      await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => {});
  }
}

/**
 * Merges `patch` into the store and writes it atomically; returns what was written. A broken file is
 * kept as `<path>.broken` (said through `warn`) and a fresh one started: nothing is silently lost.
 * A patch that leaves the file without ratePpm gets the "nothing known" defaults (0 ± 2 ppm: the
 * DS3231's datasheet bound).
 */
export async function updateCalibration(
  path: string,
  patch: CalibrationPatch,
  warn: (m: string) => void = () => {},
): Promise<CalibrationFile> {
  await mkdir(dirname(path), { recursive: true }); // the state dir may not exist before the first write
  return withLock(path, async () => {
    const cur = await readCalibration(path);
    if (cur.problem) {
      await rename(path, `${path}.broken`).catch(() => {});
      warn(`${cur.problem}; kept it as ${path}.broken and started a new one`);
    }
    const base: Record<string, unknown> = cur.file ? { ...cur.file } : { v: 1, ratePpm: 0, rateUncertaintyPpm: 2 };
    const next = merge(base, patch as Record<string, unknown>) as unknown as CalibrationFile;
    next.v = 1;
    await writeFileAtomic(path, JSON.stringify(next, null, 2) + '\n', { mode: 0o644 });
    return next;
  });
}

/** Is process `pid` alive (EPERM: alive, another user's)? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Why the RTC must not be set now, or undefined: a `calibrate record` (a live process) is measuring
 * it, and a set would show as a jump in its recording. The service calls this before every set.
 */
export async function rtcSetHeld(path: string): Promise<string | undefined> {
  const hold = (await readCalibration(path)).file?.recordingInProgress;
  if (!hold || hold.pid === process.pid || !alive(hold.pid)) return undefined;
  return `calibrate record (pid ${hold.pid}, since ${hold.since}) is measuring the DS3231 into ${hold.out}: not setting it`;
}

// ---- The clock layer's view (what src/service/hardware.ts and rtc-loop.ts call) ----

/**
 * Reads the rate and last set for the RTC source; undefined when there is none; a broken file is said through `warn`.
 */
export async function readRtcCalibration(
  path: string,
  warn: (m: string) => void,
  simulated = false,
): Promise<RtcCalibration | undefined> {
  const r = await readCalibration(path);
  if (r.problem) warn(`${r.problem}; ignoring it. Delete it, or let the next GPS lock rewrite it.`);
  const f = r.file;
  if (!f) return undefined;
  if (Boolean(f.simulated) !== simulated) {
    warn(
      `${path} was written on ${f.simulated ? 'SIMULATED' : 'real'} hardware and this run is on ${simulated ? 'SIMULATED' : 'real'} hardware: ignoring its rate and last set`,
    );
    return undefined;
  }
  const setMs = f.setAt ? Date.parse(f.setAt) : NaN;
  return {
    ratePpm: f.ratePpm,
    rateUncertaintyPpm: f.rateUncertaintyPpm,
    setAtUtcNs: Number.isFinite(setMs) ? BigInt(setMs) * 1_000_000n : undefined,
    setErrorNs: f.setErrorNs,
  };
}

const iso = (utcNs: bigint) => new Date(Number(utcNs / 1_000_000n)).toISOString();

/** The service's write: its measured rate and/or last set, merged into the store. */
export async function writeRtcCalibration(
  path: string,
  c: RtcCalibration,
  measuredAtUtcNs?: bigint,
  warn?: (m: string) => void,
  simulated = false,
): Promise<void> {
  await updateCalibration(
    path,
    {
      simulated: simulated ? true : null,
      ratePpm: Number(c.ratePpm.toFixed(4)),
      rateUncertaintyPpm: Number(c.rateUncertaintyPpm.toFixed(4)),
      ...(c.setAtUtcNs !== undefined ? { setAt: iso(c.setAtUtcNs), setErrorNs: c.setErrorNs } : {}),
      ...(measuredAtUtcNs !== undefined ? { measuredAt: iso(measuredAtUtcNs) } : {}),
    },
    warn,
  );
}
