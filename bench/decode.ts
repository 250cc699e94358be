// Decode speed of the bundled playlist: how many times faster than real time ffmpeg fills RAM.
// Run: node --import tsx bench/decode.ts [PLAYLIST] [--rounds N]
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { parseM3u } from '../src/player/m3u.js';
import { PACKAGE_DIR } from '../src/service/config.js';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
const playlistPath =
  args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--rounds') ?? join(PACKAGE_DIR, 'Music', 'Playlist.m3u8');
const ffmpeg = findFfmpeg();
const pl = parseM3u(readFileSync(playlistPath, 'utf8'), playlistPath);
const fmt = { sampleRate: 48000, channels: 2 };

console.log(
  `decode bench: ${playlistPath}, ${rounds} rounds, ffmpeg ${ffmpeg.path} (${ffmpeg.origin}), ${cpus()[0]?.model} x${cpus().length}`,
);
let audioSec = 0,
  wallMs = 0;
for (const e of pl.entries) {
  const times: number[] = [];
  let frames = 0;
  for (let r = 0; r < rounds; r++) {
    const d = await decodeFile(ffmpeg.path, e.path, fmt);
    times.push(d.decodeMs);
    frames = d.frames;
  }
  const best = Math.min(...times);
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  audioSec += frames / fmt.sampleRate;
  wallMs += median;
  console.log(
    `  ${e.raw.padEnd(32)} ${(frames / fmt.sampleRate).toFixed(1).padStart(6)} s audio  median ${median.toFixed(0).padStart(5)} ms  best ${best.toFixed(0).padStart(5)} ms  ${(frames / fmt.sampleRate / (median / 1000)).toFixed(0).padStart(5)}x real time`,
  );
}
console.log(
  `total: ${audioSec.toFixed(1)} s of audio decoded in ${wallMs.toFixed(0)} ms = ${(audioSec / (wallMs / 1000)).toFixed(0)}x real time (median of ${rounds})`,
);
