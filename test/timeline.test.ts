import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFile } from '../src/player/decoder.js';
import { findFfmpeg } from '../src/player/ffmpeg.js';
import { readWav16, runCli } from './helpers/cli.js';
import { simTruth } from './helpers/sim-truth.js';
import { alignedDiff, halfFrameDiff } from './helpers/compare.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The manifest makes every device's timeline identical: a device whose file differs plays silence
 * for exactly that slot and stays in sync after it; a device that starts late decodes only what it
 * joins, at the frame that belongs there.
 */

const ffmpeg = findFfmpeg().path;
const tone = (file: string, hz: number, secs: number, rate = 48000) =>
  execFileSync(ffmpeg, [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=0.4*sin(2*PI*${hz}*t+1):s=${rate}:d=${secs}`,
    '-ac',
    '2',
    file,
  ]);

function playlistDir() {
  const dir = tempDir('jas-tl-');
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
  const m = JSON.parse(readFileSync(join(dir, 'list.m3u8.manifest.json'), 'utf8')) as {
    entries: Array<{ frames: number; sha256: string }>;
    totalFrames: number;
  };
  t.deepEqual(
    m.entries.map((e) => e.frames),
    [48000, 38400, 57600],
  );
  t.is(m.totalFrames, 144000);
  tone(join(dir, 'b.flac'), 880, 0.8, 44100); // this device got another b.flac
  const s = await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--json']);
  t.is(s.code, 1);
  const rows = (JSON.parse(s.stdout) as { tracks: Array<{ status: string; startFrame: number }> }).tracks;
  t.deepEqual(
    rows.map((r) => [r.startFrame, r.status.split(':')[0]]),
    [
      [0, 'ok'],
      [48000, 'DIFFERS here'],
      [86400, 'ok'],
    ],
  );
});

test('a device with a differing file plays silence for its slot and the next track exactly on its frame', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  tone(join(dir, 'b.flac'), 880, 0.75, 44100); // differs, and is shorter
  writeFileSync(
    join(dir, 'c.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      'start = "+3"',
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
    ].join('\n'),
  );
  const r = await runCli(['run', '--config', join(dir, 'c.toml')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(
    r.stdout + r.stderr,
    /line 3 \(b\.flac\): .*differs from the one in the timeline manifest; playing silence for its 0\.8 s/,
  );
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  // Where the music is from the sidecar, not from its first non-zero sample: when the clock moved
  // enough for the aligner to resample, the interpolator rings up to two frames before the onset.
  const { k, placedFrames } = placedSample(dir);
  const f = Math.round(placedFrames);
  t.log(`placed at file frame ${k}: timeline frame ${placedFrames.toFixed(3)}`);
  if (f !== 0) t.regex(r.stdout, /joined late/, `a start off frame 0 (${f}) is a late join, and said`);
  t.true(
    wav.data.subarray(0, (k - 2) * 4).every((x) => x === 0),
    'nothing before the placed sample',
  );
  // Wav frame m carries timeline frame f + (m - k).
  const wavAt = (timelineFrame: number) => k + timelineFrame - f;
  const a = await decodeFile(ffmpeg, join(dir, 'a.flac'), { sampleRate: 48000, channels: 2 });
  const c = await decodeFile(ffmpeg, join(dir, 'c.flac'), { sampleRate: 48000, channels: 2 });
  const check = (fromFrame: number, toFrame: number, want: Buffer, what: string) => {
    const from = Math.max(fromFrame, f);
    const got = wav.data.subarray(wavAt(from) * 4, wavAt(toFrame) * 4);
    // Bit-exact, unless the clock moved enough for the aligner to resample.
    if (got.equals(want.subarray((from - fromFrame) * 4))) return;
    const d = alignedDiff(got, want, from - fromFrame);
    t.is(d.lag, 0, `${what}: on its frame`);
    t.true(d.maxDiff <= halfFrameDiff(550, 0.4), `${what}: max sample difference ${d.maxDiff}`);
  };
  if (f < 47000) check(0, 48000, a.pcm, 'track a');
  // Silence for exactly the slot of b (resampling may ring into its first and last two frames).
  t.true(
    wav.data.subarray(wavAt(Math.max(f, 48002)) * 4, wavAt(86398) * 4).every((x) => x === 0),
    'silence for the slot of b',
  );
  t.true(
    (f > 47000 || wav.data.subarray(wavAt(47000) * 4, wavAt(48000) * 4).some((x) => x !== 0)) &&
      wav.data.subarray(wavAt(86400) * 4, wavAt(87000) * 4).some((x) => x !== 0),
    'the slot is not longer than b',
  );
  check(86400, 144000, c.pcm, 'track c');
});

/** The WAV sidecar's placed sample: its file frame k and the timeline frame the clock gave it. */
function placedSample(dir: string) {
  const side = JSON.parse(readFileSync(join(dir, 'out.wav.json'), 'utf8')) as {
    fileFrame: number;
    startUtcNs: string;
    firstFrameRealtimeNs: string;
    firstFrameRealtimeErrorNs: number;
    firstFrameMonoNs: string;
    firstFrameClockUtcNs: string;
    placedStreamFrame: number;
    placedClockUtcNs: string;
    clockErrorBoundNs: number;
  };
  const placedFrames = (Number(BigInt(side.placedClockUtcNs) - BigInt(side.startUtcNs)) * 48000) / 1e9;
  return { side, placedFrames, k: side.fileFrame + side.placedStreamFrame };
}

test('late join with a manifest: starts inside the timeline on the frame that belongs there', async (t) => {
  const dir = playlistDir();
  // A longer timeline so that the join lands inside it: three copies of the list.
  writeFileSync(
    join(dir, 'list.m3u8'),
    '#EXTM3U\na.flac\nb.flac\nc.flac\na.flac\nb.flac\nc.flac\na.flac\nb.flac\nc.flac\n',
  );
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  // The start is 1 s after the process starts (taken after the builds: on a loaded machine they
  // take seconds each): the clock locks ~4 s later, so it joins ~3 s late; under CI's load the
  // lock took 17-26 s (a join 26 s in left 1 s of a 27 s timeline).
  const atMs = Date.now() + 1000;
  const at = new Date(atMs).toISOString();
  // repeat = 6: a 54 s timeline, so that even a slow lock on a loaded machine joins well inside it;
  // stopped at 38 s so that a quick lock does not play 50 s of it.
  writeFileSync(
    join(dir, 'c.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      `start = "${at}"`,
      `stop = "${new Date(atMs + 38_000).toISOString()}"`,
      '[playlist]',
      'path = "list.m3u8"',
      'repeat = 6',
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
    ].join('\n'),
  );
  const truth = simTruth();
  const r = await runCli(['run', '--config', join(dir, 'c.toml')], { env: truth.env });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /joined late at 0:\d\d into the playlist/);
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  // Rebuild the timeline and compare: the first sample placed (at file frame k) must carry the
  // timeline frame of the instant the disciplined clock gave frame k when it was placed (what the
  // player answers for; the clock's rate against the monotonic clock, and a slew, are in that instant).
  const parts = await Promise.all(
    ['a', 'b', 'c'].map((n) => decodeFile(ffmpeg, join(dir, `${n}.flac`), { sampleRate: 48000, channels: 2 })),
  );
  const once = [...parts, ...parts, ...parts].map((p) => p.pcm);
  const timeline = Buffer.concat(Array.from({ length: 6 }, () => once).flat());
  const { side, placedFrames, k } = placedSample(dir);
  const f = Math.round(placedFrames);
  const fromFrame0 = (Number(BigInt(side.firstFrameClockUtcNs) - BigInt(side.startUtcNs)) * 48000) / 1e9 + k;
  t.log(
    `placed at file frame ${k}: timeline frame ${placedFrames.toFixed(3)}; from frame 0's instant at the nominal rate ${fromFrame0.toFixed(3)} (the clock's rate and slew make the difference)`,
  );
  t.true(f > 48000, `joined at timeline frame ${f}`);
  // The music from the placed sample on, or (a decode late on a loaded machine: said in the log)
  // from where it begins after it: wav frame m carries timeline frame f + (m - k) either way.
  let m = k;
  while (m < wav.frames && wav.data.readInt16LE(m * 4) === 0 && wav.data.readInt16LE(m * 4 + 2) === 0) m++;
  if (m - k > 2400) t.regex(r.stdout, /silence: the audio due now is not decoded yet/, 'a late start is said');
  const fm = f + (m - k);
  const got = wav.data.subarray((m + 100) * 4, (m + 4900) * 4);
  let best = Infinity,
    bestLag = 0;
  for (let lag = -2; lag <= 2; lag++) {
    const want = timeline.subarray((fm + 100 + lag) * 4, (fm + 4900 + lag) * 4);
    let d = 0;
    for (let i = 0; i < got.length; i += 2) d = Math.max(d, Math.abs(got.readInt16LE(i) - want.readInt16LE(i)));
    if (d < best) {
      best = d;
      bestLag = lag;
    }
  }
  const said = r.stdout
    .split('\n')
    .filter((l) => /clock|locked|joined|stepped|late|re-seek|re-placed|underrun|moved|SIMULATED GPS/i.test(l))
    .slice(0, 30)
    .join('\n');
  // Where the best lag is later on too: a jump after the placement, or a drift, shows here.
  // Past either end (a join late in the timeline) there is nothing to compare: 'n/a', never a throw.
  const lagAt = (from: number) => {
    const inside = m + from + 2000 <= wav.frames && fm + from + 3 + 2000 <= timeline.length / 4;
    if (!inside) return 'n/a';
    let bestD = Infinity,
      lagBest = 0;
    for (let lag = -3; lag <= 3; lag++) {
      let d = 0;
      for (let i = 0; i < 2000 * 2; i++)
        d = Math.max(
          d,
          Math.abs(wav.data.readInt16LE((m + from) * 4 + i * 2) - timeline.readInt16LE((fm + from + lag) * 4 + i * 2)),
        );
      if (d < bestD) [bestD, lagBest] = [d, lag];
    }
    return lagBest;
  };
  const lags = [0, 2400, 24_000, 48_000].map((x) => `${x}: ${lagAt(x)}`).join(', ');
  // On the clock's frame (a fraction within a tenth of a frame of .5 may round either way).
  const nearHalf = Math.abs(Math.abs(placedFrames - Math.trunc(placedFrames)) - 0.5) < 0.1;
  t.true(
    Math.abs(bestLag) <= (nearHalf ? 1 : 0),
    `on the clock's frame: lag ${bestLag} (timeline frame ${placedFrames.toFixed(3)} at file frame ${k}, music from file frame ${m}); best lag from there +${lags} frames; sidecar ${JSON.stringify(side)}; the run said:\n${said}`,
  );
  // Nothing before it: the file is silent up to the placed sample (the join is not early).
  t.true(
    wav.data.subarray(0, k * 4).every((b) => b === 0),
    'silence before the placed sample',
  );
  // ... and the clock there as close to the simulated sky's truth (this test's, on the monotonic
  // clock: a step of the system clock meanwhile moves neither) as its bound and the realtime
  // estimate (through which the kernel-style PPS stamps came) allow.
  t.regex(r.stdout, /its true time is shared \(JAUDIOSYNC_SIM_UTC_MINUS_MONO_NS\)/);
  const offUs = Number(BigInt(side.firstFrameClockUtcNs) - truth.utcOfMono(BigInt(side.firstFrameMonoNs))) / 1e3;
  const allowedUs = side.clockErrorBoundNs / 1e3 + side.firstFrameRealtimeErrorNs / 1e3;
  t.true(
    Math.abs(offUs) <= allowedUs,
    `the clock put frame 0 ${offUs.toFixed(1)} µs from the truth; its bound ±${(side.clockErrorBoundNs / 1e3).toFixed(1)} µs and the realtime estimate's allow ±${allowedUs.toFixed(1)} µs; sidecar ${JSON.stringify(side)}; the run said:\n${said}`,
  );
  // Bit-exact unless the clock moved enough for the aligner to resample (then within half a frame:
  // at most ~470 for this 550 Hz tone; a whole frame off would be ~940 and another lag would win).
  t.true(best <= 600, `max sample difference ${best}`);
});

test('what plays at an instant is a lookup on the manifest; repeat makes one longer fixed timeline', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  const start = '2026-06-27T18:55:00+02:00';
  const ask = async (at: string) =>
    JSON.parse(
      (await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--start', start, '--at', at, '--json'])).stdout,
    ) as { timelineFrame: number; playing: { track: number; frame: number } | null };
  t.deepEqual((await ask('2026-06-27T18:55:01.500+02:00')).playing, {
    track: 2,
    path: 'b.flac',
    frame: 24000,
    positionSec: 0.5,
  });
  t.is((await ask('2026-06-27T18:54:59+02:00')).playing, null, 'before the start');
  t.is((await ask('2026-06-27T18:55:05+02:00')).playing, null, 'after the end');
  const m = JSON.parse(readFileSync(join(dir, 'list.m3u8.manifest.json'), 'utf8'));
  const { repeatManifest, slotAt } = await import('../src/player/manifest.js');
  const twice = repeatManifest(m, 2);
  t.is(twice.totalFrames, 288000);
  t.deepEqual([slotAt(twice, 0, 144000 + 10)!.index, slotAt(twice, 0, 144000 + 10)!.frameInTrack], [3, 10]);
  t.is(slotAt(twice, 4800, 48000 + 100), undefined, 'inside a gap');
});

test('timeline build with a failing entry writes nothing (an old manifest is left and said), or with --skip-failed a manifest that leaves it out everywhere', async (t) => {
  const dir = playlistDir();
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\na.flac\nnot-here.flac\nc.flac\n');
  const out = join(dir, 'list.m3u8.manifest.json');
  const r = await runCli(['timeline', 'build', join(dir, 'list.m3u8')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /line 3 \(not-here\.flac\)/);
  t.regex(r.stderr, /1 of 3 entries failed \(above\): no manifest written.*--skip-failed/s);
  t.false(existsSync(out), 'no manifest written');
  writeFileSync(out, '{"old": true}');
  t.regex(
    (await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).stderr,
    /existing .*manifest\.json is left as it was/,
  );
  t.is(readFileSync(out, 'utf8'), '{"old": true}');
  const s = await runCli(['timeline', 'build', '--skip-failed', join(dir, 'list.m3u8')]);
  t.is(s.code, 0, s.stderr);
  t.regex(
    s.stdout,
    /2 tracks, 0:02 at 48000 Hz\n1 entry left out on every device \(--skip-failed\): line 3 \(not-here\.flac\)/,
  );
  const m = JSON.parse(readFileSync(out, 'utf8')) as { entries: Array<{ frames: number; skipped?: string }> };
  t.deepEqual(
    m.entries.map((e) => [e.frames, e.skipped !== undefined]),
    [
      [48000, false],
      [0, true],
      [57600, false],
    ],
  );
  t.is(statSync(out).mode & 0o777, 0o644, 'readable by the service user, like the music');
  const show = await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--json']);
  t.is(show.code, 0, show.stdout);
  t.deepEqual(
    (JSON.parse(show.stdout) as { tracks: Array<{ startFrame: number }> }).tracks.map((x) => x.startFrame),
    [0, 48000, 48000],
  );
  writeFileSync(join(dir, 'none.m3u8'), 'x.flac\ny.flac\n');
  const none = await runCli(['timeline', 'build', '--skip-failed', join(dir, 'none.m3u8')]);
  t.is(none.code, 1);
  t.regex(none.stderr, /no entry of .*none\.m3u8 could be decoded: no manifest written/);
  t.false(existsSync(join(dir, 'none.m3u8.manifest.json')));
});

test('timeline show pairs by line and path: a byte-identical playlist is ok, an edited one says what differs and exits 1; gaps and repeats count', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  const same = await runCli(['timeline', 'show', join(dir, 'list.m3u8')]);
  t.is(same.code, 0, same.stdout);
  t.regex(same.stdout, /3 slots, 0:03\nthis device plays the shared timeline\n$/);
  // A comment added (lines move), b.flac removed, d.flac added: pairs a and c by path.
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\n# edited\na.flac\nc.flac\nd.flac\n');
  const edited = await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--json']);
  t.is(edited.code, 1);
  const j = JSON.parse(edited.stdout) as {
    tracks: Array<{ status: string; line: number }>;
    notInManifest: Array<{ path: string }>;
    plays: boolean;
    verdict: string;
  };
  t.deepEqual(
    j.tracks.map((r) => [r.line, r.status.split(':')[0]]),
    [
      [3, 'ok'],
      [3, 'NOT IN THE PLAYLIST here'],
      [4, 'ok'],
    ],
  );
  t.deepEqual(
    j.notInManifest.map((x) => x.path),
    ['d.flac'],
  );
  t.false(j.plays);
  t.regex(j.verdict, /will NOT play the shared timeline as built: 1 slot silent here/);
  // Gaps and repeats from the config: the slots move, the lookup finds the second pass.
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\na.flac\nb.flac\nc.flac\n');
  writeFileSync(join(dir, 'c.toml'), '[playlist]\npath = "list.m3u8"\ngap_ms = 500\nrepeat = 2\n');
  const g = await runCli(['timeline', 'show', join(dir, 'list.m3u8'), '--config', join(dir, 'c.toml'), '--json']);
  t.is(g.code, 0, g.stdout);
  const gj = JSON.parse(g.stdout) as { tracks: Array<{ startFrame: number }>; totalFrames: number; repeat: number };
  t.deepEqual(
    gj.tracks.map((r) => r.startFrame),
    [0, 72000, 134400],
  );
  t.is(gj.totalFrames, 2 * 144000 + 5 * 24000);
  const start = '2026-06-27T18:55:00+02:00';
  const at = await runCli([
    'timeline',
    'show',
    join(dir, 'list.m3u8'),
    '--config',
    join(dir, 'c.toml'),
    '--start',
    start,
    '--at',
    '2026-06-27T18:55:04.600+02:00',
    '--json',
  ]);
  // a 0-1 s, b 1.5-2.3 s, c 2.8-4.0 s, pass 2 from 4.5 s: 4.6 s is 0.1 s into a.flac again.
  t.deepEqual(JSON.parse(at.stdout).playing, { track: 1, pass: 2, path: 'a.flac', frame: 4800, positionSec: 0.1 });
  const gap = await runCli([
    'timeline',
    'show',
    join(dir, 'list.m3u8'),
    '--config',
    join(dir, 'c.toml'),
    '--start',
    start,
    '--at',
    '2026-06-27T18:55:01.200+02:00',
  ]);
  t.regex(gap.stdout, /nothing plays then: in a gap/);
  const bad = await runCli([
    'timeline',
    'show',
    join(dir, 'list.m3u8'),
    '--start',
    '2026-06-27T18:55',
    '--at',
    '2026-06-27T18:56:00Z',
  ]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--start "2026-06-27T18:55" has no UTC offset.*"2026-06-27T18:55\+01:00"/);
});

test('a run whose manifest differs from the playlist plays what pairs and reports the rest', async (t) => {
  const dir = playlistDir();
  t.is((await runCli(['timeline', 'build', join(dir, 'list.m3u8')])).code, 0);
  writeFileSync(join(dir, 'list.m3u8'), '#EXTM3U\na.flac\nc.flac\n'); // b.flac taken out after the build
  writeFileSync(
    join(dir, 'c.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[schedule]',
      'start = "+3"',
      '[playlist]',
      'path = "list.m3u8"',
      '[audio]',
      'output = "wav"',
      'wav_path = "out.wav"',
    ].join('\n'),
  );
  const r = await runCli(['run', '--config', join(dir, 'c.toml')]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout + r.stderr, /"b\.flac" \(line 3 when it was built\) is not in the playlist: silence for its slot/);
  const wav = readWav16(readFileSync(join(dir, 'out.wav')));
  let onset = 0;
  while (wav.data.readInt16LE(onset * 4) === 0) onset++;
  t.true(
    wav.data.subarray((onset + 48010) * 4, (onset + 86390) * 4).every((x) => x === 0),
    'silence for the slot of b',
  );
  t.true(
    wav.data.subarray((onset + 86400) * 4, (onset + 87000) * 4).some((x) => x !== 0),
    `c on its frame after it\n${r.stdout}${r.stderr}`,
  );
});
