import test from 'ava';
import fc from 'fast-check';
import {
  framesAtRate,
  matchManifest,
  repeatManifest,
  slotAt as manifestSlotAt,
  type Manifest,
} from '../src/player/manifest.js';
import type { PlaylistEntry } from '../src/player/m3u.js';
import {
  buildTimeline,
  frameAtUtc,
  gapFramesFor,
  joinFrame,
  slotAt,
  slotIndexFor,
  timelineSec,
} from '../src/player/timeline.js';

/** The timeline is pure arithmetic: checked against a frame-by-frame walk of the same inputs. */

const SEED = { seed: 1414, numRuns: 300 };

/** What plays at each frame, by walking: [slot, frameInSlot] or undefined (gap, before, after). */
function walk(frames: number[], gap: number, passes: number): Array<[number, number] | undefined> {
  const out: Array<[number, number] | undefined> = [];
  const all = Array.from({ length: passes }, () => frames).flat();
  let first = true;
  all.forEach((f, i) => {
    if (f === 0) return; // skipped: no frames, no gap
    if (!first) for (let g = 0; g < gap; g++) out.push(undefined);
    first = false;
    for (let k = 0; k < f; k++) out.push([i, k]);
  });
  return out;
}

test('slotAt agrees with a frame-by-frame walk: gaps, repeats, skipped (0-frame) slots', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(0)), { minLength: 0, maxLength: 7 }),
      fc.integer({ min: 0, max: 9 }),
      fc.integer({ min: 1, max: 3 }),
      (frames, gap, passes) => {
        const tl = buildTimeline(frames, { sampleRate: 100, gapFrames: gap, repeat: passes });
        const want = walk(frames, gap, passes);
        if (tl.endFrame !== want.length) return false;
        for (let f = -3; f < want.length + 5; f++) {
          const s = slotAt(tl, f);
          const w = f >= 0 ? want[f] : undefined;
          if (!w) {
            if (s) return false;
            continue;
          }
          if (!s || s.index !== w[0] || s.frameInTrack !== w[1]) return false;
          if (s.pass !== Math.floor(w[0] / frames.length) || s.indexInPass !== w[0] % frames.length) return false;
          // The slot of a frame is also where a late join decodes from.
          if (slotIndexFor(tl, f) !== s.index) return false;
        }
        return true;
      },
    ),
    SEED,
  );
  t.pass();
});

test('the timeline ends where its last track ends: no gap after it; timelineSec is that length', (t) => {
  const tl = buildTimeline([48000, 24000], { sampleRate: 48000, gapFrames: 4800, repeat: 2 });
  t.deepEqual(tl.starts, [0, 52800, 81600, 134400]);
  t.is(tl.endFrame, 158400);
  t.is(timelineSec(tl), 3.3);
  t.is(slotAt(tl, 48000 + 10), undefined, 'inside a gap');
  t.is(slotIndexFor(tl, 48000 + 10), 0, 'the gap belongs to the slot before it');
  t.is(slotIndexFor(tl, 158400), 4, 'past the end: no slot');
  t.deepEqual(buildTimeline([], { sampleRate: 48000, gapFrames: 10 }).endFrame, 0);
});

test('bad frame counts and gaps are refused, never a silent NaN timeline', (t) => {
  t.throws(() => buildTimeline([10, -1], { sampleRate: 10 }), { message: /slot 2 has -1 frames/ });
  t.throws(() => buildTimeline([10, 1.5], { sampleRate: 10 }), { message: /slot 2/ });
  t.throws(() => buildTimeline([10], { sampleRate: 10, gapFrames: Number.NaN }), { message: /gap/ });
});

test('frame at an instant: floor, exact for rides of days (bigint seconds), negative before the start', (t) => {
  const start = 1_790_000_000_000_000_000n;
  t.is(frameAtUtc(start, start + 1_500_000_000n, 48000), 72000);
  t.is(frameAtUtc(start, start - 1_500_000_000n, 48000), -72000);
  t.is(frameAtUtc(start, start - 1n, 48000), -1);
  t.is(frameAtUtc(start, start + 20_833n, 48000), 0, 'one ns short of frame 1');
  t.is(frameAtUtc(start, start + 20_834n, 48000), 1);
  const days = 40n * 86_400n * 1_000_000_000n;
  t.is(frameAtUtc(start, start + days + 1n, 48000), 40 * 86_400 * 48000);
  t.is(gapFramesFor(2500, 44100), 110250);
  t.is(joinFrame(0, 48000), 24000, 'a join lands half a second ahead');
});

const entry = (line: number, raw: string): PlaylistEntry => ({ line, raw, path: `/m/${raw}` });
const mEntry = (line: number, path: string, frames = 100) => ({ line, path, sha256: 'a'.repeat(64), frames });

test('manifest pairing: by line and path, then path alone; the rest reported once, never refused', (t) => {
  // Built from: a (2), b (3), c (4). Here: a comment added above (lines move), c gone, d added.
  const manifest = [mEntry(2, 'a.flac'), mEntry(3, 'b.flac'), mEntry(4, 'c.flac')];
  const playlist = [entry(3, 'a.flac'), entry(4, 'b.flac'), entry(5, 'd.flac')];
  const m = matchManifest(playlist, manifest);
  t.deepEqual(
    m.slots.map((e) => e?.raw),
    ['a.flac', 'b.flac', undefined],
  );
  t.deepEqual(
    m.mismatches.map((x) => [x.kind, x.path]),
    [
      ['not-in-playlist', 'c.flac'],
      ['not-in-manifest', 'd.flac'],
    ],
  );
  t.regex(m.mismatches[0]!.message, /c\.flac.*not in the playlist: silence for its slot/);
  t.regex(m.mismatches[1]!.message, /line 5 \(d\.flac\) is not in the timeline manifest: not played \(rebuild/);
});

test('manifest pairing: the same file twice pairs in order; a repeated list pairs pass with pass and reports once', (t) => {
  const manifest = [mEntry(1, 'x.flac'), mEntry(2, 'y.flac'), mEntry(3, 'x.flac')];
  const playlist = [entry(1, 'x.flac'), entry(2, 'y.flac'), entry(3, 'x.flac')];
  t.deepEqual(
    matchManifest(playlist, manifest).slots.map((e) => e?.line),
    [1, 2, 3],
  );
  const shorter = [entry(1, 'x.flac'), entry(2, 'y.flac')];
  const twice = matchManifest([...shorter, ...shorter], [...manifest, ...manifest]);
  t.deepEqual(
    twice.slots.map((e) => e?.line),
    [1, 2, undefined, 1, 2, undefined],
  );
  t.is(twice.mismatches.length, 1, 'one missing slot, said once for both passes');
});

test('a skipped manifest slot takes its playlist entry along and is no mismatch', (t) => {
  const manifest = [
    mEntry(1, 'a.flac'),
    { line: 2, path: 'broken.mp3', sha256: '', frames: 0, skipped: 'no audio' },
    mEntry(3, 'c.flac'),
  ];
  const m = matchManifest([entry(1, 'a.flac'), entry(2, 'broken.mp3'), entry(3, 'c.flac')], manifest);
  t.deepEqual(m.mismatches, []);
});

test('a manifest at another rate scales from cumulative starts: no drift over many tracks', (t) => {
  const m: Manifest = {
    v: 1,
    sampleRate: 44100,
    channels: 2,
    entries: Array.from({ length: 1000 }, (_, i) => mEntry(i + 1, `t${i}.flac`, 44100 * 180 + 7)),
    totalFrames: 0,
  };
  const at48 = framesAtRate(m, 48000);
  const sum = at48.reduce((a, b) => a + b, 0);
  t.is(sum, Math.round((1000 * (44100 * 180 + 7) * 48000) / 44100), 'the whole timeline to the frame');
  t.true(at48.every((f) => Math.abs(f - ((44100 * 180 + 7) * 48000) / 44100) <= 1));
  t.deepEqual(
    framesAtRate(m, 44100),
    m.entries.map((e) => e.frames),
  );
});

test('manifest slotAt (kept for callers of the manifest alone) is the timeline arithmetic', (t) => {
  const m: Manifest = {
    v: 1,
    sampleRate: 48000,
    channels: 2,
    entries: [mEntry(1, 'a', 48000), mEntry(2, 'b', 38400), mEntry(3, 'c', 57600)],
    totalFrames: 144000,
  };
  const twice = repeatManifest(m, 2);
  t.deepEqual(
    [manifestSlotAt(twice, 0, 144000 + 10)!.index, manifestSlotAt(twice, 0, 144000 + 10)!.frameInTrack],
    [3, 10],
  );
  t.is(manifestSlotAt(twice, 4800, 48000 + 100), undefined);
  t.is(manifestSlotAt(twice, 4800, 52800)!.entry.path, 'b');
});
