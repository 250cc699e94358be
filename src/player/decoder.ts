import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { PcmChunks } from './pcm-chunks.js';

/**
 * Decodes one file to the single output format (interleaved signed 16-bit little-endian at a fixed
 * rate and channel count) in RAM, with ffmpeg as a child process. The stream never reopens between
 * tracks because every track arrives in the same format.
 */

export interface PcmFormat {
  sampleRate: number;
  channels: number;
}

export const BYTES_PER_SAMPLE = 2;

export interface DecodedTrack {
  path: string;
  format: PcmFormat;
  /** Interleaved s16le samples. */
  pcm: Buffer;
  frames: number;
  decodeMs: number;
}

export class DecodeError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export interface ChunkedTrack {
  path: string;
  format: PcmFormat;
  pcm: PcmChunks;
  /** Length on the timeline: `intoFrames` when given, else what ffmpeg produced. */
  frames: number;
  decodedFrames: number;
  decodeMs: number;
}

export interface ChunkedDecodeOptions {
  /** A manifest's count: the track is cut or padded with silence to exactly this. */
  intoFrames?: number;
  /** Frames before this are counted but never kept (a late join into the middle of a track). */
  keepFromFrame?: number;
}

/**
 * Decodes into fixed-size chunks (see PcmChunks): no concatenated copy, nothing kept before
 * `keepFromFrame`, and the caller can free the played part while the rest plays.
 */
export async function decodeToChunks(ffmpegPath: string, path: string, format: PcmFormat, opts: ChunkedDecodeOptions = {}): Promise<ChunkedTrack> {
  const pcm = new PcmChunks(BYTES_PER_SAMPLE * format.channels, opts.keepFromFrame ?? 0);
  const decodeMs = await runFfmpeg(ffmpegPath, path, format, (c) => pcm.append(c, opts.intoFrames));
  const decodedFrames = pcm.decodedFrames;
  pcm.seal(opts.intoFrames ?? decodedFrames);
  return { path, format, pcm, frames: pcm.frames, decodedFrames, decodeMs };
}

/** Decodes a whole file into one buffer (tools and tests; the player uses decodeToChunks). */
export async function decodeFile(ffmpegPath: string, path: string, format: PcmFormat): Promise<DecodedTrack> {
  const chunks: Buffer[] = [];
  const decodeMs = await runFfmpeg(ffmpegPath, path, format, (c) => chunks.push(c));
  const frameBytes = BYTES_PER_SAMPLE * format.channels;
  let pcm = Buffer.concat(chunks);
  chunks.length = 0;
  const frames = Math.floor(pcm.length / frameBytes);
  if (pcm.length !== frames * frameBytes) pcm = pcm.subarray(0, frames * frameBytes);
  return { path, format, pcm, frames, decodeMs };
}

/** Runs ffmpeg on one file, handing its PCM to onData; resolves to the wall time it took (ms). */
async function runFfmpeg(ffmpegPath: string, path: string, format: PcmFormat, onData: (c: Buffer) => void): Promise<number> {
  try {
    await access(path);
  } catch {
    throw new DecodeError(path, `music file not found: ${path}`);
  }
  const t0 = process.hrtime.bigint();
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-map', '0:a:0', '-vn',
    '-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), 'pipe:1'];
  const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { received += c.length; onData(c); });
  child.stderr.on('data', (c: Buffer) => { if (stderr.length < 4000) stderr += c.toString(); });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new DecodeError(path, `cannot run ffmpeg (${ffmpegPath}): ${e.message}`)));
    child.on('close', (c) => resolve(c));
  });
  if (code !== 0) {
    throw new DecodeError(path, `ffmpeg could not decode ${path} (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no output'}`);
  }
  if (received < BYTES_PER_SAMPLE * format.channels) throw new DecodeError(path, `ffmpeg decoded no audio from ${path}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
