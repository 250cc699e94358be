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
  constructor(
    readonly path: string,
    message: string,
  ) {
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
  /** Frames ffmpeg produced (so far, when `complete` is false). */
  decodedFrames: number;
  /** False while a windowed decode goes on behind playback (see DECODE_AHEAD_SEC). */
  complete?: boolean;
  decodeMs: number;
}

export interface ChunkedDecodeOptions {
  /** A manifest's count: the track is cut or padded with silence to exactly this. */
  intoFrames?: number;
  /** Frames before this are counted but never kept (a late join into the middle of a track). */
  keepFromFrame?: number;
  /** With `intoFrames`: frames held decoded ahead of what playback has released (default DECODE_AHEAD_SEC). */
  aheadFrames?: number;
  /**
   * With `intoFrames`, for a check: the first window not decoded within this (ms) stops ffmpeg and
   * fails the decode (a zero-filled file is read to its end looking for a frame: a minute for 4 GB).
   */
  firstWindowWithinMs?: number;
}

/**
 * A track whose length the manifest gives is decoded in a window that follows playback: ffmpeg is
 * paused (its pipe fills, it blocks) once this much lies decoded ahead of what playback released,
 * and resumed below DECODE_RESUME_SEC. Memory per track is then ~one window, not the whole track:
 * the next track preloaded for a boundary holds 60 s, not 5 min (58 MB). 60 s is many times the
 * refill time even on a Pi (tens of times real time for MP3), so playback never waits for it.
 */
export const DECODE_AHEAD_SEC = 60;
export const DECODE_RESUME_SEC = 45;

/**
 * Decodes into fixed-size chunks (see PcmChunks): no concatenated copy, nothing kept before
 * `keepFromFrame`, and the caller can free the played part while the rest plays. With `intoFrames`
 * it resolves once the first window is decoded and goes on as playback releases chunks; a failure
 * after that leaves the rest of the track silent. `pcm.dispose()` stops a decode still going.
 */
export async function decodeToChunks(
  ffmpegPath: string,
  path: string,
  format: PcmFormat,
  opts: ChunkedDecodeOptions = {},
): Promise<ChunkedTrack> {
  const pcm = new PcmChunks(BYTES_PER_SAMPLE * format.channels, opts.keepFromFrame ?? 0);
  if (opts.intoFrames !== undefined) {
    pcm.frames = opts.intoFrames; // known from the manifest before a single frame is decoded
    const aheadFrames = opts.aheadFrames ?? DECODE_AHEAD_SEC * format.sampleRate;
    const { decodeMs, complete } = await streamFfmpeg(
      ffmpegPath,
      path,
      format,
      pcm,
      opts.intoFrames,
      aheadFrames,
      opts.firstWindowWithinMs,
    );
    return { path, format, pcm, frames: opts.intoFrames, decodedFrames: pcm.decodedFrames, complete, decodeMs };
  }
  const decodeMs = await runFfmpeg(ffmpegPath, path, format, (c) => pcm.append(c));
  const decodedFrames = pcm.decodedFrames;
  pcm.seal(decodedFrames);
  return { path, format, pcm, frames: pcm.frames, decodedFrames, complete: true, decodeMs };
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

function ffmpegArgs(path: string, format: PcmFormat): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-i',
    path,
    '-map',
    '0:a:0',
    '-vn',
    '-f',
    's16le',
    '-acodec',
    'pcm_s16le',
    '-ar',
    String(format.sampleRate),
    '-ac',
    String(format.channels),
    'pipe:1',
  ];
}

async function checkExists(path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new DecodeError(path, `music file not found: ${path}`);
  }
}

const failure = (path: string, code: number | null, stderr: string) =>
  new DecodeError(
    path,
    `ffmpeg could not decode ${path} (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no output'}`,
  );

/** Runs ffmpeg on one file, handing its PCM to onData; resolves to the wall time it took (ms). */
async function runFfmpeg(
  ffmpegPath: string,
  path: string,
  format: PcmFormat,
  onData: (c: Buffer) => void,
): Promise<number> {
  await checkExists(path);
  const t0 = process.hrtime.bigint();
  const child = spawn(ffmpegPath, ffmpegArgs(path, format), { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    received += c.length;
    onData(c);
  });
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4000) stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new DecodeError(path, `cannot run ffmpeg (${ffmpegPath}): ${e.message}`)));
    child.on('close', (c) => resolve(c));
  });
  if (code !== 0) throw failure(path, code, stderr);
  if (received < BYTES_PER_SAMPLE * format.channels)
    throw new DecodeError(path, `ffmpeg decoded no audio from ${path}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * ffmpeg into `pcm`, at most `aheadFrames` beyond what playback released: resolves when the first
 * window is full (complete: false) or ffmpeg has finished (complete: true), whichever comes first.
 */
async function streamFfmpeg(
  ffmpegPath: string,
  path: string,
  format: PcmFormat,
  pcm: PcmChunks,
  intoFrames: number,
  aheadFrames: number,
  firstWindowWithinMs?: number,
): Promise<{ decodeMs: number; complete: boolean }> {
  await checkExists(path);
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const child = spawn(ffmpegPath, ffmpegArgs(path, format), { stdio: ['ignore', 'pipe', 'pipe'] });
  const resumeFrames = Math.floor(aheadFrames * (DECODE_RESUME_SEC / DECODE_AHEAD_SEC));
  const ahead = () => pcm.decodedFrames - pcm.firstKeptFrame;
  let paused = false,
    settled = false,
    disposed = false,
    received = 0,
    stderr = '';
  return new Promise((resolve, reject) => {
    let tooSlow: NodeJS.Timeout | undefined;
    const settle = (f: () => void) => {
      if (!settled) {
        settled = true;
        if (tooSlow) clearTimeout(tooSlow);
        f();
      }
    };
    if (firstWindowWithinMs !== undefined)
      tooSlow = setTimeout(() => {
        child.kill('SIGKILL');
        const s = (firstWindowWithinMs / 1000).toFixed(0);
        settle(() => reject(new DecodeError(path, `ffmpeg found no audio in ${path} within ${s} s`)));
      }, firstWindowWithinMs);
    child.stdout.on('data', (c: Buffer) => {
      received += c.length;
      pcm.append(c, intoFrames);
      if (!paused && ahead() >= aheadFrames) {
        paused = true;
        child.stdout.pause();
        settle(() => resolve({ decodeMs: ms(), complete: false }));
      }
    });
    pcm.onRelease = () => {
      if (paused && ahead() < resumeFrames) {
        paused = false;
        child.stdout.resume();
      }
    };
    pcm.onDispose = () => {
      disposed = true;
      child.kill('SIGKILL');
    };
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    child.on('error', (e) =>
      settle(() => reject(new DecodeError(path, `cannot run ffmpeg (${ffmpegPath}): ${e.message}`))),
    );
    child.on('close', (code) => {
      pcm.onRelease = undefined;
      pcm.onDispose = undefined;
      if (disposed) return settle(() => reject(new DecodeError(path, 'decode stopped: the track was dropped')));
      if (code !== 0) {
        // After the first window the caller has the track: the rest stays silent, and says why.
        const e = failure(path, code, stderr);
        if (settled) pcm.failedBecause = e.message;
        return settle(() => reject(e));
      }
      if (received < BYTES_PER_SAMPLE * format.channels)
        return settle(() => reject(new DecodeError(path, `ffmpeg decoded no audio from ${path}`)));
      pcm.seal(intoFrames);
      settle(() => resolve({ decodeMs: ms(), complete: true }));
    });
  });
}
