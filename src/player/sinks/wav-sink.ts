import { open, type FileHandle } from 'node:fs/promises';
import { BYTES_PER_SAMPLE, type PcmFormat } from '../decoder.js';
import type { OutputSink } from './sink.js';

/**
 * A "device" that plays into a WAV file at the nominal rate, paced by the injected monotonic clock:
 * used when there is no audio device, so the whole service path still runs for real. It is an
 * ideal DAC: period p is heard exactly at t0 + p·period, and the file's frame k is stream frame k.
 */

export interface WavSinkOptions {
  path: string;
  format: PcmFormat;
  periodFrames: number;
  nowNs: () => bigint;
  /** Called once with the local monotonic instant of stream frame 0 (for a sidecar or a test). */
  onFirstFrame?: (monoNs: bigint) => void;
  /** A write failed (disk full, file removed): said once; the stream keeps running, unrecorded. */
  onError?: (message: string) => void;
}

/** Pacing tick: 10 ms keeps the file within a few periods of real time at negligible cost. */
const TICK_MS = 10;

export function wavHeader(format: PcmFormat, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  const blockAlign = format.channels * BYTES_PER_SAMPLE;
  h.write('RIFF', 0); h.writeUInt32LE(36 + dataBytes, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(format.channels, 22);
  h.writeUInt32LE(format.sampleRate, 24); h.writeUInt32LE(format.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32); h.writeUInt16LE(8 * BYTES_PER_SAMPLE, 34);
  h.write('data', 36); h.writeUInt32LE(dataBytes, 40);
  return h;
}

export class WavFileSink implements OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  readonly underrunPeriods = 0;
  readonly description: string;
  private file?: FileHandle;
  private t0Ns = 0n;
  private next = 0;
  private timer?: NodeJS.Timeout;
  private fill?: (p: number) => Buffer;
  private dataBytes = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private failed = false;

  constructor(private readonly opts: WavSinkOptions) {
    this.format = opts.format;
    this.periodFrames = opts.periodFrames;
    this.description = `WAV file ${opts.path}`;
  }

  private get periodNs(): number {
    return (this.periodFrames * 1e9) / this.format.sampleRate;
  }

  async start(fill: (p: number) => Buffer): Promise<void> {
    this.fill = fill;
    try {
      this.file = await open(this.opts.path, 'w');
    } catch (e) {
      throw new Error(`cannot write the output WAV file ${this.opts.path}: ${(e as Error).message}. Set audio.wav_path to a writable place.`);
    }
    await this.file.write(wavHeader(this.format, 0), 0, 44, 0);
    this.t0Ns = this.opts.nowNs();
    this.opts.onFirstFrame?.(this.t0Ns);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    // Play every period whose instant has come; write them in one go.
    const due = Math.floor(Number(this.opts.nowNs() - this.t0Ns) / this.periodNs) + 1;
    const chunks: Buffer[] = [];
    while (this.next < due) chunks.push(this.fill!(this.next++));
    if (chunks.length === 0 || !this.file || this.failed) return;
    const data = Buffer.concat(chunks);
    const pos = 44 + this.dataBytes;
    this.dataBytes += data.length;
    const file = this.file;
    this.pending = this.pending.then(() => file.write(data, 0, data.length, pos)).catch((e: Error) => {
      if (this.failed) return;
      this.failed = true;
      this.opts.onError?.(`writing ${this.opts.path} failed (${e.message}); the rest of the output is not recorded`);
    });
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    return this.t0Ns + BigInt(Math.round(streamPeriod * this.periodNs));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await this.pending;
    await file.write(wavHeader(this.format, this.dataBytes), 0, 44, 0);
    await file.close();
  }
}
