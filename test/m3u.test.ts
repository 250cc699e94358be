import test from 'ava';
import { parseM3u } from '../src/player/m3u.js';

test('VLC-style m3u8: #EXTM3U, #EXTINF durations and titles, relative paths', (t) => {
  const pl = parseM3u('#EXTM3U\n#EXTINF:30,Artist - Title\n01 - Click.flac\n#EXTINF:25,Other\nsub/02.mp3\n', '/music/list.m3u8');
  t.deepEqual(pl.entries.map((e) => [e.line, e.path, e.durationSec, e.title]), [
    [3, '/music/01 - Click.flac', 30, 'Artist - Title'],
    [5, '/music/sub/02.mp3', 25, 'Other'],
  ]);
  t.deepEqual(pl.problems, []);
});

test('BOM, CRLF, repeated headers, #EXTVLCOPT and comments are handled; titles do not leak', (t) => {
  const text = '\uFEFF#EXTM3U\r\n#EXTM3U\r\n# a comment\r\n#EXTINF:-1,Live\r\n#EXTVLCOPT:network-caching=1000\r\na.ogg\r\n\r\nb.ogg\r\n';
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
  t.deepEqual(pl.entries.map((e) => e.path), ['/abs/x.flac', '/home/pi/My Music/été.mp3']);
});

test('network URLs and broken file URIs are problems with their line, not entries', (t) => {
  const pl = parseM3u('#EXTM3U\nhttp://radio.example/stream\nfile://remotehost/x.mp3\nok.mp3\n', '/m/l.m3u8');
  t.deepEqual(pl.entries.map((e) => e.raw), ['ok.mp3']);
  t.deepEqual(pl.problems.map((p) => p.line), [2, 3]);
  t.regex(pl.problems[0]!.message, /network stream/);
});
