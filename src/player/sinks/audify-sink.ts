import audify from 'audify';
import type { PcmFormat } from '../decoder.js';
import { NoAudioDeviceError, type OutputSink } from './sink.js';
import { probeAlsaOutputs } from './alsa-probe.js';

/**
 * ALSA through audify (RtAudio). audify keeps a queue of written periods and pops one per device
 * period, calling back into JS (late, never early) each time it pops one; when the queue is empty
 * it plays silence and calls nothing, and `streamTime` keeps counting periods. So:
 *  - we keep `queuePeriods` written ahead, refilling one per callback;
 *  - stream periods consumed minus callbacks = periods of silence the device inserted (underruns);
 *  - the pop instant of period p is the lower envelope of (callback time - p·period): callbacks
 *    come late by event-loop delay, never early, so the minimum is the truth plus a small constant.
 * First version: nominal DAC rate (the aligner issue learns the true rate and resamples).
 */

const RTAUDIO_API_LINUX_ALSA = 2; // RtAudioApi.LINUX_ALSA (a const enum, unusable under isolatedModules)
type RtAudio = InstanceType<typeof audify.RtAudio>;
const RTAUDIO_FORMAT_SINT16 = 0x2 as Parameters<RtAudio['openStream']>[2];
const RTAUDIO_NO_FLAGS = 0 as Parameters<RtAudio['openStream']>[8];
/** Envelope window in periods: ~10 s at 1024 frames, short enough to follow a DAC drifting 100 ppm. */
const ENVELOPE_WINDOW = 500;

export interface AudifySinkOptions {
  format: PcmFormat;
  periodFrames: number;
  /** Periods written ahead of the device: margin against event-loop stalls. */
  queuePeriods: number;
  /** Output device name as RtAudio lists it; "default" = the system default. */
  deviceName: string;
  /** Injected local monotonic clock. */
  nowNs: () => bigint;
  /** Latency after the period is popped, beyond RtAudio's own buffer (ns): device / server delay. */
  extraLatencyNs?: number;
}

export class AudifySink implements OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  description = '';
  private rt?: RtAudio;
  private fill?: (p: number) => Buffer;
  private written = 0;
  private callbacks = 0;
  private underruns = 0;
  private envelope: number[] = []; // callback time - p·period, ns, relative to baseNs
  private baseNs = 0n;
  private latencyNs = 0;
  private stopped = false;

  constructor(private readonly opts: AudifySinkOptions) {
    this.format = opts.format;
    this.periodFrames = opts.periodFrames;
  }

  get underrunPeriods(): number {
    return this.underruns;
  }

  private get periodNs(): number {
    return (this.periodFrames * 1e9) / this.format.sampleRate;
  }

  async start(fill: (p: number) => Buffer): Promise<void> {
    this.fill = fill;
    // Ask a child first: with no device at all, libasound's complaints stay out of our output.
    if ((await probeAlsaOutputs()).length === 0) throw new NoAudioDeviceError('no ALSA output device found');
    let rt: RtAudio;
    try {
      rt = new audify.RtAudio(RTAUDIO_API_LINUX_ALSA);
    } catch (e) {
      throw new NoAudioDeviceError(`ALSA is not usable: ${(e as Error).message}`);
    }
    const devices = rt.getDevices().filter((d) => d.outputChannels > 0);
    if (devices.length === 0) throw new NoAudioDeviceError('no ALSA output device found');
    const dev = this.opts.deviceName === 'default'
      ? devices.find((d) => d.id === rt.getDefaultOutputDevice()) ?? devices[0]!
      : devices.find((d) => d.name === this.opts.deviceName);
    if (!dev) {
      throw new NoAudioDeviceError(`ALSA output device "${this.opts.deviceName}" not found; there are: ${devices.map((d) => `"${d.name}"`).join(', ')}`);
    }
    this.description = `ALSA "${dev.name}"`;
    try {
      rt.openStream(
        { deviceId: dev.id, nChannels: this.format.channels, firstChannel: 0 },
        null, RTAUDIO_FORMAT_SINT16, this.format.sampleRate, this.periodFrames, 'jaudiosync',
        null, () => this.onPeriodTaken(), RTAUDIO_NO_FLAGS,
        (_type, msg) => { if (!this.stopped) process.emitWarning(`audio device: ${msg}`); },
      );
    } catch (e) {
      throw new NoAudioDeviceError(`cannot open ${this.description}: ${(e as Error).message}`);
    }
    this.rt = rt;
    this.baseNs = this.opts.nowNs();
    for (let i = 0; i < this.opts.queuePeriods; i++) this.writeNext();
    rt.start();
    this.latencyNs = (rt.getStreamLatency() * 1e9) / this.format.sampleRate + (this.opts.extraLatencyNs ?? 0);
  }

  private writeNext(): void {
    // Period number in device order: everything written so far plus the silence the device inserted.
    const p = this.written + this.underruns;
    this.rt!.write(this.fill!(p));
    this.written++;
  }

  private onPeriodTaken(): void {
    if (this.stopped || !this.rt) return;
    const nowNs = this.opts.nowNs();
    this.callbacks++;
    const consumed = Math.round((this.rt.streamTime * this.format.sampleRate) / this.periodFrames);
    // Silence periods appear as consumed periods without a callback.
    const inserted = Math.max(0, consumed - this.callbacks - this.underruns);
    if (inserted > 0 && this.callbacks > this.opts.queuePeriods) this.underruns += inserted;
    // The period just popped is number callbacks-1 (+ silence before it).
    const p = this.callbacks - 1 + this.underruns;
    this.envelope.push(Number(nowNs - this.baseNs) - p * this.periodNs);
    if (this.envelope.length > ENVELOPE_WINDOW) this.envelope.shift();
    this.writeNext();
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    // The start-up burst (the device buffer filling) pops several periods at once: wait for cadence.
    if (this.envelope.length < 2 * this.opts.queuePeriods) return undefined;
    const popOffsetNs = Math.min(...this.envelope.slice(this.opts.queuePeriods));
    return this.baseNs + BigInt(Math.round(popOffsetNs + streamPeriod * this.periodNs + this.latencyNs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const rt = this.rt;
    this.rt = undefined;
    if (!rt) return;
    // audify (1.10) never releases the frame callback's thread-safe function, so the process stays
    // alive after this: the CLI exits explicitly.
    rt.setFrameOutputCallback(null);
    try { rt.stop(); } catch { /* already stopped */ }
    try { rt.closeStream(); } catch { /* already closed */ }
  }
}
