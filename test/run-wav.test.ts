import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { readWav16, runCli } from './helpers/cli.js';
import { alignedDiff, halfFrameDiff } from './helpers/compare.js';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';
import { simTruth } from './helpers/sim-truth.js';

/**
 * The whole `jaudiosync run` path on the twins, in real time: simulated GPS through a socat pty,
 * the clock layer, ffmpeg decoding into RAM, and the WAV "device" (what a machine without a sound
 * card gets). The twin's truth is the system clock, so the WAV's sidecar (frame 0's realtime
 * instant) tells exactly where the first sample landed against the configured start.
 */

const ffmpeg = findFfmpeg().path;

test('jaudiosync run: first sample on the start instant, tracks gapless, then it exits', async (t) => {
  const dir = tempDir('jas-run-');
  // Two tracks whose very first sample is loud (sine with a phase), at different rates and formats.
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.5*sin(2*PI*440*t+1):s=48000:d=1.2',
    '-ac',
    '2',
    join(dir, 'a.flac'),
  ]);
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.4*sin(2*PI*660*t+1):s=44100:d=0.9',
    '-ac',
    '2',
    join(dir, 'b.wav'),
  ]);
  writeFileSync(
    join(dir, 'list.m3u8'),
    '#EXTM3U\n#EXTINF:1,Test - A\na.flac\nmissing.ogg\n#EXTINF:1,Test - B\nb.wav\n',
  );
  writeFileSync(
    join(dir, 'config.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      // 4 s: under CI's load (event-loop stalls of 1 s) 2 s after the lock were once not enough to
      // be ready at the start ("joined late at 0:00").
      'start = "+4"',
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
    ].join('\n'),
  );
  const truth = simTruth();
  const r = await runCli(['run', '--config', join(dir, 'config.toml')], { env: truth.env });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /clock: .* -> locked \(gps\+pps\)/);
  t.regex(r.stdout, /ready in \d+ ms: .*locked \(gps\+pps, ±[\d.]+ µs\)/, 'ready only on a settled GPS lock');
  t.regex(r.stdout, /first sample placed/);
  t.regex(r.stdout, /playlist finished/);
  t.regex(
    r.stdout + r.stderr,
    /line 4 \(missing\.ogg\): music file not found.*skipping it/,
    'a missing file is named with its playlist line',
  );

  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  const side = JSON.parse(readFileSync(join(dir, 'out.wav.json'), 'utf8')) as {
    firstFrameMonoNs: string;
    startUtcNs: string;
    sampleRate: number;
  };
  t.is(wav.sampleRate, 48000);
  t.is(wav.channels, 2);
  const frameAt = (f: number) => wav.data.readInt16LE(f * 4);
  // The onset is the first frame past half the tone's first sample (0.5·sin 1): when the clock moved
  // enough for the aligner to resample, its interpolation rings up to two frames before the step.
  const halfStep = (0.5 * Math.sin(1) * 32767) / 2;
  let onset = 0;
  while (onset < wav.frames && Math.abs(frameAt(onset)) < halfStep) onset++;
  // Judged on the twins' truth (on the monotonic clock: a system clock step meanwhile moves neither).
  const expected = (Number(BigInt(side.startUtcNs) - truth.utcOfMono(BigInt(side.firstFrameMonoNs))) * 48000) / 1e9;
  const errorUs = ((onset - expected) / 48000) * 1e6;
  t.log(`first sample ${errorUs.toFixed(1)} µs from the start instant`);
  t.true(Math.abs(errorUs) < 1000, `onset ${onset}, expected ${expected.toFixed(1)} (${errorUs.toFixed(0)} µs)`);

  // From the onset on, the file is exactly track A then track B, sample for sample, then silence.
  const fmt = { sampleRate: 48000, channels: 2 };
  const a = await decodeFile(ffmpeg, join(dir, 'a.flac'), fmt);
  const b = await decodeFile(ffmpeg, join(dir, 'b.wav'), fmt);
  const played = wav.data.subarray(onset * 4, (onset + a.frames + b.frames) * 4);
  const playlistPcm = Buffer.concat([a.pcm, b.pcm]);
  if (!played.equals(playlistPcm)) {
    // Only if the clock moved enough for the aligner to resample: then within a sub-frame shift.
    const d = alignedDiff(played, playlistPcm);
    t.is(d.lag, 0, 'gapless: no frame lost or added');
    t.true(d.maxDiff <= halfFrameDiff(660, 0.5), `max sample difference ${d.maxDiff}`);
  }
  // Silence after the playlist (if the aligner resampled, its interpolation may ring into 2 frames).
  const resampled = !played.equals(playlistPcm);
  const after = wav.data.subarray((onset + a.frames + b.frames + (resampled ? 3 : 0)) * 4);
  t.true(
    after.every((x) => x === 0),
    'silence after the playlist',
  );
});

test('jaudiosync run with a broken config says which key and exits non-zero', async (t) => {
  const dir = tempDir('jas-run-');
  writeFileSync(join(dir, 'bad.toml'), '[audio]\nsample_rate = "fast"\n');
  const r = await runCli(['run', '--config', join(dir, 'bad.toml')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /bad\.toml: invalid config\n\s+- audio\.sample_rate = "fast": expected number, got string/);
});

test('with no audio device at all it says so in one line and plays into the WAV file instead', async (t) => {
  const dir = tempDir('jas-nodev-');
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.5*sin(2*PI*440*t+1):s=48000:d=0.5',
    '-ac',
    '2',
    join(dir, 'a.flac'),
  ]);
  writeFileSync(join(dir, 'list.m3u8'), 'a.flac\n');
  writeFileSync(
    join(dir, 'config.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      'start = "+1"',
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "alsa"',
      'wav_path = "fallback.wav"',
    ].join('\n'),
  );
  // An empty HOME and no sound card: ALSA has no default device to offer.
  mkdirSync(join(dir, 'home'));
  const r = await runCli(['run', '--config', join(dir, 'config.toml')], { env: { HOME: join(dir, 'home') } });
  t.is(r.code, 0, r.stdout + r.stderr);
  const said = (r.stdout + r.stderr).split('\n').filter((l) => /no audio device/.test(l));
  t.is(said.length, 1, said.join('\n'));
  t.regex(said[0]!, /writing the output to .*fallback\.wav instead/);
  t.notRegex(r.stdout + r.stderr, /ALSA lib/, "libasound's probing noise stays out of the service's output");
  const wav = readWav16(readFileSync(join(dir, 'fallback.wav')));
  t.true(
    wav.data.some((b) => b !== 0),
    'the track is in the file',
  );
});

test('config check prints the resolved config; playlist lists entries and problems', async (t) => {
  const c = await runCli(['config', 'check']);
  t.is(c.code, 0);
  t.regex(c.stdout, /\[audio\]\nsample_rate = 48000|sample_rate = 48000/);
  const dir = tempDir('jas-pl-');
  writeFileSync(join(dir, 'l.m3u8'), `#EXTM3U\nnothere.mp3\n${join(PACKAGE_DIR, 'Music', '01 - Click Track.flac')}\n`);
  const p = await runCli(['playlist', join(dir, 'l.m3u8'), '--json']);
  t.is(p.code, 1, 'a problem makes the exit code non-zero');
  const doc = JSON.parse(p.stdout) as {
    entries: Array<{ line: number; exists: boolean; sampleRate?: number; durationSec?: number; problem?: string }>;
  };
  t.deepEqual(
    doc.entries.map((e) => [e.line, e.exists, e.problem]),
    [
      [2, false, 'file not found'],
      [3, true, undefined],
    ],
  );
  t.is(doc.entries[1]!.sampleRate, 48000);
  t.true(Math.abs(doc.entries[1]!.durationSec! - 30) < 0.01);
});

test('play PLAYLIST --from-track 2 --clock system: one-off playback from the second track, no waiting for a lock', async (t) => {
  const dir = tempDir('jas-play-');
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.5*sin(2*PI*440*t+1):s=48000:d=0.5',
    '-ac',
    '2',
    join(dir, 'a.flac'),
  ]);
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'aevalsrc=0.3*sin(2*PI*660*t+1):s=48000:d=0.5',
    '-ac',
    '2',
    join(dir, 'b.flac'),
  ]);
  writeFileSync(join(dir, 'l.m3u8'), 'a.flac\nb.flac\n');
  const started = Date.now();
  const r = await runCli(
    [
      'play',
      join(dir, 'l.m3u8'),
      '--from-track',
      '2',
      '--clock',
      'system',
      '--at',
      '+1',
      '--output',
      'wav',
      '--wav',
      join(dir, 'o.wav'),
    ],
    { env: { HOME: dir } },
  );
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout + r.stderr, /no time source configured/);
  t.true(Date.now() - started < 15_000, 'did not wait for a lock that cannot come');
  const wav = readWav16(readFileSync(join(dir, 'o.wav')));
  let onset = 0;
  while (wav.data.readInt16LE(onset * 4) === 0) onset++;
  const b = await decodeFile(ffmpeg, join(dir, 'b.flac'), { sampleRate: 48000, channels: 2 });
  t.true(wav.data.subarray(onset * 4, (onset + 1000) * 4).equals(b.pcm.subarray(0, 4000)), 'it starts with track 2');
  const bad = await runCli(['play', join(dir, 'l.m3u8'), '--from-track', '5']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--from-track 5: the playlist has tracks 1 to 2/);
});

test('a planned stop before the playlist ends is said as a stop, not as the playlist finishing', async (t) => {
  const dir = tempDir('jas-stop-');
  const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString();
  writeFileSync(
    join(dir, 'config.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      // After the simulated GPS's lock (~6 s here, longer on a loaded machine): 3 s of music.
      `start = "${at(15_000)}"`,
      `stop = "${at(18_000)}"`,
      '[playlist]',
      `path = "${join(PACKAGE_DIR, 'Music/Playlist.m3u8')}"`,
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
    ].join('\n'),
  );
  const r = await runCli(['run', '--config', join(dir, 'config.toml')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /stopped at the planned stop \(schedule\.stop or a stop command\) before the playlist's end/);
  t.notRegex(r.stdout, /playlist finished/, 'the 99 s playlist did not finish in 3 s');
  // The music in the file lasts about as long as start to stop (and its fade), not the playlist.
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  let first = 0,
    last = 0;
  for (let f = 0; f < wav.frames; f++)
    if (wav.data.readInt16LE(f * 4) !== 0 || wav.data.readInt16LE(f * 4 + 2) !== 0) {
      if (!first) first = f;
      last = f;
    }
  const musicSec = (last - first) / wav.sampleRate;
  t.true(musicSec > 1 && musicSec < 5, `${musicSec.toFixed(2)} s of music between start and stop`);
});
