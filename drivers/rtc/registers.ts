/** DS3231 register map and BCD time encoding (datasheet, "Timekeeping Registers"). Pure, no I/O. */

export const REG = {
  SECONDS: 0x00,
  MINUTES: 0x01,
  HOURS: 0x02,
  DAY: 0x03,
  DATE: 0x04,
  MONTH: 0x05,
  YEAR: 0x06,
  CONTROL: 0x0e,
  STATUS: 0x0f,
  AGING: 0x10,
  TEMP_MSB: 0x11,
  TEMP_LSB: 0x12,
} as const;
export const LAST_REGISTER = 0x12;

export const CONTROL = {
  EOSC: 0x80,
  BBSQW: 0x40,
  CONV: 0x20,
  RS2: 0x10,
  RS1: 0x08,
  INTCN: 0x04,
  A2IE: 0x02,
  A1IE: 0x01,
} as const;
export const STATUS = { OSF: 0x80, EN32KHZ: 0x08, BSY: 0x04, A2F: 0x02, A1F: 0x01 } as const;
const HOURS_12H = 0x40;
const HOURS_PM = 0x20;
const MONTH_CENTURY = 0x80;

export const toBcd = (n: number): number => ((Math.floor(n / 10) << 4) | (n % 10)) & 0xff;
export const fromBcd = (b: number): number => (b >> 4) * 10 + (b & 0x0f);

export interface RtcDateTime {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
  /** Day of week register (1-7); the DS3231 only counts it, we write Monday = 1 (ISO). */
  weekday: number;
}

/** Seven time registers (0x00-0x06) for a UTC time; always 24 h mode, century bit 0 (2000-2099). */
export function encodeTime(t: RtcDateTime): Buffer {
  if (t.year < 2000 || t.year > 2099) throw new RangeError(`the DS3231 keeps years 2000-2099, not ${t.year}`);
  return Buffer.from([
    toBcd(t.seconds),
    toBcd(t.minutes),
    toBcd(t.hours),
    t.weekday,
    toBcd(t.day),
    toBcd(t.month),
    toBcd(t.year - 2000),
  ]);
}

/** Decodes 0x00-0x06 (12 h or 24 h mode; century bit = 2100s). Undefined when a field is impossible. */
export function decodeTime(r: Buffer): RtcDateTime | undefined {
  const seconds = fromBcd(r[0]! & 0x7f),
    minutes = fromBcd(r[1]! & 0x7f);
  let hours: number;
  if (r[2]! & HOURS_12H) {
    const h12 = fromBcd(r[2]! & 0x1f);
    if (h12 < 1 || h12 > 12) return undefined;
    hours = (h12 % 12) + (r[2]! & HOURS_PM ? 12 : 0);
  } else {
    hours = fromBcd(r[2]! & 0x3f);
  }
  const weekday = r[3]! & 0x07;
  const day = fromBcd(r[4]! & 0x3f),
    month = fromBcd(r[5]! & 0x1f);
  const year = 2000 + fromBcd(r[6]!) + (r[5]! & MONTH_CENTURY ? 100 : 0);
  if (seconds > 59 || minutes > 59 || hours > 23 || month < 1 || month > 12 || day < 1) return undefined;
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCDate() !== day) return undefined;
  return { year, month, day, hours, minutes, seconds, weekday };
}

export function dateTimeFromUtcSec(utcSec: number): RtcDateTime {
  const d = new Date(utcSec * 1000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hours: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
    weekday: ((d.getUTCDay() + 6) % 7) + 1,
  };
}

export function utcSecFromDateTime(t: RtcDateTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hours, t.minutes, t.seconds) / 1000;
}

/** 12 h encoding of an hour (for tests and for chips a previous owner left in 12 h mode). */
export function encodeHours12(hours: number): number {
  const h12 = hours % 12 === 0 ? 12 : hours % 12;
  return HOURS_12H | (hours >= 12 ? HOURS_PM : 0) | toBcd(h12);
}

/** Temperature registers: MSB is a signed integer °C, the top two bits of LSB are quarters. */
export function decodeTemperature(msb: number, lsb: number): number {
  const raw = ((msb << 24) >> 24) * 4 + (lsb >> 6); // sign-extend, then count quarters
  return raw / 4;
}

export function encodeTemperature(celsius: number): [number, number] {
  const q = Math.round(celsius * 4); // 10-bit two's complement in quarters
  return [(q >> 2) & 0xff, (q & 0x03) << 6];
}

/** Aging offset: signed 8-bit; ≈ 0.1 ppm per LSB at 25 °C, positive = slower oscillator. */
export const AGING_PPM_PER_LSB = 0.1;
export const AGING_MIN_LSB = -128;
export const AGING_MAX_LSB = 127;
export const decodeAging = (b: number): number => (b << 24) >> 24;
export const encodeAging = (lsb: number): number => {
  if (!Number.isInteger(lsb) || lsb < AGING_MIN_LSB || lsb > AGING_MAX_LSB)
    throw new RangeError(`aging offset ${lsb}: expected an integer from ${AGING_MIN_LSB} to ${AGING_MAX_LSB}`);
  return lsb & 0xff;
};
