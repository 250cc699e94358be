import { readFile, writeFile } from 'node:fs/promises';
import { AudifySink } from '../player/sinks/audify-sink.js';
import { NoAudioDeviceError, type OutputSink } from '../player/sinks/sink.js';
import { WavFileSink } from '../player/sinks/wav-sink.js';
import { hrtimeClock } from '../time/clock.js';
import type { RealtimeConverter } from '../time/realtime-converter.js';
import type { Timescale } from '../time/timescale.js';
import { EMBEDDED_CONFIG_NAME, resolvePath, type Config } from './config.js';
import type { Logger } from './log.js';
import type { DacRate } from '../player/dac-clock.js';

/**
 * The audio output a start plays to. ALSA (through audify) on the configured device; a WAV file
 * when asked (audio.output = "wav", --output wav) or, in a demo (the embedded default config, or
 * simulated timing hardware) on a machine without any audio device. A named device that is missing or busy is an
 * error naming it and
 * listing the ones there are: the service tries again, instead of silently writing a file for the
 * whole ride. The WAV file gets a sidecar (FILE.json) saying where its frames sit in time.
 */

export interface OutputChoice {
  /** Overrides audio.output. */
  kind?: 'alsa' | 'wav';
  /** Overrides audio.wav_path. */
  wavPath?: string;
  /** Continue the WAV file (a later start of the same process) instead of re-creating it. */
  appendWav?: boolean;
  /** The user named the device (--device) or asked for ALSA (--output alsa): missing, it is an error, never a file. */
  named?: boolean;
}

export interface OutputContext {
  choice?: OutputChoice;
  dacPrior?: DacRate;
  log: Logger;
  /** The timing hardware is simulated: the sidecar says so. */
  simulated: boolean;
  converter: RealtimeConverter;
}

export interface OpenedOutput {
  sink: OutputSink;
  /** Call once the start instant is known: completes the WAV sidecar (no-op for ALSA). */
  started(startUtcNs: bigint): void;
  /**
   * Call when the first sample is placed (at stream frame streamFrame): the sidecar keeps where the
   * disciplined clock put frame 0 and that sample, by the clock the player placed it with.
   */
  placed?(clock: Timescale, streamFrame: number): void;
}

/**
 * With no audio device at all, a demo (the embedded default, or simulated timing hardware) records
 * to the WAV file instead; a device the user named, or a real set-up, never writes a file for a
 * whole ride when its DAC is missing: the service says so and tries again.
 */
export function recordsWhenNoDevice(config: Config, simulated: boolean, named = false): boolean {
  return !named && (config.source === EMBEDDED_CONFIG_NAME || simulated);
}

export async function openOutput(
  config: Config,
  fill: (p: number) => Buffer,
  ctx: OutputContext,
): Promise<OpenedOutput> {
  const kind = ctx.choice?.kind ?? config.audio.output;
  if (kind === 'wav') return openWav(config, fill, ctx);
  const sink = new AudifySink({
    format: { sampleRate: config.audio.sample_rate, channels: config.audio.channels },
    periodFrames: config.audio.period_frames,
    queuePeriods: config.audio.queue_periods,
    deviceName: config.audio.device,
    nowNs: hrtimeClock.nowNs,
    extraLatencyNs: config.audio.output_latency_ms * 1e6,
    dacPrior: ctx.dacPrior,
    onNotice: (m, level) => (level === 'info' ? ctx.log.info(m) : ctx.log.warn(m)),
  });
  try {
    await sink.start(fill);
    return { sink, started: () => {} };
  } catch (e) {
    if (!(e instanceof NoAudioDeviceError)) throw e;
    if (!recordsWhenNoDevice(config, ctx.simulated, ctx.choice?.named)) {
      throw new Error(
        `audio device "${config.audio.device}": ${e.message}. Check the device name (${ctx.choice?.named ? '--device or ' : ''}audio.device; jaudiosync devices lists them) and the DAC's cable; set audio.output = "wav" to record to a file instead`,
      );
    }
    ctx.log.warn(
      `no audio device (${e.message}): a demo set-up, writing the output to ${wavPathOf(config, ctx)} instead`,
    );
    return openWav(config, fill, ctx);
  }
}

function wavPathOf(config: Config, ctx: OutputContext): string {
  return ctx.choice?.wavPath ?? resolvePath(config, config.audio.wav_path);
}

/** The WAV "device" and its sidecar: frame 0's realtime instant and the start, per start written. */
async function openWav(config: Config, fill: (p: number) => Buffer, ctx: OutputContext): Promise<OpenedOutput> {
  const path = wavPathOf(config, ctx);
  const sampleRate = config.audio.sample_rate;
  let first: { monoNs: bigint; fileFrame: number } | undefined;
  let startUtcNs: bigint | undefined;
  let clock: Timescale | undefined;
  let placedStreamFrame = 0;
  const writeSidecar = () => {
    if (!first || startUtcNs === undefined) return;
    const segment = {
      fileFrame: first.fileFrame,
      firstFrameRealtimeNs: String(ctx.converter.toRealtime(first.monoNs)),
      firstFrameRealtimeErrorNs: Math.round(ctx.converter.errorNs),
      firstFrameMonoNs: String(first.monoNs),
      startUtcNs: String(startUtcNs),
      ...(clock && {
        firstFrameClockUtcNs: String(clock.utcAt(first.monoNs)),
        placedStreamFrame,
        // The file's frames are paced exactly at the nominal rate from frame 0's instant.
        placedClockUtcNs: String(
          clock.utcAt(first.monoNs + BigInt(Math.round((placedStreamFrame * 1e9) / sampleRate))),
        ),
        clockErrorBoundNs: Math.round(clock.errorBoundAt(first.monoNs)),
        clockSource: clock.source,
      }),
    };
    void appendSidecar(
      `${path}.json`,
      { sampleRate, simulated: ctx.simulated, ...segment },
      Boolean(ctx.choice?.appendWav),
    ).catch(() => {});
  };
  const sink = new WavFileSink({
    path,
    format: { sampleRate, channels: config.audio.channels },
    periodFrames: config.audio.period_frames,
    clock: hrtimeClock,
    append: ctx.choice?.appendWav,
    onFirstFrame: (monoNs, fileFrame) => {
      first = { monoNs, fileFrame };
      writeSidecar();
    },
    onError: (m) => ctx.log.warn(m),
  });
  await sink.start(fill);
  return {
    sink,
    started: (u) => {
      startUtcNs = u;
      writeSidecar();
    },
    placed: (ts, streamFrame) => {
      clock = ts;
      placedStreamFrame = streamFrame;
      writeSidecar();
    },
  };
}

interface Sidecar {
  sampleRate: number;
  simulated: boolean;
  fileFrame: number;
  firstFrameRealtimeNs: string;
  /** How far firstFrameRealtimeNs may be off (ns): the realtime<->monotonic estimate's bound. */
  firstFrameRealtimeErrorNs: number;
  firstFrameMonoNs: string;
  startUtcNs: string;
  /** Where the disciplined clock put frame 0 (UTC ns) when the first sample was placed, and its bound. */
  firstFrameClockUtcNs?: string;
  /** The stream frame (from this segment's fileFrame) where the first music sample was placed... */
  placedStreamFrame?: number;
  /** ...and the instant the disciplined clock gave it then (UTC ns): its timeline frame is (this − start) × rate. */
  placedClockUtcNs?: string;
  clockErrorBoundNs?: number;
  clockSource?: string;
  segments?: Array<Omit<Sidecar, 'segments' | 'sampleRate' | 'simulated'>>;
}

/**
 * FILE.json: the first segment's fields at the top (what a reader of a single start needs) and every
 * start written to the file under `segments`, so an appended file stays readable.
 */
async function appendSidecar(path: string, seg: Sidecar, append: boolean): Promise<void> {
  let doc: Sidecar = { ...seg, segments: [] };
  if (append) {
    try {
      const prev = JSON.parse(await readFile(path, 'utf8')) as Sidecar;
      if (prev.segments) doc = prev;
    } catch {
      /* none yet */
    }
  }
  const { segments: _s, sampleRate: _r, simulated: _x, ...segment } = seg;
  doc.segments = [...(doc.segments ?? []), segment];
  await writeFile(path, JSON.stringify(doc) + '\n');
}
