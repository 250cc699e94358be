import test from 'ava';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { decodeProblem } from '../src/cli/entry-check.js';
import { noise } from './helpers/noise.js';

/** `jaudiosync playlist` on a playlist as people have them: VLC escapes, Latin-1, a summary line. */

const FLAC = join(PACKAGE_DIR, 'Music', '01 - Click Track.flac');

test('playlist: a Latin-1 file with a VLC percent-encoded entry is read, said so, and summed up', async (t) => {
  const dir = tempDir('jas-plcli-');
  mkdirSync(join(dir, 'sub dir'));
  copyFileSync(FLAC, join(dir, 'sub dir', 'a.flac'));
  copyFileSync(FLAC, join(dir, 'Chéri.flac'));
  writeFileSync(
    join(dir, 'l.m3u'),
    Buffer.concat([Buffer.from('#EXTM3U\nsub%20dir/a.flac\nCh'), Buffer.from([0xe9]), Buffer.from('ri.flac\n')]),
  );
  const r = await runCli(['playlist', join(dir, 'l.m3u')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^note: .*l\.m3u is not UTF-8: read as Latin-1\/Windows-1252/);
  t.regex(
    r.stdout,
    /sub dir\/a\.flac\n\s+FLAC 48000 Hz 30\.0 s .*\n\s+\(percent-encoded \(as VLC writes it\): read as "sub dir\/a\.flac"\)/,
  );
  t.regex(r.stdout, /Chéri\.flac\n\s+FLAC 48000 Hz 30\.0 s/);
  t.regex(r.stdout, /\n2 entries, total length 1:00, no problems\n$/);
  const j = JSON.parse((await runCli(['playlist', join(dir, 'l.m3u'), '--json'])).stdout) as {
    encoding: string;
    summary: string;
    entries: unknown[];
  };
  t.is(j.encoding, 'windows-1252');
  t.is(j.summary, '2 entries, total length 1:00, no problems');
  t.is(j.entries.length, 2);
});

const MP3 = join(PACKAGE_DIR, 'Music', '02 - Arpeggio in Fifths.mp3');

test('playlist: every entry line is counted, a URL too', async (t) => {
  const dir = tempDir('jas-plcli-');
  copyFileSync(FLAC, join(dir, 'a.flac'));
  copyFileSync(FLAC, join(dir, 'b.flac'));
  writeFileSync(join(dir, 'l.m3u8'), '#EXTM3U\na.flac\nhttp://example.com/a.mp3\ngone.flac\nb.flac\nalso-gone.flac\n');
  const r = await runCli(['playlist', join(dir, 'l.m3u8')]);
  t.is(r.code, 1);
  t.regex(r.stdout, /\n {3}3 {2}-\n\s+PROBLEM: "http:\/\/example\.com\/a\.mp3" is a network stream/);
  t.regex(r.stdout, /\n5 entries, total length 1:00 \(without 3 of unknown length\), 3 problems\n$/);
});

test('playlist: a cut-short MP3, one with junk after its header and random bytes are problems (each decoded)', async (t) => {
  const dir = tempDir('jas-plcli-');
  const mp3 = readFileSync(MP3);
  // The first 30 %: the header still says 25.1 s; ffmpeg decodes 7.5 s (an interrupted copy).
  writeFileSync(join(dir, 'cut.mp3'), mp3.subarray(0, Math.round(mp3.length * 0.3)));
  writeFileSync(join(dir, 'junk.mp3'), Buffer.concat([mp3.subarray(0, 4096), noise(200_000, 7)]));
  writeFileSync(join(dir, 'noise.mp3'), noise(100_000));
  copyFileSync(MP3, join(dir, 'whole.mp3'));
  writeFileSync(join(dir, 'l.m3u8'), 'cut.mp3\njunk.mp3\nnoise.mp3\nwhole.mp3\n');
  const r = await runCli(['playlist', join(dir, 'l.m3u8')]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(
    r.stdout,
    /cut\.mp3\n\s+PROBLEM: cut short: decodes to 7\.\d s of audio, its header says 25\.1 s \(an interrupted copy\?\)/,
  );
  t.regex(
    r.stdout,
    /junk\.mp3\n\s+PROBLEM: not decodable audio \(ffmpeg could not decode it \(exit \d+\): Header missing/,
  );
  t.regex(r.stdout, /noise\.mp3\n\s+PROBLEM: not decodable audio \(ffmpeg could not decode it/);
  t.regex(r.stdout, /whole\.mp3\n\s+MPEG 44100 Hz 25\.1 s/);
  t.regex(r.stdout, /\n4 entries, total length 0:25 \(without 3 of unknown length\), 3 problems\n$/);
});

test("a decode failure is said in ffmpeg's words, less the path and its [codec @ 0x…] prefixes, wherever they stand", (t) => {
  const path = '/music/a.mp3';
  const e = new Error(
    `ffmpeg could not decode ${path} (exit 69): [mp3float @ 0x5621] Header missing; Invalid data found [mp3float @ 0x562190da9980]`,
  );
  t.is(
    decodeProblem(e, path),
    'not decodable audio (ffmpeg could not decode it (exit 69): Header missing; Invalid data found)',
  );
});
