import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { readWav16, runCli } from './helpers/cli.js';
import { alignedDiff, halfFrameDiff } from './helpers/compare.js';

/**
 * The manifest makes every device's timeline identical: a device whose file differs plays silence
 * for exactly that slot and stays in sync after it; a device that starts late decodes only what it
 * joins, at the frame that belongs there.
 */

const ffmpeg = findFfmpeg().path;
const tone = (file: string, hz: number, secs: number, rate = 48000) =>
  execFileSync(ffmpeg, ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=0.4*sin(2*PI*${hz}*t+1):s=${rate}:d=${secs}`, '-ac', '2', file]);

function playlistDir() {
  const dir = mkdtempSync(join(tmpdir(), 'jas-tl-'));
  tone(join(dir, 'a.flac'), 330, 1.0);
  tone(join(dir, 'b.flac'), 440, 0.8, 44100);
  tone(join(dir, 'c.flac'), 550, 1.2);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\na.flac\nb.flac\nc.flac\n');
  return dir;
}

test('timeline build writes hashes and frame counts; show reports the slot of a differing file', async (t) => {
  const dir = playlistDir();
  const b = await runCli(['timeline', 'build', join(dir, 'list.m3u8')]);
  t.is(b.code, 0, b.stderr);
  const m = JSON.parse(readFileSync(join(dir, 'list.m3u8.manifest.json'), 'utf8')) as { entries: Array<{ frames: number; sha256: string }>; totalFrames: number };
  t.deepEqual(m.entries.map((e) => e.frames), [48000, 38400, 57600]);
  t.is(m.totalFrames, 144000);
  tone(join(dir, 'b.flac'), 880, 0.8, 44100); // this device got another b.flac
  const s = await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--json']);
  t.is(s.code, 1);
  const rows = (JSON.parse(s.stdout) as { tracks: Array<{ status: string; startFrame: number }> }).tracks;
  t.deepEqual(rows.map((r) => [r.startFrame, r.status.split(':')[0]]), [[0, 'ok'], [48000, 'DIFFERS here'], [86400, 'ok']]);
});

test('a device with a differing file plays silence for its slot and the next track exactly on its frame', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  tone(join(dir, 'b.flac'), 880, 0.75, 44100); // differs, and is shorter
  writeFileSync(join(dir, 'c.toml'), ['[hardware]', 'mode = "simulated"', '[schedule]', 'start = "+1"', '[playlist]', 'path = "list.m3u8"', '[audio]', 'output = "wav"', 'wav_path = "out.wav"'].join('\n'));
  const r = await runCli(['run', '--config', join(dir, 'c.toml')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout + r.stderr, /line 3 \(b\.flac\): .*differs from the one in the timeline manifest; playing silence for its 0\.8 s/);
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  let onset = 0;
  while (wav.data.readInt16LE(onset * 4) === 0) onset++;
  const a = await decodeFile(ffmpeg, join(dir, 'a.flac'), { sampleRate: 48000, channels: 2 });
  const c = await decodeFile(ffmpeg, join(dir, 'c.flac'), { sampleRate: 48000, channels: 2 });
  const check = (got: Buffer, want: Buffer, what: string) => {
    if (got.equals(want)) return; // bit-exact, unless the clock moved enough for the aligner to resample
    const d = alignedDiff(got, want);
    t.is(d.lag, 0, `${what}: on its frame`);
    t.true(d.maxDiff <= halfFrameDiff(550, 0.4), `${what}: max sample difference ${d.maxDiff}`);
  };
  check(wav.data.subarray(onset * 4, (onset + 48000) * 4), a.pcm, 'track a');
  // Silence for exactly the slot of b (resampling may ring into its first and last two frames).
  t.true(wav.data.subarray((onset + 48002) * 4, (onset + 86398) * 4).every((x) => x === 0), 'silence for the slot of b');
  t.true(wav.data.subarray((onset + 47000) * 4, (onset + 48000) * 4).some((x) => x !== 0) && wav.data.subarray((onset + 86400) * 4, (onset + 87000) * 4).some((x) => x !== 0), 'the slot is not longer than b');
  check(wav.data.subarray((onset + 86400) * 4, (onset + 144000) * 4), c.pcm, 'track c');
});

test('late join with a manifest: starts inside the timeline on the frame that belongs there', async (t) => {
  const dir = playlistDir();
  // A longer timeline so that the join lands inside it: three copies of the list.
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\na.flac\nb.flac\nc.flac\na.flac\nb.flac\nc.flac\na.flac\nb.flac\nc.flac\n');
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  // The start is 1 s after the process starts (taken after the builds: on a loaded machine they
  // take seconds each): the clock locks ~4 s later, so it joins ~3 s late.
  const at = new Date(Date.now() + 1000).toISOString();
  // repeat = 3: a 27 s timeline, so that even a slow lock on a loaded machine joins inside it.
  writeFileSync(join(dir, 'c.toml'), ['[hardware]', 'mode = "simulated"', '[schedule]', `start = "${at}"`, '[playlist]', 'path = "list.m3u8"', 'repeat = 3', '[audio]', 'output = "wav"', 'wav_path = "out.wav"'].join('\n'));
  const r = await runCli(['run', '--config', join(dir, 'c.toml')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /joined late at 0:\d\d into the playlist/);
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  const side = JSON.parse(readFileSync(join(dir, 'out.wav.json'), 'utf8')) as { firstFrameRealtimeNs: string; startUtcNs: string };
  // Rebuild the timeline and compare: wav frame k must carry timeline frame k + shift.
  const parts = await Promise.all(['a', 'b', 'c'].map((n) => decodeFile(ffmpeg, join(dir, `${n}.flac`), { sampleRate: 48000, channels: 2 })));
  const once = [...parts, ...parts, ...parts].map((p) => p.pcm);
  const timeline = Buffer.concat(Array.from({ length: 3 }, () => once).flat());
  const shift = Math.round(Number(BigInt(side.firstFrameRealtimeNs) - BigInt(side.startUtcNs)) * 48000 / 1e9);
  let onset = 0;
  while (wav.data.readInt16LE(onset * 4) === 0 && wav.data.readInt16LE(onset * 4 + 2) === 0) onset++;
  const f = onset + shift;
  t.true(f > 48000, `joined at timeline frame ${f}`);
  const got = wav.data.subarray((onset + 100) * 4, (onset + 4900) * 4);
  let best = Infinity, bestLag = 0;
  for (let lag = -2; lag <= 2; lag++) {
    const want = timeline.subarray((f + 100 + lag) * 4, (f + 4900 + lag) * 4);
    let d = 0;
    for (let i = 0; i < got.length; i += 2) d = Math.max(d, Math.abs(got.readInt16LE(i) - want.readInt16LE(i)));
    if (d < best) { best = d; bestLag = lag; }
  }
  // On the exact frame, as far as the clock itself knows: a busy machine may leave the simulated
  // GPS's clock a few µs off, and a bound over half a frame (10.4 µs) allows the next frame.
  const b = /joined late .*±([\d.]+) (ns|µs|ms)\)/.exec(r.stdout);
  const boundUs = b ? Number(b[1]) * { ns: 1e-3, µs: 1, ms: 1e3 }[b[2] as 'ns' | 'µs' | 'ms'] : 0;
  const allowed = Math.floor(boundUs * 48e-3 + 0.5);
  t.true(Math.abs(bestLag) <= allowed, `on the exact frame: lag ${bestLag}, the clock's bound ±${boundUs} µs allows ${allowed}`);
  // Bit-exact unless the clock moved enough for the aligner to resample (then within half a frame:
  // at most ~470 for this 550 Hz tone; a whole frame off would be ~940 and another lag would win).
  t.true(best <= 600, `max sample difference ${best}`);
});

test('what plays at an instant is a lookup on the manifest; repeat makes one longer fixed timeline', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  const start = '2026-06-27T18:55:00+02:00';
  const ask = async (at: string) => JSON.parse((await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--start', start, '--at', at, '--json'])).stdout) as { timelineFrame: number; playing: { track: number; frame: number } | null };
  t.deepEqual((await ask('2026-06-27T18:55:01.500+02:00')).playing, { track: 2, path: 'b.flac', frame: 24000, positionSec: 0.5 });
  t.is((await ask('2026-06-27T18:54:59+02:00')).playing, null, 'before the start');
  t.is((await ask('2026-06-27T18:55:05+02:00')).playing, null, 'after the end');
  const m = JSON.parse(readFileSync(join(dir, 'list.m3u8.manifest.json'), 'utf8'));
  const { repeatManifest, slotAt } = await import('../src/player/manifest.js');
  const twice = repeatManifest(m, 2);
  t.is(twice.totalFrames, 288000);
  t.deepEqual([slotAt(twice, 0, 144000 + 10)!.index, slotAt(twice, 0, 144000 + 10)!.frameInTrack], [3, 10]);
  t.is(slotAt(twice, 4800, 48000 + 100), undefined, 'inside a gap');
});
