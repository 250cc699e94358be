import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * m3u / m3u8 as real players write them: #EXTM3U (also repeated), #EXTINF:secs,Artist - Title,
 * other #EXT... directives and comments ignored, CRLF, a UTF-8 BOM, relative and absolute paths,
 * file:// URIs with percent-encoding; paths are relative to the playlist's folder. As people have
 * them: VLC's percent-encoded relative entries, Latin-1/Windows-1252 files, Windows paths
 * (backslashes, C:\...), each tried in the form that exists here, with a hint saying so.
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
  /** How the entry was read when not literally (percent-encoded, a Windows path), or what to do. */
  hint?: string;
}

export interface PlaylistProblem {
  line: number;
  message: string;
}

export interface Playlist {
  path: string;
  entries: PlaylistEntry[];
  problems: PlaylistProblem[];
  /** How the file was read, when worth saying (its encoding). */
  notes?: string[];
  encoding?: 'utf-8' | 'windows-1252';
}

export interface ParseOptions {
  /** Does a file exist here? Injected for tests; the real file system by default. */
  exists?: (path: string) => boolean;
}

export function parseM3u(text: string, playlistPath: string, opts: ParseOptions = {}): Playlist {
  const exists = opts.exists ?? existsSync;
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
        pending = {
          durationSec: Number.isFinite(secs) && secs >= 0 ? secs : undefined,
          title: inf[2]?.trim() || undefined,
        };
      }
      return; // #EXTM3U, #EXTVLCOPT, #PLAYLIST and plain comments
    }
    let where: { path: string; hint?: string };
    if (/^file:/i.test(line)) {
      try {
        where = { path: fileURLToPath(line) };
      } catch (e) {
        problems.push({ line: lineNo, message: `bad file URI "${line}": ${(e as Error).message}` });
        pending = {};
        return;
      }
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(line)) {
      problems.push({
        line: lineNo,
        message: `"${line}" is a network stream; jaudiosync plays local files only (there is no network on the ride)`,
      });
      pending = {};
      return;
    } else {
      where = resolveEntry(line, baseDir, exists);
    }
    entries.push({ line: lineNo, raw: line, ...where, ...pending });
    pending = {};
  });
  return { path: resolve(playlistPath), entries, problems };
}

/**
 * A path as written, else the forms other players write: percent-encoded (VLC writes relative
 * entries so), Windows separators, a Windows drive path's tail found under the playlist's folder.
 * The literal name wins when such a file exists; else the first form that exists; else the most
 * likely form, with a hint for the "not found" message.
 */
function resolveEntry(line: string, baseDir: string, exists: (p: string) => boolean): { path: string; hint?: string } {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const literal = abs(line);
  if (exists(literal)) return { path: literal };
  const tries: Array<{ path: string; hint: string }> = [];
  const decoded = percentDecode(line);
  if (decoded !== undefined)
    tries.push({ path: abs(decoded), hint: `percent-encoded (as VLC writes it): read as "${decoded}"` });
  const windows = line.includes('\\') || /^[a-z]:[\\/]/i.test(line);
  if (windows) {
    const fwd = (decoded ?? line).replace(/\\/g, '/');
    const drive = /^[a-z]:\//i.test(fwd);
    if (!drive)
      tries.push({ path: abs(fwd), hint: `a Windows path: read as "${fwd}" (write entries with forward slashes)` });
    else {
      // C:\Music\Sub\a.flac: the music was copied somewhere else; look for its tail beside the playlist.
      const parts = fwd.slice(3).split('/').filter(Boolean);
      for (let k = 0; k < parts.length; k++) {
        const tail = parts.slice(k).join('/');
        tries.push({
          path: resolve(baseDir, tail),
          hint: `a Windows path: found as "${tail}" beside the playlist (write entries relative to the playlist, with forward slashes)`,
        });
      }
    }
  }
  const found = tries.find((t) => exists(t.path));
  if (found) return found;
  if (windows) {
    return {
      path: tries[0]?.path ?? literal,
      hint: `"${line}" is a Windows path: copy the music beside the playlist (or into a folder under it) and write each entry relative to the playlist, with forward slashes`,
    };
  }
  return tries[0] ?? { path: literal };
}

/** The entry with its %XX escapes decoded, or undefined when it has none (or they are not valid UTF-8). */
function percentDecode(s: string): string | undefined {
  if (!/%[0-9a-f]{2}/i.test(s)) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** A playlist file that cannot be read as one: named, with what to do. */
export class PlaylistError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'PlaylistError';
  }
}

/** Bytes that start an audio file rather than a text playlist, and the format's name. */
export function sniffAudio(head: Buffer): string | undefined {
  const ascii = (a: number, b: number) => head.toString('latin1', a, b);
  if (ascii(0, 4) === 'fLaC') return 'FLAC';
  if (ascii(0, 3) === 'ID3') return 'MP3';
  if (ascii(0, 4) === 'OggS') return 'Ogg (Vorbis/Opus)';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'WAV';
  if (ascii(0, 4) === 'FORM' && /^AIF[FC]$/.test(ascii(8, 12))) return 'AIFF';
  if (ascii(4, 8) === 'ftyp') return 'MP4/M4A';
  if (ascii(0, 4) === 'wvpk') return 'WavPack';
  if (ascii(0, 4) === 'MAC ') return "Monkey's Audio";
  if (head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0) return 'MP3/AAC';
  return undefined;
}

const SNIFF_BYTES = 4096;

/**
 * Decodes a playlist's bytes: UTF-8 when they are valid UTF-8 (or carry its BOM), else
 * Windows-1252, the superset of Latin-1 that Windows players write; the caller says which.
 */
export function decodePlaylistText(bytes: Buffer): { text: string; encoding: 'utf-8' | 'windows-1252' } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    return { text: decodeWindows1252(bytes), encoding: 'windows-1252' };
  }
}

/**
 * Windows-1252 differs from Latin-1 only in 0x80-0x9F (curly quotes, dashes, €). Done here because
 * Node's TextDecoder('windows-1252') decodes those bytes as Latin-1's control characters.
 */
const CP1252_80_9F =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

export function decodeWindows1252(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x80 && b <= 0x9f ? CP1252_80_9F[b - 0x80] : String.fromCharCode(b);
  return out;
}

/**
 * Reads and parses a playlist file. Throws a PlaylistError naming the file and what to do when it
 * is unreadable, empty, an audio file or other binary, or lists nothing at all.
 */
export async function readPlaylist(path: string, opts: ParseOptions = {}): Promise<Playlist> {
  let bytes: Buffer;
  try {
    // A pipe or a device would block the read for ever (nobody writes to it): said instead.
    const st = await stat(path);
    if (!st.isFile() && !st.isDirectory())
      throw new PlaylistError(path, `playlist ${path} is not a regular file (a pipe or a device): give the .m3u8 file`);
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof PlaylistError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a folder, not a playlist file (give the .m3u/.m3u8 inside it)'
          : code === 'EACCES'
            ? 'permission denied (the user running jaudiosync must be able to read it)'
            : (e as Error).message;
    throw new PlaylistError(path, `playlist ${path}: ${why}`);
  }
  if (bytes.length === 0)
    throw new PlaylistError(
      path,
      `playlist ${path}: empty file (0 bytes): write one music file per line, relative to the playlist's folder (Music/Playlist.m3u8 in jaudiosync's folder is one)`,
    );
  const head = bytes.subarray(0, SNIFF_BYTES);
  const audio = sniffAudio(head);
  if (audio)
    throw new PlaylistError(
      path,
      `playlist ${path} is an audio file (${audio}), not a playlist: give an .m3u/.m3u8 that lists it (a text file with one music file per line)`,
    );
  if (head.includes(0))
    throw new PlaylistError(
      path,
      `playlist ${path} is binary data, not a text playlist (.m3u/.m3u8: one music file per line)`,
    );
  const { text, encoding } = decodePlaylistText(bytes);
  const pl = parseM3u(text, path, opts);
  pl.encoding = encoding;
  if (encoding !== 'utf-8')
    pl.notes = [
      `${path} is not UTF-8: read as Latin-1/Windows-1252 (save it as UTF-8, .m3u8, so that every device reads it alike)`,
    ];
  if (pl.entries.length === 0 && pl.problems.length === 0) {
    throw new PlaylistError(
      path,
      `playlist ${path} lists no music files (only comments or blank lines): write one music file per line, relative to the playlist's folder`,
    );
  }
  return pl;
}
