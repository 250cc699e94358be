import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseFile } from 'music-metadata';
import { parseM3u } from '../player/m3u.js';

/** `jaudiosync playlist FILE`: what the player will make of each entry, before the ride. */

interface Row {
  line: number;
  path: string;
  exists: boolean;
  format?: string;
  sampleRate?: number;
  durationSec?: number;
  title?: string;
  problem?: string;
}

export async function playlistCommand(file: string, json: boolean): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the playlist ${file}: ${(e as Error).message}`);
  }
  const pl = parseM3u(text, file);
  const rows: Row[] = [];
  for (const e of pl.entries) {
    const row: Row = { line: e.line, path: e.path, exists: existsSync(e.path), title: e.title };
    if (!row.exists) {
      row.problem = 'file not found';
    } else {
      try {
        const meta = await parseFile(e.path, { duration: true, skipCovers: true });
        row.format = meta.format.container ?? extname(e.path).slice(1);
        row.sampleRate = meta.format.sampleRate;
        row.durationSec = meta.format.duration;
        const tagTitle = meta.common.artist && meta.common.title ? `${meta.common.artist} - ${meta.common.title}` : meta.common.title;
        row.title = row.title ?? tagTitle;
        if (!meta.format.duration) row.problem = 'no audio duration found: may not be decodable';
      } catch (err) {
        row.problem = `unreadable: ${(err as Error).message}`;
      }
    }
    rows.push(row);
  }
  for (const p of pl.problems) rows.push({ line: p.line, path: '', exists: false, problem: p.message });
  rows.sort((a, b) => a.line - b.line);
  if (json) {
    process.stdout.write(JSON.stringify({ playlist: pl.path, entries: rows }, null, 2) + '\n');
  } else {
    for (const r of rows) {
      const info = r.problem ? `PROBLEM: ${r.problem}` : `${r.format ?? '?'} ${r.sampleRate ?? '?'} Hz ${r.durationSec?.toFixed(1) ?? '?'} s  ${r.title ?? ''}`;
      process.stdout.write(`${String(r.line).padStart(4)}  ${r.path || '-'}\n      ${info}\n`);
    }
  }
  return rows.some((r) => r.problem) ? 1 : 0;
}
