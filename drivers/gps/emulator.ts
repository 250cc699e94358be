/**
 * Twin of a GPS receiver's NMEA output: for each second it labels, the sentences a receiver sends
 * (RMC, GGA, ZDA with the chosen talker), with real checksums, written at the receiver's latency
 * after the PPS edge and at the serial line's pace (9600 baud ≈ 1.04 ms per character).
 */

export interface NmeaEmulatorOptions {
  talker?: string;
  sentences?: Array<'RMC' | 'GGA' | 'ZDA' | 'GSA'>;
  /** Delay of the first sentence after the edge it labels (ms): receiver-specific, 100-500. */
  latencyMs?: number;
  baudRate?: number;
  /** Receiver without a fix: RMC status V, GGA quality 0. */
  noFix?: boolean;
  /** Receiver with the week-rollover bug: dates 1024 weeks in the past. */
  rolloverBug?: boolean;
  satellites?: number;
}

export interface TimedSentence {
  /** Offset after the labelled edge at which the sentence's last byte is on the wire (ns). */
  atNs: number;
  text: string;
}

const ROLLOVER_MS = 1024 * 7 * 86_400_000;

export function nmeaChecksum(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum.toString(16).toUpperCase().padStart(2, '0');
}

export function sentence(body: string): string {
  return `$${body}*${nmeaChecksum(body)}\r\n`;
}

const p2 = (n: number) => String(n).padStart(2, '0');

/**
 * Line noise as a serial line makes it: one byte flipped (the checksum then fails) or a burst of
 * binary (a receiver switching protocols). `rnd` decides; the result is what goes on the wire.
 */
export function withLineNoise(text: string, rnd: () => number): string {
  if (rnd() < 0.5) {
    const i = 1 + Math.floor(rnd() * (text.length - 6));
    // Never the same character again: a hit must break the sentence, or a test counting hits lies.
    const code = 33 + ((((text.charCodeAt(i) - 33 + 1 + Math.floor(rnd() * 89)) % 90) + 90) % 90);
    return text.slice(0, i) + String.fromCharCode(code) + text.slice(i + 1);
  }
  const junk = Array.from({ length: 8 + Math.floor(rnd() * 24) }, () =>
    String.fromCharCode(Math.floor(rnd() * 256)),
  ).join('');
  return junk + text;
}

/** The sentences a receiver sends for the second starting at utcSec (whole seconds since 1970). */
export function sentencesForSecond(utcSec: number, opts: NmeaEmulatorOptions = {}): TimedSentence[] {
  const talker = opts.talker ?? 'GP';
  const d = new Date(utcSec * 1000 - (opts.rolloverBug ? ROLLOVER_MS : 0));
  const hms = `${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}.00`;
  const dmy = `${p2(d.getUTCDate())}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCFullYear() % 100)}`;
  const fix = !opts.noFix;
  const sats = fix ? (opts.satellites ?? 9) : 0;
  const bodies: Record<string, string> = {
    RMC: `${talker}RMC,${hms},${fix ? 'A' : 'V'},5230.1234,N,01324.5678,E,0.0,0.0,${dmy},,,${fix ? 'A' : 'N'}`,
    GGA: `${talker}GGA,${hms},5230.1234,N,01324.5678,E,${fix ? 1 : 0},${p2(sats)},0.9,34.0,M,44.0,M,,`,
    ZDA: `${talker}ZDA,${hms},${p2(d.getUTCDate())},${p2(d.getUTCMonth() + 1)},${d.getUTCFullYear()},00,00`,
    GSA: `${talker}GSA,A,${fix ? 3 : 1},${fix ? '05,12,15,18,20,24,25,29,31' : ',,,,,,,,'},,,,1.8,0.9,1.5`,
  };
  const nsPerChar = (10 * 1e9) / (opts.baudRate ?? 9600); // 8N1: ten bits a character
  let atNs = (opts.latencyMs ?? 150) * 1e6;
  return (opts.sentences ?? ['RMC', 'GGA']).map((s) => {
    const text = sentence(bodies[s]!);
    atNs += text.length * nsPerChar;
    return { atNs: Math.round(atNs), text };
  });
}
