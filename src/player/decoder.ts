import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';

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

/**
 * With `intoFrames` (a manifest's count) the PCM goes straight into one buffer of exactly that size
 * (cut or zero-padded), so a long track costs its size once, not chunks plus a concatenated copy.
 * `decodedFrames` then says what ffmpeg actually produced.
 */
export async function decodeFile(ffmpegPath: string, path: string, format: PcmFormat, intoFrames?: number): Promise<DecodedTrack & { decodedFrames: number }> {
  try {
    await access(path);
  } catch {
    throw new DecodeError(path, `music file not found: ${path}`);
  }
  const t0 = process.hrtime.bigint();
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-map', '0:a:0', '-vn',
    '-f', 's16le', '-acodec', 'pcm_s16le', '-ar', String(format.sampleRate), '-ac', String(format.channels), 'pipe:1'];
  const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  const frameBytes = BYTES_PER_SAMPLE * format.channels;
  const into = intoFrames !== undefined ? Buffer.alloc(intoFrames * frameBytes) : undefined;
  let received = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    if (into) { if (received < into.length) c.copy(into, received, 0, Math.min(c.length, into.length - received)); } else chunks.push(c);
    received += c.length;
  });
  child.stderr.on('data', (c: Buffer) => { if (stderr.length < 4000) stderr += c.toString(); });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new DecodeError(path, `cannot run ffmpeg (${ffmpegPath}): ${e.message}`)));
    child.on('close', (c) => resolve(c));
  });
  if (code !== 0) {
    throw new DecodeError(path, `ffmpeg could not decode ${path} (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no output'}`);
  }
  const decodedFrames = Math.floor(received / frameBytes);
  if (decodedFrames === 0) throw new DecodeError(path, `ffmpeg decoded no audio from ${path}`);
  const decodeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (into) return { path, format, pcm: into, frames: intoFrames!, decodedFrames, decodeMs };
  let pcm = Buffer.concat(chunks);
  chunks.length = 0;
  if (pcm.length !== decodedFrames * frameBytes) pcm = pcm.subarray(0, decodedFrames * frameBytes);
  return { path, format, pcm, frames: decodedFrames, decodedFrames, decodeMs };
}
