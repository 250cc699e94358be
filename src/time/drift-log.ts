import { appendFile, rename, stat, unlink } from 'node:fs/promises';

/**
 * The drift log: append-only JSON Lines, rotated by size (path, path.1 ... path.N), written in
 * batches. Its format is the input of calibrate/ and is documented in docs/drift-log.md: keep it
 * stable (add fields, never rename them; bump "v" if a meaning changes).
 */

export const DRIFT_LOG_VERSION = 1;

export type DriftRecord =
  | { kind: 'sample'; source: string; monoNs: bigint; utcNs: bigint; errorNs: number }
  | {
      kind: 'servo';
      monoNs: bigint;
      utcNs: bigint;
      state: string;
      source: string;
      freqPpm: number;
      errorBoundNs: number;
      systemMinusUtcNs?: number;
      cpuTempC?: number;
      rtcTempC?: number;
    }
  | {
      kind: 'rtc';
      monoNs: bigint;
      utcNs: bigint;
      rtcMinusUtcNs: number;
      edgeOffsetNs?: number;
      rtcRatePpm?: number;
      rtcTempC?: number;
    }
  | { kind: 'event'; monoNs: bigint; utcNs?: bigint; message: string }
  | HeaderRecord;

/**
 * Says what made the records after it (first in every file, and again whenever the writer starts):
 * which sources were real hardware and which were twins. `calibrate apply` never trims a real
 * DS3231 from a recording whose reference or RTC was simulated.
 */
export interface HeaderRecord {
  kind: 'header';
  monoNs?: bigint;
  program: 'jaudiosync';
  /** Per source: true = a simulated twin, false = real hardware; absent = not used. */
  simulated: { gps?: boolean; pps?: boolean; rtc?: boolean; ntp?: boolean };
  /** The sources in words (the timing chain's description). */
  describe?: string;
}

export interface DriftLogOptions {
  path: string;
  /** Rotate when the file would pass this size; 20 MB holds about a day of 1 Hz records. */
  maxBytes?: number;
  /** Rotated files kept besides the current one. */
  keep?: number;
  /** Flush at least this often (ms). */
  flushMs?: number;
  onError?: (message: string) => void;
  /** Written first in every file this writer starts or rotates to (HeaderRecord). */
  header?: HeaderRecord;
}

const DEFAULT_MAX_BYTES = 20_000_000;
const DEFAULT_KEEP = 5;
const DEFAULT_FLUSH_MS = 5_000;

/** One record as its JSON line: bigints as decimal strings (JSON numbers cannot hold ns since 1970). */
export function formatRecord(r: DriftRecord): string {
  return JSON.stringify({ v: DRIFT_LOG_VERSION, ...r }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
}

export class DriftLog {
  private pending: string[] = [];
  private size?: number;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private failed = false;
  /** The header goes before the next batch: at start and after each rotation. */
  private headerDue: boolean;

  constructor(private readonly o: DriftLogOptions) {
    this.headerDue = o.header !== undefined;
    this.timer = setInterval(() => void this.flush(), o.flushMs ?? DEFAULT_FLUSH_MS);
    this.timer.unref();
  }

  add(r: DriftRecord): void {
    this.pending.push(formatRecord(r));
  }

  /** Writes what is pending (serialised: one flush at a time). */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0) return;
    let text = this.pending.join('');
    this.pending = [];
    try {
      if (this.size === undefined)
        this.size = await stat(this.o.path).then(
          (s) => s.size,
          () => 0,
        );
      if (this.size > 0 && this.size + text.length > (this.o.maxBytes ?? DEFAULT_MAX_BYTES)) await this.rotate();
      if (this.headerDue && this.o.header) text = formatRecord(this.o.header) + text;
      await appendFile(this.o.path, text);
      this.headerDue = false;
      this.size += Buffer.byteLength(text);
      if (this.failed) {
        this.failed = false;
        this.o.onError?.(`drift log ${this.o.path} is writable again`);
      }
    } catch (e) {
      // A full disk or a read-only file system: say it once, keep the service running, drop the batch.
      if (!this.failed)
        this.o.onError?.(`drift log ${this.o.path}: ${(e as Error).message}; records are dropped until it is writable`);
      this.failed = true;
    }
  }

  private async rotate(): Promise<void> {
    const keep = this.o.keep ?? DEFAULT_KEEP;
    await unlink(`${this.o.path}.${keep}`).catch(() => {});
    for (let i = keep - 1; i >= 1; i--) await rename(`${this.o.path}.${i}`, `${this.o.path}.${i + 1}`).catch(() => {});
    await rename(this.o.path, `${this.o.path}.1`);
    this.size = 0;
    this.headerDue = this.o.header !== undefined;
  }
}

/** CPU temperature from the kernel's thermal zone (°C), or undefined where there is none. */
export async function readCpuTempC(path = '/sys/class/thermal/thermal_zone0/temp'): Promise<number | undefined> {
  try {
    const { readFile } = await import('node:fs/promises');
    const milli = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(milli) ? milli / 1000 : undefined;
  } catch {
    return undefined;
  }
}
