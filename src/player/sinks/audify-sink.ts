import audify from 'audify';
import { rtaudioDeviceName } from '../../../drivers/platform/pi.js';
import type { PcmFormat } from '../decoder.js';
import { NoAudioDeviceError, type OutputSink } from './sink.js';
import { probeAlsaOutputs } from './alsa-probe.js';
import { DacClock } from '../dac-clock.js';

/**
 * ALSA through audify (RtAudio). audify keeps a queue of written periods and pops one per device
 * period, calling back into JS (late, never early) each time it pops one; when the queue is empty
 * it plays silence and calls nothing, and `streamTime` keeps counting periods. So:
 *  - we keep `queuePeriods` written ahead, refilling one per callback;
 *  - stream periods consumed minus callbacks = periods of silence the device inserted (underruns)
 *    plus callbacks not delivered yet (a late event loop): the minimum over recent callbacks
 *    separates the two, since late callbacks catch up and silence does not;
 *  - the pop instant of period p, and the DAC's true rate, come from the lower envelope of the
 *    callback times (DacClock): callbacks come late by event-loop delay, never early.
 */

const RTAUDIO_API_LINUX_ALSA = 2; // RtAudioApi.LINUX_ALSA (a const enum, unusable under isolatedModules)
type RtAudio = InstanceType<typeof audify.RtAudio>;
/** Callbacks over which a consumed-minus-callbacks gap must persist to count as silence (~0.7 s). */
const UNDERRUN_WINDOW = 32;
const RTAUDIO_FORMAT_SINT16 = 0x2 as Parameters<RtAudio['openStream']>[2];
const RTAUDIO_NO_FLAGS = 0 as Parameters<RtAudio['openStream']>[8];

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
  /** The device's rate as the last run measured it (ppm): see DacClock. */
  dacPriorPpm?: number;
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
  private gaps: number[] = [];
  private dac: DacClock;
  private bufferFrames = 0;
  private stopped = false;

  constructor(private readonly opts: AudifySinkOptions) {
    this.format = opts.format;
    this.periodFrames = opts.periodFrames;
    this.dac = new DacClock(opts.periodFrames, opts.format.sampleRate, opts.dacPriorPpm);
  }

  get underrunPeriods(): number {
    return this.underruns;
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
      : devices.find((d) => d.name === rtaudioDeviceName(this.opts.deviceName)); // hw:CARD=… names too
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
    for (let i = 0; i < this.opts.queuePeriods; i++) this.writeNext();
    rt.start();
    this.bufferFrames = rt.getStreamLatency();
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
    // Consumed periods without a callback: silence the device inserted, or callbacks still on their
    // way (read late, streamTime is ahead). Only a gap that persists across UNDERRUN_WINDOW
    // callbacks is silence: counting a late callback as an underrun would shift us a whole period.
    if (this.callbacks > this.opts.queuePeriods) {
      this.gaps.push(consumed - this.callbacks);
      if (this.gaps.length > UNDERRUN_WINDOW) this.gaps.shift();
      const persistent = this.gaps.length === UNDERRUN_WINDOW ? Math.min(...this.gaps) : 0;
      if (persistent > this.underruns) this.underruns = persistent;
    }
    // The period just popped is number callbacks-1 (+ silence before it). The start-up burst (the
    // device buffer filling at once) says nothing about the cadence: skip it.
    const p = this.callbacks - 1 + this.underruns;
    if (this.callbacks > this.opts.queuePeriods) this.dac.observe(p, nowNs);
    this.writeNext();
  }

  dacRatePpm(): number | undefined {
    return this.dac.measuredPpm();
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    // Heard once the device buffer ahead of it has played: counted in the DAC's own periods (a
    // 100 ppm DAC makes a nominal conversion of its buffer wrong by µs), then the fixed extra latency.
    // RtAudio reports its ALSA buffer only once the stream runs (0 before): take the first real value
    // and keep it, since per-callback delay readings jump on some drivers (snapcast #399).
    if (this.bufferFrames === 0 && this.rt) this.bufferFrames = this.rt.getStreamLatency();
    if (this.bufferFrames === 0) return undefined;
    const pop = this.dac.popMonoNs(streamPeriod + this.bufferFrames / this.periodFrames);
    return pop === undefined ? undefined : pop + BigInt(Math.round(this.opts.extraLatencyNs ?? 0));
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
