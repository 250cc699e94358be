import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFile, DecodeError } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { PACKAGE_DIR } from '../src/service/config.js';

const music = join(PACKAGE_DIR, 'Music');
const ffmpeg = findFfmpeg().path;
const fmt = { sampleRate: 48000, channels: 2 };

test('the 30 s FLAC click track decodes to exactly 1 440 000 frames with beeps on each second', async (t) => {
  const d = await decodeFile(ffmpeg, join(music, '01 - Click Track.flac'), fmt);
  t.is(d.frames, 30 * 48000);
  t.is(d.pcm.length, d.frames * 4);
  const at = (frame: number) => d.pcm.readInt16LE(frame * 4);
  // A beep lasts 40 ms from each whole second; the rest is digital silence.
  let loud = 0;
  for (let f = 0; f < 1920; f++) loud = Math.max(loud, Math.abs(at(f)));
  t.true(loud > 15000, `beep peak ${loud}`);
  for (const f of [2000, 24000, 47999]) t.is(at(f), 0);
  t.not(at(48000 + 10), 0);
});

test('tracks at other rates come out at the output rate: 20 s of 32 kHz Vorbis = 960 000 frames', async (t) => {
  const d = await decodeFile(ffmpeg, join(music, '03 - Pad in A Minor.ogg'), fmt);
  t.true(Math.abs(d.frames - 960000) <= 2, `${d.frames}`);
});

test('a missing file and an undecodable file are DecodeErrors naming the file', async (t) => {
  const missing = await t.throwsAsync(decodeFile(ffmpeg, '/nope/missing.flac', fmt), { instanceOf: DecodeError });
  t.regex(missing!.message, /not found: \/nope\/missing\.flac/);
  const dir = mkdtempSync(join(tmpdir(), 'jas-dec-'));
  const junk = join(dir, 'junk.mp3');
  writeFileSync(junk, Buffer.from('this is not audio at all, only text pretending'.repeat(20)));
  const bad = await t.throwsAsync(decodeFile(ffmpeg, junk, fmt), { instanceOf: DecodeError });
  t.true(bad!.message.includes(junk));
});

test('ffmpeg lookup: configured path must exist, else a clear install hint', (t) => {
  t.throws(() => findFfmpeg('/no/such/ffmpeg'), { message: /\/no\/such\/ffmpeg.*apt-get install ffmpeg/s });
  t.throws(() => findFfmpeg(undefined, { PATH: '/nonexistent' }), { message: /ffmpeg not found.*apt-get install ffmpeg/s });
  t.is(findFfmpeg(undefined, { JAUDIOSYNC_FFMPEG: ffmpeg }).origin, 'env');
});
