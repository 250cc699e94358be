import type { Timescale } from '../time/timescale.js';
import type { HardwareStatus } from './hardware.js';

/** What a rider wants to see, in one line: clock, countdown, track and position. */

export function formatErrorBound(ns: number): string {
  if (!Number.isFinite(ns)) return 'unknown';
  if (ns < 1_000) return `±${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `±${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `±${(ns / 1e6).toFixed(1)} ms`;
  return `±${(ns / 1e9).toFixed(1)} s`;
}

export function formatClock(ts: Timescale, nowMonoNs: bigint): string {
  const state = ts.state === 'unsynchronized' ? 'UNSYNCHRONIZED' : ts.state;
  return `clock ${state} (${ts.source}, ${formatErrorBound(ts.errorBoundAt(nowMonoNs))})`;
}

export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0'), ss = String(r).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Everything `jaudiosync status` shows; the service keeps one and the status socket serves it. */
export interface LiveStatus {
  pid: number;
  version: string;
  config: string;
  startedAtUtc: string;
  /** Which timing parts are real, simulated, absent (not configured) or waiting (configured, not found yet). */
  hardware?: HardwareStatus;
  clock?: {
    state: string; source: string; errorBoundUs: number | null; freqPpm: number;
    /** The source is a twin: its "lock" is on this machine's own clock, not on the world. */
    simulated?: boolean;
    rtcTempC?: number; cpuTempC?: number; satellites?: number; ppsPulses?: number; ppsLabelled?: number;
  };
  schedule?: { nextStartUtc?: string; countdownSec?: number; decision?: string; note?: string };
  playback?: {
    state: string; track?: number; tracks?: number; title?: string; positionSec?: number;
    syncErrorUs?: number; ratioPpm?: number; reseeks?: number; underruns?: number; device?: string;
  };
  health?: { i2cErrors?: number; nmeaPerSec?: number; nmeaBad?: number; audioDevice?: string; problems: string[] };
}
