import type { Config } from './config.js';

/**
 * What a reloaded config changes, and when: audio settings that the engine reads live (volume, trim,
 * channel mode) apply at once with a ramp; everything else (playlist, schedule, format, outputs)
 * takes effect at the next start, so a reload never interrupts the music; clock and hardware
 * settings also restart the timing chain, which waits for the same moment. Pure.
 */

/** Read live by the engine: changed without a gap. */
export const LIVE_AUDIO_KEYS = ['volume_db', 'latency_trim_ms', 'channel_mode'] as const;
/** Sections whose change needs the timing chain restarted. */
const CLOCK_SECTIONS = ['hardware', 'gps', 'rtc', 'ntp', 'sim'] as const;

export interface ReloadPlan {
  /** Keys applied now, e.g. "audio.volume_db". */
  live: string[];
  /** Keys that take effect at the next start. */
  nextStart: string[];
  /** The timing chain must be restarted (at the next start). */
  restartClock: boolean;
}

export function reloadPlan(old: Config, next: Config): ReloadPlan {
  const live: string[] = [];
  const nextStart: string[] = [];
  for (const section of Object.keys(next) as Array<keyof Config>) {
    if (section === 'source' || section === 'baseDir') continue;
    const a = old[section] as Record<string, unknown>,
      b = next[section] as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) {
      if (JSON.stringify(a?.[key]) === JSON.stringify(b?.[key])) continue;
      const name = `${section}.${key}`;
      (section === 'audio' && (LIVE_AUDIO_KEYS as readonly string[]).includes(key) ? live : nextStart).push(name);
    }
  }
  if (old.baseDir !== next.baseDir) nextStart.push('(the config file moved: relative paths)');
  const restartClock = nextStart.some(
    (k) =>
      (CLOCK_SECTIONS as readonly string[]).includes(k.split('.')[0]!) ||
      k === 'clock.drift_log' ||
      k === 'service.state_dir',
  );
  return { live, nextStart, restartClock };
}
