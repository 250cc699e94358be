import { open, type FileHandle } from 'node:fs/promises';
import type { MonotonicClock, TimerHandle } from '../../time/clock.js';
import { BYTES_PER_SAMPLE, type PcmFormat } from '../decoder.js';
import type { OutputSink } from './sink.js';

/**
 * A "device" that plays into a WAV file at the nominal rate, paced by the injected monotonic clock:
 * used when there is no audio device (the demo) or when asked, so the whole service path still runs
 * for real. It is an ideal DAC: period p is heard exactly at t0 + p·period, and the file's frame
 * `startFileFrame + k` is stream frame k. The header is rewritten once a second, so the file is a
 * valid WAV while it grows (a crash or a power cut loses at most that second's length, never the
 * audio); past 4 GiB it becomes RF64 (EBU Tech 3306: ffmpeg, sox and most editors read it). With
 * `append`, a file this process wrote before is continued, not re-created.
 */

export interface WavSinkOptions {
  path: string;
  format: PcmFormat;
  periodFrames: number;
  clock: MonotonicClock;
  /** Continue an existing WAV file of the same format (a later start of the same service process). */
  append?: boolean;
  /** Called once with the local monotonic instant of stream frame 0 and its frame in the file. */
  onFirstFrame?: (monoNs: bigint, fileFrame: number) => void;
  /** A write failed (disk full, file removed): said once; the stream keeps running, unrecorded. */
  onError?: (message: string) => void;
}

/** Pacing tick: 10 ms keeps the file within a few periods of real time at negligible cost. */
const TICK_MS = 10;
/** The header's sizes are rewritten this often. */
const HEADER_EVERY_MS = 1_000;
/** RIFF/fmt/JUNK/data headers: the JUNK chunk reserves room for RF64's ds64 chunk. */
export const WAV_HEADER_BYTES = 80;
const JUNK_BYTES = 28;
const RIFF_MAX = 0xffffffff;

/** A WAV header for `dataBytes` of PCM: RIFF while it fits, RF64 beyond 4 GiB. */
export function wavHeader(format: PcmFormat, dataBytes: number): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  const blockAlign = format.channels * BYTES_PER_SAMPLE;
  const riffBytes = WAV_HEADER_BYTES - 8 + dataBytes;
  const big = riffBytes > RIFF_MAX;
  h.write(big ? 'RF64' : 'RIFF', 0);
  h.writeUInt32LE(big ? RIFF_MAX : riffBytes, 4);
  h.write('WAVE', 8);
  h.write(big ? 'ds64' : 'JUNK', 12);
  h.writeUInt32LE(JUNK_BYTES, 16);
  if (big) {
    h.writeBigUInt64LE(BigInt(riffBytes), 20);
    h.writeBigUInt64LE(BigInt(dataBytes), 28);
    h.writeBigUInt64LE(BigInt(dataBytes / blockAlign), 36);
    h.writeUInt32LE(0, 44);
  }
  h.write('fmt ', 48);
  h.writeUInt32LE(16, 52);
  h.writeUInt16LE(1, 56);
  h.writeUInt16LE(format.channels, 58);
  h.writeUInt32LE(format.sampleRate, 60);
  h.writeUInt32LE(format.sampleRate * blockAlign, 64);
  h.writeUInt16LE(blockAlign, 68);
  h.writeUInt16LE(8 * BYTES_PER_SAMPLE, 70);
  h.write('data', 72);
  h.writeUInt32LE(big ? RIFF_MAX : dataBytes, 76);
  return h;
}

/** The PCM bytes of a file this sink wrote, when its header matches the format (for append). */
function existingData(h: Buffer, fileBytes: number, format: PcmFormat): number | undefined {
  if (
    h.length < WAV_HEADER_BYTES ||
    !/^(RIFF|RF64)$/.test(h.toString('ascii', 0, 4)) ||
    h.toString('ascii', 72, 76) !== 'data'
  )
    return undefined;
  if (h.readUInt16LE(58) !== format.channels || h.readUInt32LE(60) !== format.sampleRate) return undefined;
  const blockAlign = format.channels * BYTES_PER_SAMPLE;
  // The file's length, not the header, is the truth after a crash between two header updates.
  return Math.floor((fileBytes - WAV_HEADER_BYTES) / blockAlign) * blockAlign;
}

export class WavFileSink implements OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  readonly underrunPeriods = 0;
  readonly description: string;
  private file?: FileHandle;
  private t0Ns = 0n;
  private next = 0;
  private timer?: TimerHandle;
  private fill?: (p: number) => Buffer;
  private dataBytes = 0;
  private headerAtNs = 0n;
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

  private get blockAlign(): number {
    return this.format.channels * BYTES_PER_SAMPLE;
  }

  async start(fill: (p: number) => Buffer): Promise<void> {
    this.fill = fill;
    try {
      this.file = await this.openFile();
    } catch (e) {
      throw new Error(
        `cannot write the output WAV file ${this.opts.path}: ${(e as Error).message}. Give --wav FILE, or set audio.wav_path, to a place this user can write.`,
      );
    }
    await this.file.write(wavHeader(this.format, this.dataBytes), 0, WAV_HEADER_BYTES, 0);
    this.t0Ns = this.headerAtNs = this.opts.clock.nowNs();
    this.opts.onFirstFrame?.(this.t0Ns, this.dataBytes / this.blockAlign);
    this.schedule();
  }

  private async openFile(): Promise<FileHandle> {
    if (this.opts.append) {
      const f = await open(this.opts.path, 'r+').catch(() => undefined);
      if (f) {
        const h = Buffer.alloc(WAV_HEADER_BYTES);
        await f.read(h, 0, WAV_HEADER_BYTES, 0);
        const bytes = existingData(h, (await f.stat()).size, this.format);
        if (bytes !== undefined) {
          this.dataBytes = bytes;
          return f;
        }
        await f.close();
      }
    }
    return open(this.opts.path, 'w');
  }

  private schedule(): void {
    this.timer = this.opts.clock.setTimer(TICK_MS * 1e6, () => {
      this.tick();
      this.schedule();
    });
  }

  private tick(): void {
    // Play every period whose instant has come; write them in one go.
    const now = this.opts.clock.nowNs();
    const due = Math.floor(Number(now - this.t0Ns) / this.periodNs) + 1;
    const chunks: Buffer[] = [];
    while (this.next < due) chunks.push(this.fill!(this.next++));
    if (chunks.length === 0 || !this.file || this.failed) return;
    const data = Buffer.concat(chunks);
    const pos = WAV_HEADER_BYTES + this.dataBytes;
    this.dataBytes += data.length;
    const header =
      now - this.headerAtNs >= BigInt(HEADER_EVERY_MS * 1e6) ? wavHeader(this.format, this.dataBytes) : undefined;
    if (header) this.headerAtNs = now;
    const file = this.file;
    this.pending = this.pending
      .then(async () => {
        await file.write(data, 0, data.length, pos);
        if (header) await file.write(header, 0, WAV_HEADER_BYTES, 0);
      })
      .catch((e: Error) => {
        if (this.failed) return;
        this.failed = true;
        this.opts.onError?.(
          `writing ${this.opts.path} failed (${e.message}); the rest of the output is not recorded (what was written stays a valid WAV file)`,
        );
      });
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    return this.t0Ns + BigInt(Math.round(streamPeriod * this.periodNs));
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await this.pending;
    await file.write(wavHeader(this.format, this.dataBytes), 0, WAV_HEADER_BYTES, 0).catch(() => {});
    await file.close();
  }
}
