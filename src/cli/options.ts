import { resolve } from 'node:path';
import { ConfigError, isoCalendarError, parseConfig, parseStartSpec, type StartSpecParsed } from '../service/config.js';
import { parseCron } from '../service/schedule.js';

/**
 * Command-line option values, checked like the config: a value the config would refuse for the
 * same setting is refused here with the same limit, naming the option, the value and what is
 * expected. Every check throws an OptionError (one line, no stack); nothing returns NaN.
 */

export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

const shown = (v: string) => JSON.stringify(v);

/** A finite number (decimal), else a message naming the option and the unit. */
export function numberOption(name: string, value: string, what = 'a number'): number {
  const s = value.trim();
  const n = s === '' ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new OptionError(`${name} ${shown(value)}: expected ${what}`);
  return n;
}

/** A whole number within [min, max]. */
export function intOption(
  name: string,
  value: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
  what = 'a whole number',
): number {
  const s = value.trim();
  // Hex is written 0x..; anything else must be plain decimal digits (no "1e3", no "12abc").
  const n = /^[+-]?\d+$/.test(s) ? Number(s) : /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : NaN;
  if (!Number.isSafeInteger(n))
    throw new OptionError(
      `${name} ${shown(value)}: expected ${what}${max === Number.MAX_SAFE_INTEGER ? ` from ${min}` : ` from ${min} to ${max}`}`,
    );
  if (n < min || n > max)
    throw new OptionError(
      `${name} ${shown(value)}: expected ${what} from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`,
    );
  return n;
}

/** Seconds, as "90", "90s", "30m", "6h" or "2d"; more than 0 and at most `maxSec`. */
export function secondsOption(name: string, value: string, maxSec = 366 * 86_400): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(s|m|min|h|d)?$/.exec(value.trim());
  if (!m)
    throw new OptionError(`${name} ${shown(value)}: expected a duration in seconds, or with a unit: 90s, 30m, 6h, 2d`);
  const sec = Number(m[1]) * { s: 1, m: 60, min: 60, h: 3600, d: 86_400 }[m[2] ?? 's']!;
  if (!(sec > 0)) throw new OptionError(`${name} ${shown(value)}: expected more than 0 seconds`);
  if (sec > maxSec) throw new OptionError(`${name} ${shown(value)}: expected at most ${maxSec} s`);
  return sec;
}

/**
 * A value for a config setting given on the command line, checked by the config's own schema:
 * the same limits and the same words. `value` is already converted (number, string, boolean).
 */
export function asConfig(
  name: string,
  section: string,
  key: string,
  value: number | string | boolean,
  given = String(value),
): void {
  try {
    parseConfig(`[${section}]\n${key} = ${JSON.stringify(value)}\n`, name, process.cwd());
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // "audio.latency_trim_ms = 99999: expected at most 1000" -> the option's words.
    const why = e.problems.map((p) => p.replace(/^[\w.]+( = .*?)?: /, '')).join('; ');
    throw new OptionError(`${name} ${shown(given)}: ${why} (as ${section}.${key} in the config)`);
  }
}

/** A number within a config setting's limits. */
export function configNumberOption(
  name: string,
  value: string,
  section: string,
  key: string,
  what = 'a number',
): number {
  const n = numberOption(name, value, what);
  asConfig(name, section, key, n, value);
  return n;
}

/** A whole number within a config setting's limits (hex allowed: "0x68"). */
export function configIntOption(
  name: string,
  value: string,
  section: string,
  key: string,
  what = 'a whole number',
): number {
  const s = value.trim();
  const n = /^[+-]?\d+$/.test(s) ? Number(s) : /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : NaN;
  if (!Number.isSafeInteger(n)) throw new OptionError(`${name} ${shown(value)}: expected ${what}`);
  asConfig(name, section, key, n, value);
  return n;
}

const ISO_NO_OFFSET = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Why a start spec is not understood, in words a user can act on. */
export function explainStartSpec(s: string): string {
  const v = s.trim();
  const calendar = isoCalendarError(v);
  if (calendar) return `${shown(s)}: ${calendar}`;
  if (ISO_NO_OFFSET.test(v)) {
    return `${shown(s)} has no UTC offset, so devices in other time zones (or with another TZ setting) would start at different instants: add one, e.g. "${v.replace(' ', 'T')}+01:00" or "${v.replace(' ', 'T')}Z"`;
  }
  if (/^\+/.test(v)) return `${shown(s)}: expected +SECONDS, a number of seconds from now, e.g. +30`;
  if (/^next-/.test(v)) return `${shown(s)}: expected next-Ns with N whole seconds, e.g. next-10s`;
  const cron = parseCron(v, 'UTC');
  if (cron && 'error' in cron) return cron.error;
  if (/^daily\b/.test(v)) return `${shown(s)}: expected "daily HH:MM" or "daily HH:MM:SS" (24-hour clock)`;
  if (/^\d{4}-\d{2}-\d{2}/.test(v))
    return `${shown(s)}: not a valid ISO 8601 instant; expected e.g. "2026-06-27T18:55:00+02:00"`;
  return `${shown(s)}: expected "next-10s", "+SECONDS", an ISO 8601 instant with offset (e.g. "2026-06-27T18:55:00+02:00"), "daily HH:MM" or "cron MIN HOUR DOM MON DOW"`;
}

/** A start instant option (--at): parsed, or an OptionError saying what is wrong with it. */
export function startOption(
  name: string,
  value: string,
  allowed?: ReadonlyArray<StartSpecParsed['kind']>,
): StartSpecParsed {
  const spec = parseStartSpec(value.trim());
  const onlyInstants = allowed?.length === 1 && allowed[0] === 'absolute';
  if (!spec && onlyInstants && !/^\d{4}-\d{2}-\d{2}/.test(value.trim()))
    throw new OptionError(
      `${name} ${shown(value)}: expected an ISO 8601 instant with offset, e.g. "2026-06-27T18:55:00+02:00"`,
    );
  if (!spec) throw new OptionError(`${name} ${explainStartSpec(value)}`);
  if (allowed && !allowed.includes(spec.kind)) {
    throw new OptionError(
      `${name} ${shown(value)}: expected ${allowed.map((k) => ({ absolute: 'an ISO 8601 instant with offset', relative: '+SECONDS', next: 'next-Ns', daily: 'daily HH:MM', cron: 'a cron expression' })[k]).join(' or ')}`,
    );
  }
  return spec;
}

/** An instant option (--start, --at of `timeline show`): an ISO 8601 instant with offset, as UTC ns. */
export function instantOption(name: string, value: string): bigint {
  const spec = startOption(name, value, ['absolute']);
  return (spec as Extract<StartSpecParsed, { kind: 'absolute' }>).utcNs;
}

/** A path given on the command line: relative to the current directory, like every other tool. */
export function pathOption(value: string): string {
  return resolve(process.cwd(), value);
}
