import test from 'ava';
import { parseM3u } from '../src/player/m3u.js';

test('VLC-style m3u8: #EXTM3U, #EXTINF durations and titles, relative paths', (t) => {
  const pl = parseM3u(
    '#EXTM3U\n#EXTINF:30,Artist - Title\n01 - Click.flac\n#EXTINF:25,Other\nsub/02.mp3\n',
    '/music/list.m3u8',
  );
  t.deepEqual(
    pl.entries.map((e) => [e.line, e.path, e.durationSec, e.title]),
    [
      [3, '/music/01 - Click.flac', 30, 'Artist - Title'],
      [5, '/music/sub/02.mp3', 25, 'Other'],
    ],
  );
  t.deepEqual(pl.problems, []);
});

test('BOM, CRLF, repeated headers, #EXTVLCOPT and comments are handled; titles do not leak', (t) => {
  const text =
    '\uFEFF#EXTM3U\r\n#EXTM3U\r\n# a comment\r\n#EXTINF:-1,Live\r\n#EXTVLCOPT:network-caching=1000\r\na.ogg\r\n\r\nb.ogg\r\n';
  const pl = parseM3u(text, 'rel/list.m3u');
  t.is(pl.entries.length, 2);
  t.true(pl.entries[0]!.path.endsWith('/rel/a.ogg'));
  t.is(pl.entries[0]!.title, 'Live');
  t.is(pl.entries[0]!.durationSec, undefined, '-1 means unknown');
  t.is(pl.entries[1]!.title, undefined);
  t.is(pl.entries[1]!.line, 8);
});

test('absolute paths and file:// URIs with percent-encoding', (t) => {
  const pl = parseM3u('/abs/x.flac\nfile:///home/pi/My%20Music/%C3%A9t%C3%A9.mp3\n', '/music/l.m3u8');
  t.deepEqual(
    pl.entries.map((e) => e.path),
    ['/abs/x.flac', '/home/pi/My Music/été.mp3'],
  );
});

test('network URLs and broken file URIs are problems with their line, not entries', (t) => {
  const pl = parseM3u('#EXTM3U\nhttp://radio.example/stream\nfile://remotehost/x.mp3\nok.mp3\n', '/m/l.m3u8');
  t.deepEqual(
    pl.entries.map((e) => e.raw),
    ['ok.mp3'],
  );
  t.deepEqual(
    pl.problems.map((p) => p.line),
    [2, 3],
  );
  t.regex(pl.problems[0]!.message, /network stream/);
});

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPlaylist, sniffAudio } from '../src/player/m3u.js';
import { tempDir } from './helpers/tmp.js';

const files = (...paths: string[]) => {
  const s = new Set(paths);
  return { exists: (p: string) => s.has(p) };
};

test('VLC percent-encoded relative entries are decoded; a literal file of that name still wins', (t) => {
  const text = 'sub%20dir/d.ogg\nCaf%C3%A9.flac\n100%25.mp3\n';
  const decoded = parseM3u(text, '/m/l.m3u8', files('/m/sub dir/d.ogg', '/m/Café.flac', '/m/100%.mp3'));
  t.deepEqual(
    decoded.entries.map((e) => e.path),
    ['/m/sub dir/d.ogg', '/m/Café.flac', '/m/100%.mp3'],
  );
  t.regex(decoded.entries[0]!.hint!, /percent-encoded .*"sub dir\/d\.ogg"/);
  const literal = parseM3u(text, '/m/l.m3u8', files('/m/sub%20dir/d.ogg', '/m/sub dir/d.ogg'));
  t.is(literal.entries[0]!.path, '/m/sub%20dir/d.ogg', 'the literal name wins when both exist');
  t.is(literal.entries[0]!.hint, undefined);
  // Neither exists: the decoded form (what VLC meant) is the one "not found" names, with the hint.
  const none = parseM3u('sub%20dir/x.ogg\n', '/m/l.m3u8', files());
  t.is(none.entries[0]!.path, '/m/sub dir/x.ogg');
  t.truthy(none.entries[0]!.hint);
  t.is(
    parseM3u('bad%E9.mp3\n', '/m/l.m3u8', files()).entries[0]!.path,
    '/m/bad%E9.mp3',
    'an escape that is not UTF-8 stays literal',
  );
});

test('Windows paths: backslashes tried with forward slashes; a drive path found by its tail under the playlist', (t) => {
  const pl = parseM3u(
    'Sub\\01 - Track.flac\nC:\\Music\\Ride\\02.flac\nC:\\Elsewhere\\03.flac\n',
    '/m/l.m3u8',
    files('/m/Sub/01 - Track.flac', '/m/Ride/02.flac'),
  );
  t.deepEqual(
    pl.entries.map((e) => e.path),
    ['/m/Sub/01 - Track.flac', '/m/Ride/02.flac', '/m/Elsewhere/03.flac'],
  );
  t.regex(pl.entries[0]!.hint!, /Windows path: read as "Sub\/01 - Track\.flac"/);
  t.regex(pl.entries[1]!.hint!, /found as "Ride\/02\.flac" beside the playlist/);
  t.regex(pl.entries[2]!.hint!, /is a Windows path: copy the music beside the playlist .* forward slashes/);
  const literal = parseM3u('odd\\name.flac\n', '/m/l.m3u8', files('/m/odd\\name.flac'));
  t.is(literal.entries[0]!.path, '/m/odd\\name.flac', 'a literal backslash name that exists wins');
});

function dir() {
  return tempDir('jas-m3u-');
}

test('a Latin-1 (Windows-1252) playlist is detected and read as such, and says so', async (t) => {
  const d = dir();
  writeFileSync(join(d, 'Chéri – Ça.flac'), 'x');
  // 0xE9 é, 0x96 en dash (Windows-1252), 0xC7 Ç: not valid UTF-8.
  writeFileSync(
    join(d, 'l.m3u'),
    Buffer.concat([
      Buffer.from('#EXTM3U\n#EXTINF:3,Ch'),
      Buffer.from([0xe9]),
      Buffer.from('ri\nCh'),
      Buffer.from([0xe9]),
      Buffer.from('ri '),
      Buffer.from([0x96]),
      Buffer.from(' '),
      Buffer.from([0xc7]),
      Buffer.from('a.flac\n'),
    ]),
  );
  const pl = await readPlaylist(join(d, 'l.m3u'));
  t.is(pl.encoding, 'windows-1252');
  t.is(pl.entries[0]!.path, join(d, 'Chéri – Ça.flac'));
  t.is(pl.entries[0]!.title, 'Chéri');
  t.regex(pl.notes![0]!, /not UTF-8: read as Latin-1\/Windows-1252/);
  writeFileSync(join(d, 'u.m3u8'), '#EXTM3U\nChéri – Ça.flac\n');
  const utf8 = await readPlaylist(join(d, 'u.m3u8'));
  t.is(utf8.encoding, 'utf-8');
  t.is(utf8.notes, undefined);
});

test('an audio file, binary data, an empty file and a playlist of comments are clear errors naming the file', async (t) => {
  const d = dir();
  const cases: Array<[string, Buffer | string, RegExp]> = [
    [
      'song.flac',
      Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(60, 1)]),
      /song\.flac is an audio file \(FLAC\), not a playlist: give an \.m3u/,
    ],
    ['song.mp3', Buffer.concat([Buffer.from('ID3'), Buffer.from([3, 0, 0]), Buffer.alloc(60)]), /audio file \(MP3\)/],
    ['a.m3u8', Buffer.from([0x41, 0x00, 0x42, 0x0a]), /binary data, not a text playlist/],
    ['empty.m3u8', '', /empty\.m3u8: empty file \(0 bytes\)/],
    ['comments.m3u8', '#EXTM3U\n# nothing here\n\n', /lists no music files \(only comments or blank lines\)/],
  ];
  for (const [name, content, re] of cases) {
    writeFileSync(join(d, name), content);
    await t.throwsAsync(readPlaylist(join(d, name)), { message: re }, name);
  }
  await t.throwsAsync(readPlaylist(join(d, 'nope.m3u8')), { message: /nope\.m3u8: file not found/ });
  mkdirSync(join(d, 'folder.m3u8'));
  await t.throwsAsync(readPlaylist(join(d, 'folder.m3u8')), { message: /is a folder, not a playlist file/ });
  t.is(sniffAudio(Buffer.from('#EXTM3U\n')), undefined, 'a playlist is not taken for audio');
  t.is(sniffAudio(Buffer.from('OggS\0\u0002')), 'Ogg (Vorbis/Opus)');
});
