import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

/**
 * Which ffmpeg to run: the configured path, else $JAUDIOSYNC_FFMPEG, else ffmpeg-static's binary
 * if its (optional, internet-dependent) download worked, else ffmpeg on PATH.
 */

export interface FfmpegChoice {
  path: string;
  origin: 'config' | 'env' | 'ffmpeg-static' | 'PATH';
}

export const FFMPEG_MISSING_HINT =
  'ffmpeg not found. Install it with "sudo apt-get install ffmpeg", or set audio.ffmpeg in the config (or JAUDIOSYNC_FFMPEG) to its path.';

export function findFfmpeg(configured?: string, env: NodeJS.ProcessEnv = process.env): FfmpegChoice {
  if (configured) {
    if (!existsSync(configured))
      throw new Error(`ffmpeg at ${configured} (from the config) does not exist. ${FFMPEG_MISSING_HINT}`);
    return { path: configured, origin: 'config' };
  }
  const fromEnv = env.JAUDIOSYNC_FFMPEG;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`ffmpeg at ${fromEnv} (from JAUDIOSYNC_FFMPEG) does not exist. ${FFMPEG_MISSING_HINT}`);
    return { path: fromEnv, origin: 'env' };
  }
  try {
    const p = createRequire(import.meta.url)('ffmpeg-static') as string | null;
    if (p && existsSync(p)) return { path: p, origin: 'ffmpeg-static' };
  } catch {
    // optional dependency absent (its download fails offline): fall through to PATH
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'ffmpeg');
    if (existsSync(candidate)) return { path: candidate, origin: 'PATH' };
  }
  throw new Error(FFMPEG_MISSING_HINT);
}
