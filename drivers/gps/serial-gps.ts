import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';
import { FixGate, parseNmeaLine, type NmeaOptions } from './nmea.js';
import type { GpsCounters, GpsSink } from './types.js';

/**
 * NMEA GPS on a serial port. Every line is stamped with the local monotonic time at which the
 * chunk holding its end arrived; the port is reopened with backoff when it goes away (a USB GPS
 * unplugged on a bumpy ride), and that is said once, not once per retry.
 */

export interface SerialGpsOptions extends NmeaOptions {
  path: string;
  baudRate: number;
  /** Injected local monotonic clock (ns). */
  nowNs: () => bigint;
}

/** Reopen delays grow from 0.5 s to this cap: a replugged GPS is found within seconds. */
const MAX_REOPEN_DELAY_MS = 8_000;
const FIRST_REOPEN_DELAY_MS = 500;

export class SerialGps {
  readonly counters: GpsCounters = { sentences: 0, badChecksum: 0, garbage: 0, unsupported: 0 };
  private port?: SerialPort;
  private chunkMonoNs = 0n;
  private reopenDelayMs = FIRST_REOPEN_DELAY_MS;
  private reopenTimer?: NodeJS.Timeout;
  private closed = false;
  private lost = false;
  private readonly gate = new FixGate();

  constructor(private readonly opts: SerialGpsOptions, private readonly sink: GpsSink) {}

  /** Opens the port; resolves once it is open (or rejects with a message naming the port). */
  async open(): Promise<void> {
    await this.tryOpen();
  }

  private tryOpen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate, autoOpen: false });
      port.open((err) => {
        if (err) {
          reject(new Error(`GPS serial port ${this.opts.path}: ${err.message}. Is the GPS plugged in, the UART enabled (enable_uart=1) and the serial console off?`));
          return;
        }
        this.attach(port);
        resolve();
      });
    });
  }

  private attach(port: SerialPort): void {
    this.port = port;
    this.reopenDelayMs = FIRST_REOPEN_DELAY_MS;
    if (this.lost) {
      this.lost = false;
      this.sink.onStatus?.(`GPS serial port ${this.opts.path} is back`);
    }
    const parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
    port.on('data', () => { this.chunkMonoNs = this.opts.nowNs(); });
    port.pipe(parser);
    parser.on('data', (line: string) => this.onLine(line));
    port.on('close', () => this.onLost('closed'));
    port.on('error', (e: Error) => this.onLost(e.message));
  }

  private onLine(line: string): void {
    const r = this.gate.pass(parseNmeaLine(line, this.chunkMonoNs, this.opts));
    switch (r.kind) {
      case 'garbage': this.counters.garbage++; return;
      case 'bad-checksum': this.counters.badChecksum++; return;
      case 'other': this.counters.sentences++; this.counters.unsupported++; return;
      case 'context': this.counters.sentences++; this.sink.onContext?.(r.context); return;
      case 'fix': this.counters.sentences++; this.sink.onFix(r.fix); return;
    }
  }

  private onLost(why: string): void {
    if (this.closed || this.reopenTimer) return;
    this.port?.removeAllListeners();
    this.port = undefined;
    if (!this.lost) {
      this.lost = true;
      this.sink.onStatus?.(`GPS serial port ${this.opts.path} lost (${why}); retrying in the background`);
    }
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.closed) return;
      this.tryOpen().catch(() => {
        this.reopenDelayMs = Math.min(MAX_REOPEN_DELAY_MS, this.reopenDelayMs * 2);
        this.scheduleReopen();
      });
    }, this.reopenDelayMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
