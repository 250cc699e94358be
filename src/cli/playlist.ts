import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { parseFile } from 'music-metadata';
import { readPlaylist, type PlaylistEntry } from '../player/m3u.js';
import { formatDuration } from '../service/status.js';

/** `jaudiosync playlist FILE`: what the player will make of each entry, before the ride. */

interface Row {
  line: number;
  path: string;
  exists: boolean;
  format?: string;
  sampleRate?: number;
  durationSec?: number;
  title?: string;
  hint?: string;
  problem?: string;
}

/** What the file behind an entry is: readable audio with a duration, or the problem. */
async function inspect(e: PlaylistEntry): Promise<Row> {
  const row: Row = { line: e.line, path: e.path, exists: false, title: e.title, ...(e.hint ? { hint: e.hint } : {}) };
  let size: number;
  try {
    const st = statSync(e.path);
    if (st.isDirectory()) return { ...row, problem: 'is a folder, not a music file' };
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ...row, problem: code === 'EACCES' ? 'permission denied' : 'file not found' };
  }
  row.exists = true;
  if (size === 0) return { ...row, problem: 'empty file (0 bytes)' };
  try {
    const meta = await parseFile(e.path, { duration: true, skipCovers: true });
    row.format = meta.format.container ?? extname(e.path).slice(1);
    row.sampleRate = meta.format.sampleRate;
    row.durationSec = meta.format.duration;
    const tagTitle =
      meta.common.artist && meta.common.title ? `${meta.common.artist} - ${meta.common.title}` : meta.common.title;
    row.title = row.title ?? tagTitle;
    if (!meta.format.duration) row.problem = 'no audio duration found: may not be decodable';
  } catch (err) {
    row.problem = `not readable as audio (${(err as Error).message})`;
  }
  return row;
}

/** The last line: entries, total length (of those with a duration), problems. */
export function summaryLine(rows: readonly Row[]): string {
  const entries = rows.filter((r) => r.path !== '');
  const known = entries.filter((r) => r.durationSec !== undefined && !r.problem);
  const totalSec = known.reduce((a, r) => a + r.durationSec!, 0);
  const problems = rows.filter((r) => r.problem).length;
  const unknown = entries.length - known.length;
  return (
    `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, total length ${formatDuration(totalSec)}${unknown ? ` (without ${unknown} of unknown length)` : ''}, ` +
    `${problems ? `${problems} problem${problems > 1 ? 's' : ''}` : 'no problems'}`
  );
}

export async function playlistCommand(file: string, json: boolean): Promise<number> {
  const pl = await readPlaylist(file);
  const rows: Row[] = [];
  for (const e of pl.entries) rows.push(await inspect(e));
  for (const p of pl.problems) rows.push({ line: p.line, path: '', exists: false, problem: p.message });
  rows.sort((a, b) => a.line - b.line);
  // A playlist that lists only other playlists or images is worth one clear word.
  for (const r of rows)
    if (r.problem?.startsWith('not readable') && r.exists && isPlaylistName(r.path))
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

function isPlaylistName(path: string): boolean {
  return /\.(m3u8?|pls|xspf)$/i.test(path);
}
