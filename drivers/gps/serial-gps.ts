import { SerialPort, type SerialPortMock } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';
import { FixGate, SkyView, parseNmeaLine, type NmeaOptions } from './nmea.js';
import type { GpsCounters, GpsSink } from './types.js';

/**
 * NMEA GPS on a serial port. Every line is stamped with the local monotonic time at which the
 * chunk holding its end arrived; the port is reopened with backoff when it goes away (a USB GPS
 * unplugged on a bumpy ride), and that is said once, not once per retry.
 */

/**
 * How serialport reaches the port: its own binding for the real UART or USB (the default), or its
 * MockBinding (or a wrapper of it), so that serialport's full fake can drive this driver in tests.
 */
export type SerialBinding = typeof SerialPort.binding | typeof SerialPortMock.binding;

export interface SerialGpsOptions extends NmeaOptions {
  path: string;
  baudRate: number;
  /** Injected local monotonic clock (ns). */
  nowNs: () => bigint;
  /** Default: serialport's binding for this platform. */
  binding?: SerialBinding;
}

/** Reopen delays grow from 0.5 s to this cap: a replugged GPS is found within seconds. */
const MAX_REOPEN_DELAY_MS = 8_000;
const FIRST_REOPEN_DELAY_MS = 500;
/**
 * An open port with no byte for this long is reopened: NMEA comes every second, fix or not; long enough that a receiver
 * restarting itself is not interrupted.
 */
export const SILENT_REOPEN_MS = 10_000;

export class SerialGps {
  readonly counters: GpsCounters = { sentences: 0, badChecksum: 0, garbage: 0, unsupported: 0 };
  private port?: SerialPort;
  private chunkMonoNs = 0n;
  private reopenDelayMs = FIRST_REOPEN_DELAY_MS;
  private reopenTimer?: NodeJS.Timeout;
  private silenceTimer?: NodeJS.Timeout;
  private lastDataNs = 0n;
  private closed = false;
  private lost = false;
  private readonly gate = new FixGate();
  /** Fix mode, satellites and DOP from GSA/GSV/GGA, handed up through sink.onSky. */
  readonly sky = new SkyView();

  constructor(
    private readonly opts: SerialGpsOptions,
    private readonly sink: GpsSink,
  ) {}

  /** Opens the port; resolves once it is open (or rejects with a message naming the port). */
  async open(): Promise<void> {
    await this.tryOpen();
  }

  private tryOpen(): Promise<void> {
    return new Promise((resolve, reject) => {
      // SerialPort takes a binding in place of its own (its options type just does not say so).
      const options = {
        path: this.opts.path,
        baudRate: this.opts.baudRate,
        autoOpen: false,
        ...(this.opts.binding ? { binding: this.opts.binding } : {}),
      };
      const port = new SerialPort(options as ConstructorParameters<typeof SerialPort>[0]);
      port.open((err) => {
        if (err) {
          reject(
            new Error(
              `GPS serial port ${this.opts.path}: ${err.message}. Is the GPS plugged in, the UART enabled (enable_uart=1) and the serial console off?`,
            ),
          );
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
    this.lastDataNs = this.opts.nowNs();
    this.watchSilence();
    const parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
    port.on('data', () => {
      this.chunkMonoNs = this.lastDataNs = this.opts.nowNs();
      // "Back" only once it talks again: a port can open onto a device that is not there yet.
      if (this.lost) {
        this.lost = false;
        this.sink.onStatus?.(`GPS serial port ${this.opts.path} is back`);
      }
    });
    port.pipe(parser);
    parser.on('data', (line: string) => this.onLine(line));
    port.on('close', () => this.onLost('closed'));
    port.on('error', (e: Error) => this.onLost(e.message));
  }

  private onLine(line: string): void {
    const r = this.gate.pass(parseNmeaLine(line, this.chunkMonoNs, this.opts));
    const sky = this.sky.pass(r);
    if (sky) this.sink.onSky?.(sky);
    switch (r.kind) {
      case 'garbage':
        this.counters.garbage++;
        return;
      case 'bad-checksum':
        this.counters.badChecksum++;
        return;
      case 'other':
        this.counters.sentences++;
        this.counters.unsupported++;
        return;
      case 'context':
        this.counters.sentences++;
        this.sink.onContext?.(r.context);
        return;
      case 'fix':
        this.counters.sentences++;
        this.sink.onFix(r.fix);
        return;
    }
  }

  /**
   * A receiver talks every second; an open port silent for SILENT_REOPEN_MS is a half-gone device
   * (a USB GPS replugged under the same name, a wedged UART): close it and reopen.
   */
  private watchSilence(): void {
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    this.silenceTimer = setInterval(() => {
      if (!this.port || this.closed) return;
      if (Number(this.opts.nowNs() - this.lastDataNs) / 1e6 < SILENT_REOPEN_MS) return;
      const port = this.port;
      this.onLost(`silent for ${SILENT_REOPEN_MS / 1000} s`);
      port.close(() => {});
    }, SILENT_REOPEN_MS / 2);
    this.silenceTimer.unref();
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
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
