import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { decodeToChunks, type PcmFormat } from '../player/decoder.js';

/**
 * Why a playlist entry cannot play, in the words `jaudiosync playlist` and `config check` share:
 * the file itself (missing, a folder, empty, unreadable), then what ffmpeg makes of it, through
 * the player's own decoder (src/player/decoder.ts), so that a check fails where the player would.
 */

export interface FileProblem {
  problem: string;
  /** What to do about it. */
  fix: string;
  /** The path names something (an empty or unreadable file), as opposed to nothing or a folder. */
  exists: boolean;
}

const READABLE_FIX = 'make it readable by the service user (chmod a+r, and a+x on its folders)';

/** What stops the file behind an entry from being read at all; undefined when it can be. */
export function entryFileProblem(path: string): FileProblem | undefined {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory())
      return {
        problem: 'is a folder, not a music file',
        fix: 'list the music files in that folder, one per line',
        exists: false,
      };
    if (!st.isFile())
      return {
        problem: 'is not a regular file (a pipe or a device)',
        fix: 'list the music file itself',
        exists: false,
      };
    size = st.size;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES'
      ? { problem: 'permission denied', fix: READABLE_FIX, exists: false }
      : {
          problem: 'file not found',
          fix: 'copy the music next to the playlist (its entries are relative to its folder)',
          exists: false,
        };
  }
  if (size === 0) return { problem: 'empty file (0 bytes)', fix: 'copy the file again', exists: true };
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return {
      problem: 'permission denied (the user running jaudiosync cannot read it)',
      fix: READABLE_FIX,
      exists: true,
    };
  }
  return undefined;
}

/**
 * ffmpeg decodes a real file's first seconds in well under one even on a Pi; this long is a file
 * with no audio to find (a zero-filled, interrupted copy), which it would read to the end.
 */
const FIRST_WINDOW_WITHIN_MS = 10_000;

/**
 * Seconds of audio ffmpeg decodes from the file: all of it, or with `firstSec` only that much (a
 * broken start is caught for the cost of one short ffmpeg run). Nothing beyond that window is kept
 * in RAM. Throws the decoder's DecodeError, with ffmpeg's own words, where the player would fail.
 */
export async function decodedSeconds(
  ffmpeg: string,
  path: string,
  format: PcmFormat,
  firstSec?: number,
): Promise<number> {
  if (firstSec === undefined) {
    const d = await decodeToChunks(ffmpeg, path, format, { keepFromFrame: Number.POSITIVE_INFINITY });
    return d.decodedFrames / format.sampleRate;
  }
  const window = Math.round(firstSec * format.sampleRate);
  const d = await decodeToChunks(ffmpeg, path, format, {
    intoFrames: window,
    aheadFrames: window,
    firstWindowWithinMs: FIRST_WINDOW_WITHIN_MS,
  });
  d.pcm.dispose(); // stops ffmpeg, paused once the window is full
  return Math.min(d.decodedFrames, window) / format.sampleRate;
}

/**
 * The problem a failed decode is, for a row or a message about the entry: the player's words with
 * ffmpeg's in them, less the path (the entry names it) and ffmpeg's "[mp3float @ 0x55…]" prefixes.
 */
export function decodeProblem(err: unknown, path: string): string {
  const why = (err as Error).message
    .replace(` ${path} `, ' it ')
    .replace(/\[[^\]@]+ @ 0x[0-9a-f]+\] ?/g, '')
    .trim();
  return `not decodable audio (${why})`;
}

/** Why ffmpeg does not run (`-version`), or undefined: a broken one would be blamed on every music file. */
export function ffmpegFault(ffmpeg: string): string | undefined {
  const r = spawnSync(ffmpeg, ['-version'], { timeout: FFMPEG_VERSION_TIMEOUT_MS, stdio: 'ignore' });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES') return `${ffmpeg} does not run: it is not executable (chmod +x, or is it ffmpeg at all?)`;
  if (r.error) return `${ffmpeg} does not run: ${code ?? r.error.message}`;
  return r.status === 0 ? undefined : `${ffmpeg} does not run: -version exits ${r.status ?? r.signal}`;
}
/** ffmpeg -version answers in ~50 ms on a Pi; a minute is a hung binary, not a slow one. */
const FFMPEG_VERSION_TIMEOUT_MS = 60_000;

/** Runs `f` on every item, at most `parallel` at once; the results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], parallel: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return out;
}
