import { isAbsolute, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * m3u / m3u8 as real players write them: #EXTM3U (also repeated), #EXTINF:secs,Artist - Title,
 * other #EXT... directives and comments ignored, CRLF, a UTF-8 BOM, relative and absolute paths,
 * file:// URIs with percent-encoding; paths are relative to the playlist's folder.
 */

export interface PlaylistEntry {
  /** 1-based line of the path in the playlist file, for messages. */
  line: number;
  /** The entry as written. */
  raw: string;
  /** Absolute path on this machine. */
  path: string;
  /** From #EXTINF, when given. */
  durationSec?: number;
  title?: string;
}

export interface PlaylistProblem {
  line: number;
  message: string;
}

export interface Playlist {
  path: string;
  entries: PlaylistEntry[];
  problems: PlaylistProblem[];
}

export function parseM3u(text: string, playlistPath: string): Playlist {
  const baseDir = dirname(resolve(playlistPath));
  const entries: PlaylistEntry[] = [];
  const problems: PlaylistProblem[] = [];
  let pending: { durationSec?: number; title?: string } = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    const lineNo = i + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const inf = /^#EXTINF:\s*(-?[\d.]+)?[^,]*(?:,(.*))?$/i.exec(line);
      if (inf) {
        const secs = inf[1] !== undefined ? Number(inf[1]) : NaN;
        pending = { durationSec: Number.isFinite(secs) && secs >= 0 ? secs : undefined, title: inf[2]?.trim() || undefined };
      }
      return; // #EXTM3U, #EXTVLCOPT, #PLAYLIST and plain comments
    }
    let path: string;
    if (/^file:/i.test(line)) {
      try {
        path = fileURLToPath(line);
      } catch (e) {
        problems.push({ line: lineNo, message: `bad file URI "${line}": ${(e as Error).message}` });
        pending = {};
        return;
      }
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(line)) {
      problems.push({ line: lineNo, message: `"${line}" is a network stream; jaudiosync plays local files only (there is no network on the ride)` });
      pending = {};
      return;
    } else {
      path = isAbsolute(line) ? line : resolve(baseDir, line);
    }
    entries.push({ line: lineNo, raw: line, path, ...pending });
    pending = {};
  });
  return { path: resolve(playlistPath), entries, problems };
}
