import test from 'ava';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChunkedDecodeOptions } from '../src/player/decoder.js';
import type { PlaylistEntry } from '../src/player/m3u.js';
import { sha256File, type Manifest } from '../src/player/manifest.js';
import { PcmChunks } from '../src/player/pcm-chunks.js';
import { PRELOAD_MIN_LEAD_SEC, TrackQueue } from '../src/player/tracks.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The queue's memory bound and its late-join bookkeeping, with a synthetic decoder whose every
 * sample encodes (track, frame): what render returns proves which frame of which track it is.
 */

const RATE = 1000; // a small rate keeps minutes of "audio" cheap
const fmt = { sampleRate: RATE, channels: 2 };
const sampleOf = (track: number, frame: number) => ((track * 7919 + frame) % 30000) + 1;

function synthPcm(track: number, frames: number, opts: ChunkedDecodeOptions) {
  const pcm = new PcmChunks(4, opts.keepFromFrame ?? 0, 512);
  const block = 700; // not a multiple of the chunk: appends straddle chunk edges
  for (let f0 = 0; f0 < frames; f0 += block) {
    const n = Math.min(block, frames - f0);
    const b = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) {
      b.writeInt16LE(sampleOf(track, f0 + i), i * 4);
      b.writeInt16LE(-sampleOf(track, f0 + i), i * 4 + 2);
    }
    pcm.append(b, opts.intoFrames);
  }
  const decodedFrames = pcm.decodedFrames;
  pcm.seal(opts.intoFrames ?? decodedFrames);
  return { path: '', format: fmt, pcm, frames: pcm.frames, decodedFrames, decodeMs: 1 };
}

test('PcmChunks: what goes in comes out across chunk edges; released chunks free RAM and read as silence', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: 0, max: 5000 }),
      (frames, a, b) => {
        const d = synthPcm(3, frames, {});
        const from = Math.min(a, frames - 1),
          to = Math.min(frames, from + 1 + b);
        const out = d.pcm.slice(from, to);
        for (let i = 0; i < to - from; i++) if (out.readInt16LE(i * 4) !== sampleOf(3, from + i)) return false;
        return d.pcm.bytesInRam >= frames * 4;
      },
    ),
  );
  const d = synthPcm(1, 5000, {});
  const before = d.pcm.bytesInRam;
  d.pcm.releaseBefore(2600);
  t.is(before - d.pcm.bytesInRam, 5 * 512 * 4, 'the five chunks wholly before frame 2600 are freed');
  t.is(d.pcm.slice(2559, 2560).readInt16LE(0), 0, 'a released frame reads as silence');
  t.is(d.pcm.slice(2560, 2561).readInt16LE(0), sampleOf(1, 2560));
});

test('PcmChunks: a manifest length pads with silence or cuts; frames before keepFromFrame are never held', (t) => {
  const padded = synthPcm(2, 1000, { intoFrames: 1500 });
  t.is(padded.frames, 1500);
  t.is(padded.decodedFrames, 1000);
  t.is(padded.pcm.slice(999, 1000).readInt16LE(0), sampleOf(2, 999));
  t.true(padded.pcm.slice(1000, 1500).equals(Buffer.alloc(2000)), 'padding is silence');
  const cut = synthPcm(2, 3000, { intoFrames: 1200 });
  t.is(cut.frames, 1200);
  t.true(cut.pcm.bytesInRam <= 3 * 512 * 4, 'nothing past the manifest length is held');
  const joined = synthPcm(2, 5000, { keepFromFrame: 4000 });
  t.true(
    joined.pcm.bytesInRam <= Math.ceil((5000 - 3584) / 512) * 512 * 4,
    `only from the join point: ${joined.pcm.bytesInRam} bytes`,
  );
  t.is(joined.pcm.slice(4000, 4001).readInt16LE(0), sampleOf(2, 4000));
});

function entries(n: number, dir: string): PlaylistEntry[] {
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `t${i}.bin`);
    writeFileSync(path, `track ${i}`);
    return { line: i + 2, raw: `t${i}.bin`, path } as PlaylistEntry;
  });
}

async function queue(n: number, framesEach: number, withManifest: boolean) {
  const dir = tempDir('jas-q-');
  const es = entries(n, dir);
  const decoded: Array<{ index: number; keepFromFrame: number }> = [];
  const manifest: Manifest | undefined = withManifest
    ? {
        v: 1,
        sampleRate: RATE,
        channels: 2,
        totalFrames: n * framesEach,
        entries: await Promise.all(
          es.map(async (e) => ({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: framesEach })),
        ),
      }
    : undefined;
  const problems: string[] = [];
  const q = new TrackQueue(
    es,
    'ffmpeg',
    fmt,
    0,
    { onProblem: (m) => problems.push(m) },
    async (_f, path, _fmt, opts) => {
      const index = es.findIndex((e) => e.path === path);
      decoded.push({ index, keepFromFrame: opts.keepFromFrame ?? 0 });
      return synthPcm(index, framesEach, opts);
    },
    manifest,
  );
  return { q, decoded, problems };
}

test('TrackQueue: at most the unplayed rest of one track and, near its end, the next are in RAM', async (t) => {
  const framesEach = 300 * RATE; // 5 min tracks
  const { q, decoded } = await queue(6, framesEach, false);
  await q.prepare(0);
  t.deepEqual(
    decoded.map((d) => d.index),
    [0],
    'the next track is not decoded at the start of a long one',
  );
  let peak = 0;
  const out = Buffer.alloc(100 * 4);
  for (let frame = 0; frame < 6 * framesEach; frame += 100) {
    q.advance(frame);
    await new Promise((r) => setImmediate(r));
    q.render(frame, 100, out);
    const tr = Math.floor(frame / framesEach);
    t.is(out.readInt16LE(0), sampleOf(tr, frame - tr * framesEach), `frame ${frame}`);
    peak = Math.max(peak, q.bytesInRam);
    if (t.passed === false) return;
  }
  const bound = (framesEach + (PRELOAD_MIN_LEAD_SEC + 3) * RATE) * 4;
  t.true(peak <= bound, `peak ${peak} bytes, bound ${bound}`);
  t.true(peak < 2 * framesEach * 4 * 0.7, 'well under two whole tracks');
  t.deepEqual(
    decoded.map((d) => d.index),
    [0, 1, 2, 3, 4, 5],
  );
});

test('TrackQueue: a late join decodes only the slot it joins, kept from the join point; a wrong early guess is redone', async (t) => {
  const framesEach = 300 * RATE;
  const { q, decoded } = await queue(8, framesEach, true);
  const joinAt = 4 * framesEach + 123_456;
  await q.prepare(joinAt + 60 * RATE); // a guess a minute ahead (the system clock was off)
  await q.prepare(joinAt);
  t.deepEqual(
    decoded.map((d) => d.index),
    [4, 4],
    'the joined slot only, decoded again for the earlier point',
  );
  const out = Buffer.alloc(4);
  q.render(joinAt, 1, out);
  t.is(out.readInt16LE(0), sampleOf(4, 123_456));
  t.true(
    q.bytesInRam <= (framesEach - 123_456 + 3 * RATE + 2 * 512) * 4,
    `only from the join point: ${q.bytesInRam} bytes`,
  );
  q.render(4 * framesEach, 1, out);
  t.is(out.readInt16LE(0), 0, 'before the join point nothing is held');
});

test('TrackQueue: a file differing from the manifest plays silence for exactly its slot and the next is on time', async (t) => {
  const { q, problems } = await queue(3, 2000, true);
  // Entry 1's file changes after the manifest was made.
  const e1 = (q as unknown as { entries: PlaylistEntry[] }).entries[1]!;
  writeFileSync(e1.path, 'another file');
  const out = Buffer.alloc(4);
  await q.prepare(0);
  for (let f = 0; f < 6000; f += 100) {
    q.advance(f);
    await q.prepare(f);
    q.render(f, 1, out);
    const expect = f < 2000 ? sampleOf(0, f) : f < 4000 ? 0 : sampleOf(2, f - 4000);
    t.is(out.readInt16LE(0), expect, `frame ${f}`);
  }
  t.true(
    problems.some((p) => /line 3 .*differs from the one in the timeline manifest.*silence/.test(p)),
    problems.join('\n'),
  );
});

for (const withManifest of [true, false]) {
  test(`TrackQueue: a re-seek back or forward (the clock stepped) has the audio there ${withManifest ? 'with' : 'without'} a manifest`, async (t) => {
    const framesEach = 300 * RATE;
    const { q, decoded } = await queue(6, framesEach, withManifest);
    const out = Buffer.alloc(4);
    const heard = (frame: number) => {
      q.render(frame, 1, out);
      return out.readInt16LE(0);
    };
    await q.prepare(0);
    for (let f = 0; f < 3 * framesEach + 5000; f += 1000) {
      q.advance(f);
      await q.whenIdle();
    }
    t.is(heard(3 * framesEach + 4000), sampleOf(3, 4000));
    // An hour's step back lands in track 1, long since freed.
    const back = framesEach + 77_777;
    q.seek(back);
    await q.whenIdle();
    t.is(heard(back), sampleOf(1, 77_777), 'the track of a jump back is decoded again');
    for (let f = back; f < 2 * framesEach + 1000; f += 1000) {
      q.advance(f);
      await q.whenIdle();
    }
    t.is(heard(2 * framesEach + 500), sampleOf(2, 500), 'and the next one follows on its frame');
    // Forward past anything decoded so far.
    const ahead = 5 * framesEach + 12_345;
    q.seek(ahead);
    await q.whenIdle();
    t.is(heard(ahead), sampleOf(5, 12_345), 'the track of a jump forward');
    t.true(
      q.inRam.every((tr) => tr.index === 5),
      `only the track played now is held: ${q.inRam.map((tr) => tr.index)}`,
    );
    if (withManifest)
      t.is(decoded.filter((d) => d.index === 4).length, 0, 'with a manifest the skipped track is never decoded');
  });
}

test('TrackQueue: a decode still running when a seek comes never lands in the queue', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(4, dir);
  const framesEach = 200 * RATE; // longer than the preload lead: track 1 waits for the advance
  const gates: Array<() => void> = [];
  let held = 0;
  const q = new TrackQueue(es, 'ffmpeg', fmt, 0, { onProblem: () => {} }, async (_f, path, _fmt, opts) => {
    const index = es.findIndex((e) => e.path === path);
    if (index === 1 && !held++) await new Promise<void>((r) => gates.push(r)); // the first one held until released
    return synthPcm(index, framesEach, opts);
  });
  await q.prepare(0);
  q.advance(framesEach - 10); // near its end: track 1 starts decoding, and hangs
  await new Promise((r) => setImmediate(r));
  t.is(gates.length, 1, 'the decode of track 1 is in flight');
  q.seek(100); // the clock stepped back into track 0
  gates.shift()!();
  await q.whenIdle();
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(
    q.inRam.map((tr) => tr.index),
    [0],
    'the stale decode of track 1 was dropped',
  );
  const out = Buffer.alloc(4);
  q.render(100, 1, out);
  t.is(out.readInt16LE(0), sampleOf(0, 100));
});

for (const withManifest of [true, false]) {
  test(`TrackQueue: a re-seek far past the timeline's end (a clock stepped by days) is silence, settles, and a seek back plays again ${withManifest ? 'with' : 'without'} a manifest`, async (t) => {
    const framesEach = 10 * RATE;
    const { q } = await queue(3, framesEach, withManifest);
    const out = Buffer.alloc(4);
    const heard = (frame: number) => {
      q.render(frame, 1, out);
      return out.readInt16LE(0);
    };
    await q.prepare(0);
    const daysAhead = 3 * 86_400 * RATE;
    q.seek(daysAhead);
    // Bounded: a queue that keeps asking for entries past the end never settles.
    const settled = await Promise.race([
      q.whenIdle().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    t.true(settled, 'the queue settles past the end');
    t.is(heard(daysAhead), 0);
    t.is(q.endFrame, 3 * framesEach, 'the timeline ends where it did');
    q.seek(framesEach + 123);
    await q.whenIdle();
    t.is(heard(framesEach + 123), sampleOf(1, 123));
  });
}

/** Plays a queue through frame by frame (in steps) and returns what is heard at each probe frame. */
async function playThrough(q: TrackQueue, until: number, step = 100): Promise<Map<number, number>> {
  const heard = new Map<number, number>();
  const out = Buffer.alloc(4);
  await q.prepare(0);
  for (let f = 0; f < until; f += step) {
    q.advance(f);
    await q.prepare(f);
    q.render(f, 1, out);
    heard.set(f, out.readInt16LE(0));
  }
  return heard;
}

test('TrackQueue: a manifest and a playlist that differ play what pairs (silence for the rest) and say so, never refuse', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(4, dir); // t0..t3 on lines 2..5
  const m = async (e: PlaylistEntry) => ({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: 1000 });
  // Built from t0, t1, t2, t3; this device's playlist lost t1 (lines moved up) and gained a new t9.
  const manifest: Manifest = {
    v: 1,
    sampleRate: RATE,
    channels: 2,
    totalFrames: 4000,
    entries: await Promise.all(es.map(m)),
  };
  writeFileSync(join(dir, 't9.bin'), 'track 9');
  const here: PlaylistEntry[] = [
    { ...es[0]!, line: 2 },
    { ...es[2]!, line: 3 },
    { ...es[3]!, line: 4 },
    { line: 5, raw: 't9.bin', path: join(dir, 't9.bin') },
  ];
  const problems: string[] = [];
  const q = new TrackQueue(
    here,
    'ffmpeg',
    fmt,
    0,
    { onProblem: (p) => problems.push(p) },
    async (_f, path, _fmt, opts) =>
      synthPcm(
        es.findIndex((e) => e.path === path),
        1000,
        opts,
      ),
    manifest,
  );
  t.deepEqual(
    q.mismatches.map((x) => [x.kind, x.path]),
    [
      ['not-in-playlist', 't1.bin'],
      ['not-in-manifest', 't9.bin'],
    ],
  );
  t.true(
    problems.some((p) => /t1\.bin.*not in the playlist: silence/.test(p)) &&
      problems.some((p) => /t9\.bin.*not in the timeline manifest/.test(p)),
    problems.join('\n'),
  );
  t.is(q.slotCount, 4);
  await q.prepare(0);
  t.deepEqual(
    q.inRam.map((tr) => [tr.index, tr.silentBecause !== undefined]),
    [
      [0, false],
      [1, true],
      [2, false],
    ],
    'the track after a slot of silence is decoded up front, not when the silence begins',
  );
  const heard = await playThrough(q, 4000);
  for (const [f, v] of heard) {
    const slot = Math.floor(f / 1000);
    t.is(v, slot === 1 ? 0 : sampleOf(slot, f - slot * 1000), `frame ${f}`);
  }
  t.is(q.endFrame, 4000, "the timeline is the manifest's");
});

test('TrackQueue: a slot skipped on every device (0 frames) is left out without a gap of its own', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(3, dir);
  const manifest: Manifest = {
    v: 1,
    sampleRate: RATE,
    channels: 2,
    totalFrames: 2000,
    entries: [
      { line: es[0]!.line, path: es[0]!.raw, sha256: await sha256File(es[0]!.path), frames: 1000 },
      { line: es[1]!.line, path: es[1]!.raw, sha256: '', frames: 0, skipped: 'undecodable when built' },
      { line: es[2]!.line, path: es[2]!.raw, sha256: await sha256File(es[2]!.path), frames: 1000 },
    ],
  };
  const decoded: number[] = [];
  const q = new TrackQueue(
    es,
    'ffmpeg',
    fmt,
    50,
    { onProblem: () => {} },
    async (_f, path, _fmt, opts) => {
      const i = es.findIndex((e) => e.path === path);
      decoded.push(i);
      return synthPcm(i, 1000, opts);
    },
    manifest,
  );
  t.deepEqual(q.mismatches, []);
  const heard = await playThrough(q, 2100, 50);
  t.is(heard.get(1000), 0, 'the gap after track 0');
  t.is(heard.get(1050), sampleOf(2, 0), 'track 2 follows after one gap, not two');
  t.is(q.endFrame, 2050);
  t.deepEqual(decoded, [0, 2], 'the skipped entry is never decoded, though its file is here');
});

test('TrackQueue without a manifest: a missing file says this device is now off the shared timeline, and how to fix it', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(3, dir);
  const problems: string[] = [];
  const q = new TrackQueue(
    es,
    'ffmpeg',
    fmt,
    0,
    { onProblem: (p) => problems.push(p) },
    async (_f, path, _fmt, opts) => {
      const i = es.findIndex((e) => e.path === path);
      if (i === 1) throw new Error('music file not found');
      return synthPcm(i, 1000, opts);
    },
  );
  const heard = await playThrough(q, 2000);
  t.is(heard.get(1000), sampleOf(2, 0), 'track 2 moved into the slot of track 1');
  t.true(
    problems.some((p) =>
      /line 3 \(t1\.bin\).*this device is now off the shared timeline.*jaudiosync timeline build/.test(p),
    ),
    problems.join('\n'),
  );
});

test('TrackQueue: a manifest built at another rate is scaled, said once, and still one fixed timeline', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(2, dir);
  const manifest: Manifest = {
    v: 1,
    sampleRate: 2 * RATE,
    channels: 2,
    totalFrames: 4000,
    entries: await Promise.all(
      es.map(async (e) => ({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: 2000 })),
    ),
  };
  const problems: string[] = [];
  const q = new TrackQueue(
    es,
    'ffmpeg',
    fmt,
    0,
    { onProblem: (p) => problems.push(p) },
    async (_f, path, _fmt, opts) =>
      synthPcm(
        es.findIndex((e) => e.path === path),
        1000,
        opts,
      ),
    manifest,
  );
  t.is(
    problems.filter((p) => /manifest is for 2000 Hz, the output is 1000 Hz: its frame counts are scaled/.test(p))
      .length,
    1,
    problems.join('\n'),
  );
  const heard = await playThrough(q, 2000);
  t.is(heard.get(1000), sampleOf(1, 0));
  t.is(q.endFrame, 2000);
});

for (const withManifest of [false, true]) {
  test(`TrackQueue.silenceAt: a frame with no track is a gap, past the end, or a decode not done yet ${withManifest ? 'with' : 'without'} a manifest`, async (t) => {
    const dir = tempDir('jas-q-');
    const es = entries(2, dir);
    const manifest: Manifest | undefined = withManifest
      ? {
          v: 1,
          sampleRate: RATE,
          channels: 2,
          totalFrames: 2000,
          entries: await Promise.all(
            es.map(async (e) => ({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: 1000 })),
          ),
        }
      : undefined;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // Two 1 s tracks 0.5 s apart: [0, 1000) gap [1000, 1500) [1500, 2500), the second decode held.
    const q = new TrackQueue(
      es,
      'ffmpeg',
      fmt,
      500,
      { onProblem: () => {} },
      async (_f, path, _fmt, opts) => {
        const index = es.findIndex((e) => e.path === path);
        if (index === 1) await held;
        return synthPcm(index, 1000, opts);
      },
      manifest,
    );
    const preparing = q.prepare(0);
    for (let i = 0; i < 200 && q.inRam.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    t.is(q.silenceAt(500)?.reason, undefined, 'track 1 is there');
    t.is(q.silenceAt(1200)?.reason, 'gap');
    t.is(q.silenceAt(1600)?.reason, 'decoding', 'track 2 due but not decoded');
    release();
    await preparing;
    await q.whenIdle();
    t.is(q.silenceAt(1600)?.reason, undefined, 'track 2 is there once decoded');
    t.is(
      q.silenceAt(2600)?.reason,
      withManifest ? 'end' : 'gap',
      'without a manifest the end is known only once looked for',
    );
    await q.prepare(2600);
    t.is(q.silenceAt(2600)?.reason, 'end');
  });
}

test('TrackQueue.silenceAt inside a track: a windowed decode behind playback, one failed part-way, a missing file, a seek still loading', async (t) => {
  const dir = tempDir('jas-q-');
  const es = entries(3, dir);
  const manifest: Manifest = {
    v: 1,
    sampleRate: RATE,
    channels: 2,
    totalFrames: 15000,
    entries: await Promise.all(
      es.map(async (e) => ({ line: e.line, path: e.raw, sha256: await sha256File(e.path), frames: 5000 })),
    ),
  };
  const { unlinkSync } = await import('node:fs');
  unlinkSync(es[2]!.path); // the third file is missing on this device
  const pcms: PcmChunks[] = [];
  let holdSeek: Promise<void> | undefined;
  // Three 5 s slots. A windowed decode: 400 of its 5000 frames in RAM when it returns, the rest still to come.
  const q = new TrackQueue(
    es,
    'ffmpeg',
    fmt,
    0,
    { onProblem: () => {} },
    async (_f, _path, _fmt, opts) => {
      if (holdSeek) await holdSeek;
      const pcm = new PcmChunks(4, opts.keepFromFrame ?? 0, 512);
      pcm.frames = opts.intoFrames!;
      pcm.append(Buffer.alloc(400 * 4, 1), opts.intoFrames);
      pcms.push(pcm);
      return { path: '', format: fmt, pcm, frames: pcm.frames, decodedFrames: 400, complete: false, decodeMs: 1 };
    },
    manifest,
  );
  await q.prepare(0);
  t.is(q.silenceAt(100), undefined, 'decoded audio');
  t.is(q.silenceAt(600)?.reason, 'decoding', 'past what the decode has reached: late');
  pcms[0]!.failedBecause = 'ffmpeg exited with code 1: invalid data';
  t.deepEqual(q.silenceAt(600), { reason: 'failed', why: 'ffmpeg exited with code 1: invalid data' });
  pcms[0]!.seal(5000);
  t.is(q.silenceAt(600), undefined, 'a sealed track is padded to its slot: silence by design, said when decoded');
  await q.prepare(12500);
  const slot = q.silenceAt(12500);
  t.is(slot?.reason, 'slot');
  t.regex(slot?.why ?? '', /not found/);
  let release!: () => void;
  holdSeek = new Promise((r) => (release = r));
  q.seek(2500);
  t.is(q.silenceAt(2500)?.reason, 'seeking', 'a seek loading its audio is not a slow decode');
  release();
  holdSeek = undefined;
  await q.whenIdle();
  t.is(q.silenceAt(5100), undefined, 'track 2 loaded after the seek');
});
