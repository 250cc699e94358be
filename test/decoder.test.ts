import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFile, decodeToChunks, DecodeError } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

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
  const dir = tempDir('jas-dec-');
  const junk = join(dir, 'junk.mp3');
  writeFileSync(junk, Buffer.from('this is not audio at all, only text pretending'.repeat(20)));
  const bad = await t.throwsAsync(decodeFile(ffmpeg, junk, fmt), { instanceOf: DecodeError });
  t.true(bad!.message.includes(junk));
});

test('ffmpeg lookup: configured path must exist, else a clear install hint', (t) => {
  t.throws(() => findFfmpeg('/no/such/ffmpeg'), { message: /\/no\/such\/ffmpeg.*apt-get install ffmpeg/s });
  t.throws(() => findFfmpeg(undefined, { PATH: '/nonexistent' }), {
    message: /ffmpeg not found.*apt-get install ffmpeg/s,
  });
  t.is(findFfmpeg(undefined, { JAUDIOSYNC_FFMPEG: ffmpeg }).origin, 'env');
});

test('a manifest-length track decodes in a window behind playback: paused when full, resumed as chunks are released, identical to the whole decode', async (t) => {
  const click = join(music, '01 - Click Track.flac');
  const whole = await decodeFile(ffmpeg, click, fmt);
  const chunk = 65_536,
    ahead = 4 * chunk; // 5.5 s ahead at 48 kHz: the 30 s track needs several refills
  const d = await decodeToChunks(ffmpeg, click, fmt, { intoFrames: whole.frames, aheadFrames: ahead });
  t.false(d.complete, 'resolved with the first window, the rest to come');
  t.is(d.frames, whole.frames, "the timeline length is the manifest's from the start");
  // Paused: nothing more arrives however long we wait, beyond what was in flight in the pipe.
  const held = d.pcm.decodedFrames;
  await new Promise((r) => setTimeout(r, 300));
  t.true(d.pcm.decodedFrames - held < chunk, `${d.pcm.decodedFrames - held} frames arrived while paused`);
  t.true(d.pcm.bytesInRam <= (ahead + 2 * chunk) * 4, `${d.pcm.bytesInRam} bytes held`);
  // Play it: release behind the play head, compare every frame with the whole decode.
  const step = 24_000;
  let maxHeld = 0;
  for (let f = 0; f < whole.frames; f += step) {
    const n = Math.min(step, whole.frames - f);
    for (let wait = 0; d.pcm.decodedFrames < f + n && wait < 200; wait++) await new Promise((r) => setTimeout(r, 10));
    const got = Buffer.alloc(n * 4);
    d.pcm.copyFrames(f, f + n, got, 0);
    if (!got.equals(whole.pcm.subarray(f * 4, (f + n) * 4))) {
      t.fail(`frames ${f}..${f + n} differ`);
      return;
    }
    d.pcm.releaseBefore(f + n);
    maxHeld = Math.max(maxHeld, d.pcm.bytesInRam);
  }
  t.true(maxHeld <= (ahead + 2 * chunk) * 4, `at most one window held while playing: ${maxHeld} bytes`);
});

test('dropping a track whose windowed decode is paused stops its ffmpeg', async (t) => {
  const click = join(music, '01 - Click Track.flac');
  const d = await decodeToChunks(ffmpeg, click, fmt, { intoFrames: 30 * 48000, aheadFrames: 65_536 });
  t.false(d.complete);
  const before = d.pcm.decodedFrames;
  d.pcm.dispose();
  d.pcm.releaseBefore(10 * 48000); // would resume a live decode
  await new Promise((r) => setTimeout(r, 300));
  t.true(d.pcm.decodedFrames - before < 65_536, 'no more frames after dispose');
  t.is(d.pcm.onRelease, undefined);
});

test('without a manifest the whole track is decoded at once (its length is what ffmpeg gives)', async (t) => {
  const d = await decodeToChunks(ffmpeg, join(music, '01 - Click Track.flac'), fmt);
  t.true(d.complete);
  t.is(d.frames, 30 * 48000);
  t.is(d.pcm.decodedFrames, 30 * 48000);
});
