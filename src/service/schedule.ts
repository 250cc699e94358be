import cronParser from 'cron-parser';

/**
 * When the playlist starts, as UTC instants every device computes alike from the same config: a
 * one-off instant, a daily wall-clock time in an IANA time zone (across DST changes), or a cron
 * expression in a zone. Pure: the current time is always an argument.
 *
 * DST rules for a daily time, stated once: a wall time that does not exist (spring forward, e.g.
 * 02:30 in Europe/Berlin on the last Sunday of March) moves forward by the gap (03:30); a wall time
 * that exists twice (fall back) is the first of the two.
 */

export type Occurrences =
  | { kind: 'once'; utcMs: number }
  | { kind: 'daily'; hour: number; minute: number; second: number; timeZone: string }
  | { kind: 'cron'; expr: string; timeZone: string };

export function parseDaily(s: string): { hour: number; minute: number; second: number } | undefined {
  const m = /^daily\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s.trim());
  if (!m) return undefined;
  const [hour, minute, second] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return hour < 24 && minute < 60 && second < 60 ? { hour, minute, second } : undefined;
}

/**
 * cron-parser's words for an expression whose day never comes (31 February, 31 April): it refuses
 * such a day outright, or gives up searching for one.
 */
const NEVER_HAPPENS = /Invalid explicit day of month definition|loop limit exceeded/i;

export function parseCron(s: string, timeZone: string): { expr: string } | { error: string } | undefined {
  const m = /^cron(?:\s+(.*))?$/.exec(s.trim());
  if (!m) return undefined;
  const expr = (m[1] ?? '').trim();
  if (expr.split(/\s+/).filter(Boolean).length !== 5) {
    return {
      error: `cron expression "${expr}": expected 5 fields, MIN HOUR DOM MON DOW (e.g. "cron 0 18 * * 5" for Fridays at 18:00)`,
    };
  }
  try {
    cronParser.parseExpression(expr, { tz: timeZone, currentDate: new Date(0) }).next();
    return { expr };
  } catch (e) {
    const why = (e as Error).message;
    if (NEVER_HAPPENS.test(why))
      return {
        error: `cron expression "${expr}" never happens: no month it names has that day (e.g. 31 February); check the day of month and the month`,
      };
    return { error: `cron expression "${expr}": ${why} (expected MIN HOUR DOM MON DOW)` };
  }
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The zone a config means by "": the system's, as Intl resolves it. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock fields of a UTC instant in a zone. */
export function wallClock(
  utcMs: number,
  timeZone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(utcMs)).map((x) => [x.type, Number(x.value)]));
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute!, second: p.second! };
}

/** Zone offset (ms, local minus UTC) in force at a UTC instant, to the second. */
export function zoneOffsetMs(utcMs: number, timeZone: string): number {
  const w = wallClock(utcMs, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(utcMs / 1000) * 1000;
}

/** The UTC instant of a wall-clock time in a zone, by the DST rules above. Month 1-12. */
export function zonedToUtcMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  timeZone: string,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  // Any transition near this wall time lies between the offsets a day either side.
  const before = zoneOffsetMs(wall - 86_400_000, timeZone);
  const after = zoneOffsetMs(wall + 86_400_000, timeZone);
  const valid = [...new Set([before, after])]
    .map((o) => wall - o)
    .filter((t) => zoneOffsetMs(t, timeZone) === wall - t)
    .sort((a, b) => a - b);
  if (valid.length) return valid[0]!; // twice (fall back): the first
  return wall - before; // never (spring forward): shifted by the gap
}

function dailyAt(o: Extract<Occurrences, { kind: 'daily' }>, year: number, month: number, day: number): number {
  const d = new Date(Date.UTC(year, month - 1, day)); // normalises day overflow
  return zonedToUtcMs(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), o.hour, o.minute, o.second, o.timeZone);
}

/** The first occurrence strictly after `afterUtcMs`, or undefined (a one-off in the past). */
export function nextOccurrence(o: Occurrences, afterUtcMs: number): number | undefined {
  switch (o.kind) {
    case 'once':
      return o.utcMs > afterUtcMs ? o.utcMs : undefined;
    case 'daily': {
      const w = wallClock(afterUtcMs, o.timeZone);
      for (let k = -1; k <= 2; k++) {
        const t = dailyAt(o, w.year, w.month, w.day + k);
        if (t > afterUtcMs) return t;
      }
      return undefined;
    }
    case 'cron': {
      const it = cronParser.parseExpression(o.expr, { tz: o.timeZone, currentDate: new Date(afterUtcMs) });
      return it.next().getTime();
    }
  }
}

/** The last occurrence at or before `atUtcMs` (a playlist that may still be playing), or undefined. */
export function previousOccurrence(o: Occurrences, atUtcMs: number): number | undefined {
  switch (o.kind) {
    case 'once':
      return o.utcMs <= atUtcMs ? o.utcMs : undefined;
    case 'daily': {
      const w = wallClock(atUtcMs, o.timeZone);
      for (let k = 1; k >= -2; k--) {
        const t = dailyAt(o, w.year, w.month, w.day + k);
        if (t <= atUtcMs) return t;
      }
      return undefined;
    }
    case 'cron': {
      const it = cronParser.parseExpression(o.expr, { tz: o.timeZone, currentDate: new Date(atUtcMs + 1) });
      try {
        return it.prev().getTime();
      } catch {
        return undefined;
      }
    }
  }
}
