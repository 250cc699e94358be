/** Small text formats shared by every layer (no I/O). */

const DAY_SEC = 86_400;

/**
 * "m:ss", "h:mm:ss", and from a day on "2 d 23:59:51": "71:59:51" or "60637:42:08" reads as a clock
 * time, not as three days or seven years.
 */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(sec) ? sec : 0));
  const d = Math.floor(s / DAY_SEC),
    h = Math.floor((s % DAY_SEC) / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  const ss = String(r).padStart(2, '0');
  if (d) return `${d} d ${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${ss}`;
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A number with its sign always shown ("+0.53", "-4.1"): a rate or an offset reads as a direction. */
export const signed = (v: number, digits: number) => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
