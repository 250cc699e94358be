import { extname } from 'node:path';
import { parseFile } from 'music-metadata';
import { findFfmpeg } from '../player/ffmpeg.js';
import { readPlaylist, type PlaylistEntry } from '../player/m3u.js';
import { formatDuration } from '../service/status.js';
import { decodedSeconds, decodeProblem, entryFileProblem, ffmpegFault } from './entry-check.js';
import { Progress } from './progress.js';

/**
 * `jaudiosync playlist FILE`: what the player will make of each entry, before the ride. Each file is
 * decoded whole, as the player will (a 5 min MP3 takes ~0.3 s on a PC, tens of seconds on a Pi Zero):
 * the header alone passes a file cut short or with junk after its first frames.
 */

/**
 * Decoded this much shorter than its header says, a file was cut short (an interrupted copy). MP3
 * encoder delay and padding differ by milliseconds; 2 % leaves room for a VBR file's estimate.
 */
const CUT_SHORT_MIN_SEC = 1;
const CUT_SHORT_FRACTION = 0.02;

interface Row {
  line: number;
  path: string;
  exists: boolean;
  format?: string;
  sampleRate?: number;
  durationSec?: number;
  title?: string;
  hint?: string;
  /** Seconds ffmpeg decoded (what will play), when it was run. */
  decodedSec?: number;
  problem?: string;
}

/**
 * What the file behind an entry is: audio with a duration that decodes, or the problem. ffmpeg has
 * the last word (the player decodes with it): a header music-metadata cannot read may still play.
 */
async function inspect(e: PlaylistEntry, ffmpeg: string | undefined): Promise<Row> {
  const row: Row = { line: e.line, path: e.path, exists: false, title: e.title, ...(e.hint ? { hint: e.hint } : {}) };
  const unreadable = entryFileProblem(e.path);
  if (unreadable) return { ...row, exists: unreadable.exists, problem: unreadable.problem };
  row.exists = true;
  let headerProblem: string | undefined;
  try {
    const meta = await parseFile(e.path, { duration: true, skipCovers: true });
    row.format = meta.format.container ?? extname(e.path).slice(1);
    row.sampleRate = meta.format.sampleRate;
    row.durationSec = meta.format.duration || undefined;
    const tagTitle =
      meta.common.artist && meta.common.title ? `${meta.common.artist} - ${meta.common.title}` : meta.common.title;
    row.title = row.title ?? tagTitle;
    if (!row.durationSec) headerProblem = 'no audio duration found: may not be decodable';
  } catch (err) {
    headerProblem = `not readable as audio (${(err as Error).message})`;
  }
  if (ffmpeg) await decodeCheck(row, ffmpeg);
  else row.problem = headerProblem;
  return row;
}

/** Decodes the row's file whole: a problem when ffmpeg fails, or ends well before the header's length. */
async function decodeCheck(row: Row, ffmpeg: string): Promise<void> {
  try {
    // At the file's own rate: no resampling, and the count is the file's.
    row.decodedSec = await decodedSeconds(ffmpeg, row.path, { sampleRate: row.sampleRate ?? 48_000, channels: 2 });
  } catch (err) {
    row.problem = decodeProblem(err, row.path);
    return;
  }
  const said = row.durationSec;
  if (said === undefined) row.durationSec = row.decodedSec;
  else if (said - row.decodedSec > Math.max(CUT_SHORT_MIN_SEC, said * CUT_SHORT_FRACTION))
    row.problem = `cut short: decodes to ${row.decodedSec.toFixed(1)} s of audio, its header says ${said.toFixed(1)} s (an interrupted copy?): copy the file again`;
}

/** The last line: entries (every entry line, a URL too), total length (of those that play), problems. */
export function summaryLine(rows: readonly Row[]): string {
  const known = rows.filter((r) => r.durationSec !== undefined && !r.problem);
  const totalSec = known.reduce((a, r) => a + r.durationSec!, 0);
  const problems = rows.filter((r) => r.problem).length;
  const unknown = rows.length - known.length;
  return (
    `${rows.length} entr${rows.length === 1 ? 'y' : 'ies'}, total length ${formatDuration(totalSec)}${unknown ? ` (without ${unknown} of unknown length)` : ''}, ` +
    `${problems ? `${problems} problem${problems > 1 ? 's' : ''}` : 'no problems'}`
  );
}

export async function playlistCommand(file: string, json: boolean): Promise<number> {
  const pl = await readPlaylist(file);
  const ffmpeg = ffmpegOrNote(pl);
  const rows: Row[] = [];
  // Whole decodes take minutes for a long playlist on a Pi: say how far (on stderr).
  const progress = ffmpeg ? new Progress({ label: 'decoding', total: pl.entries.length, unit: 'entries' }) : undefined;
  for (const [i, e] of pl.entries.entries()) {
    progress?.update(i, e.title ?? e.raw);
    rows.push(await inspect(e, ffmpeg));
  }
  progress?.finish();
  for (const p of pl.problems) rows.push({ line: p.line, path: '', exists: false, problem: p.message });
  rows.sort((a, b) => a.line - b.line);
  // A playlist that lists only other playlists or images is worth one clear word.
  for (const r of rows)
    if (/^not (readable|decodable)/.test(r.problem ?? '') && r.exists && isPlaylistName(r.path))
      r.problem = 'is a playlist, not a music file (nested playlists are not followed)';
  if (json) {
    process.stdout.write(
      JSON.stringify(
        { playlist: pl.path, encoding: pl.encoding, notes: pl.notes ?? [], entries: rows, summary: summaryLine(rows) },
        null,
        2,
      ) + '\n',
    );
  } else {
    for (const n of pl.notes ?? []) process.stdout.write(`note: ${n}\n`);
    for (const r of rows) {
      const info = r.problem
        ? `PROBLEM: ${r.problem}`
        : `${r.format ?? '?'} ${r.sampleRate ?? '?'} Hz ${r.durationSec?.toFixed(1) ?? '?'} s  ${r.title ?? ''}`;
      process.stdout.write(
        `${String(r.line).padStart(4)}  ${r.path || '-'}\n      ${info}\n${r.hint ? `      (${r.hint})\n` : ''}`,
      );
    }
    process.stdout.write(`${summaryLine(rows)}\n`);
  }
  return rows.some((r) => r.problem) || pl.entries.length === 0 ? 1 : 0;
}

/** ffmpeg to decode with; without one, the files are only read, and a note says so. */
function ffmpegOrNote(pl: { notes?: string[] }): string | undefined {
  try {
    const path = findFfmpeg().path;
    const fault = ffmpegFault(path);
    if (fault) throw new Error(fault);
    return path;
  } catch (e) {
    pl.notes = [...(pl.notes ?? []), `files not decoded, only their headers read: ${(e as Error).message}`];
    return undefined;
  }
}

function isPlaylistName(path: string): boolean {
  return /\.(m3u8?|pls|xspf)$/i.test(path);
}
