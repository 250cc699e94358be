import { existsSync } from 'node:fs';
import { findFfmpeg } from '../player/ffmpeg.js';
import { readPlaylist, type PlaylistEntry } from '../player/m3u.js';
import {
  buildManifest,
  manifestPathFor,
  manifestTimeline,
  matchManifest,
  readManifest,
  sha256File,
  writeManifest,
  type Manifest,
} from '../player/manifest.js';
import { frameAtUtc, gapFramesFor, slotAt, type Timeline } from '../player/timeline.js';
import { formatDuration } from '../service/status.js';
import { Progress } from './progress.js';
import { instantOption } from './options.js';
import { whyNotWritable } from '../util/files.js';

/** `jaudiosync timeline build|show PLAYLIST`: the manifest every device follows. */

export interface BuildOptions {
  out?: string;
  rate: number;
  channels: number;
  ffmpeg?: string;
  /** Write the manifest even when entries fail, with them as slots left out on every device. */
  skipFailed?: boolean;
}

const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);

export async function timelineBuild(file: string, o: BuildOptions): Promise<number> {
  const pl = await readPlaylist(file);
  for (const n of pl.notes ?? []) process.stderr.write(`note: ${n}\n`);
  for (const p of pl.problems) warn(`playlist line ${p.line}: ${p.message}; not an entry: left out on every device`);
  if (pl.entries.length === 0) throw new Error(`playlist ${file} has no playable entries: no manifest written`);
  const out = o.out ?? manifestPathFor(file);
  // Said before minutes of decoding, not after them.
  const unwritable = await whyNotWritable(out);
  if (unwritable) throw new Error(`cannot write the manifest ${out}: ${unwritable}; no track was decoded`);
  // One entry at a time, with progress: minutes on a Pi for a 3 h ride.
  const progress = new Progress({ label: 'timeline build', total: pl.entries.length, unit: 'tracks' });
  const { manifest, failed } = await buildManifest(
    pl,
    findFfmpeg(o.ffmpeg).path,
    { sampleRate: o.rate, channels: o.channels },
    (i, e) => progress.update(i, e.title ?? e.raw),
  );
  progress.finish();
  for (const f of failed) warn(`playlist line ${f.line} (${f.raw}): ${f.message}`);
  const kept = existsSync(out)
    ? ` The existing ${out} is left as it was (it may not match the playlist any more).`
    : '';
  if (failed.length === pl.entries.length) {
    process.stderr.write(`jaudiosync: no entry of ${file} could be decoded: no manifest written.${kept}\n`);
    return 1;
  }
  if (failed.length && !o.skipFailed) {
    process.stderr.write(
      `jaudiosync: ${failed.length} of ${pl.entries.length} entries failed (above): no manifest written.${kept} Fix them ` +
        `(jaudiosync playlist ${file} shows each), or build with --skip-failed to write a manifest in which they are left out on every device.\n`,
    );
    return 1;
  }
  await writeManifest(out, manifest);
  const tracks = manifest.entries.length - failed.length;
  process.stdout.write(
    `${out}: ${tracks} tracks, ${formatDuration(manifest.totalFrames / manifest.sampleRate)} at ${manifest.sampleRate} Hz\n`,
  );
  if (failed.length) {
    process.stdout.write(
      `${failed.length} entr${failed.length > 1 ? 'ies' : 'y'} left out on every device (--skip-failed): ${failed.map((f) => `line ${f.line} (${f.raw})`).join(', ')}\n`,
    );
  }
  return 0;
}

export interface ShowOptions {
  manifest?: string;
  json?: boolean;
  at?: string;
  start?: string;
  /** From the config: the gap between tracks and the passes of the list. */
  gapMs?: number;
  repeat?: number;
}

interface Row {
  index: number;
  line: number;
  path: string;
  title?: string;
  startFrame: number;
  frames: number;
  startSec: number;
  status: string;
  ok: boolean;
}

/** Whether this device has the manifest's file for each slot of one pass. */
async function slotRows(pl: readonly PlaylistEntry[], m: Manifest, tl: Timeline): Promise<Row[]> {
  const { slots } = matchManifest(pl, m.entries);
  const rows: Row[] = [];
  for (const [i, me] of m.entries.entries()) {
    const entry = slots[i];
    const status =
      me.skipped !== undefined
        ? `skipped on every device (failed when built: ${me.skipped})`
        : !entry
          ? 'NOT IN THE PLAYLIST here: silence for this slot'
          : !existsSync(entry.path)
            ? 'MISSING here: silence for this slot'
            : (await sha256File(entry.path)) !== me.sha256
              ? 'DIFFERS here: silence for this slot'
              : 'ok';
    const startFrame = tl.starts[i]!;
    rows.push({
      index: i + 1,
      line: entry?.line ?? me.line,
      path: me.path,
      title: me.title,
      startFrame,
      frames: tl.frames[i]!,
      startSec: startFrame / tl.sampleRate,
      status,
      ok: status === 'ok' || me.skipped !== undefined,
    });
  }
  return rows;
}

export async function timelineShow(file: string, o: ShowOptions): Promise<number> {
  // Options first: a typo is said before a missing file or manifest sends anyone after it.
  if (o.at !== undefined && o.start === undefined)
    throw new Error('--at needs --start, the instant the timeline starts (an ISO 8601 instant with offset)');
  if (o.start !== undefined) instantOption('--start', o.start);
  if (o.at !== undefined) instantOption('--at', o.at);
  const pl = await readPlaylist(file);
  const path = o.manifest ?? manifestPathFor(file);
  if (!existsSync(path))
    throw new Error(`no timeline manifest at ${path}: build it with "jaudiosync timeline build ${file}"`);
  const m = await readManifest(path);
  const repeat = o.repeat ?? 1;
  const tl = manifestTimeline(m, { gapFrames: gapFramesFor(o.gapMs ?? 0, m.sampleRate), repeat });
  if (o.at !== undefined) return showAt(tl, m, o);
  const onePass = manifestTimeline(m, { gapFrames: tl.gapFrames });
  const rows = await slotRows(pl.entries, m, onePass);
  const extras = matchManifest(pl.entries, m.entries).mismatches.filter((x) => x.kind === 'not-in-manifest');
  const silent = rows.filter((r) => !r.ok).length;
  const verdict = silent
    ? `this device will NOT play the shared timeline as built: ${silent} slot${silent > 1 ? 's' : ''} silent here (copy the files the manifest was built from)`
    : extras.length
      ? `this device plays the shared timeline, but the playlist has ${extras.length} entr${extras.length > 1 ? 'ies' : 'y'} the manifest lacks (not played): rebuild the manifest if they belong`
      : 'this device plays the shared timeline';
  const passSec = (onePass.endFrame + (repeat > 1 ? tl.gapFrames : 0)) / m.sampleRate;
  const length =
    `${rows.length} slots, ${formatDuration(onePass.endFrame / m.sampleRate)}${tl.gapFrames ? ` with ${o.gapMs} ms gaps` : ''}` +
    `${repeat > 1 ? `; played ${repeat} times (a pass every ${formatDuration(passSec)}): ${formatDuration(tl.endFrame / m.sampleRate)} in all` : ''}`;
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        {
          manifest: path,
          sampleRate: m.sampleRate,
          gapFrames: tl.gapFrames,
          repeat,
          totalFrames: tl.endFrame,
          tracks: rows,
          notInManifest: extras.map((x) => ({ line: x.line, path: x.path })),
          plays: silent === 0,
          verdict,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    for (const n of pl.notes ?? []) process.stdout.write(`note: ${n}\n`);
    for (const r of rows)
      process.stdout.write(
        `${String(r.index).padStart(3)}  ${formatDuration(r.startSec).padStart(8)}  ${formatDuration(r.frames / m.sampleRate).padStart(6)}  ${r.status.padEnd(36)} ${r.title ?? r.path}\n`,
      );
    for (const x of extras)
      process.stdout.write(`  -  playlist line ${x.line} (${x.path}): not in the manifest, not played\n`);
    process.stdout.write(`${length}\n${verdict}\n`);
  }
  return silent === 0 && extras.length === 0 ? 0 : 1;
}

/** What plays at an instant, given the start instant: pure arithmetic on the manifest. */
function showAt(tl: Timeline, m: Manifest, o: ShowOptions): number {
  if (o.start === undefined)
    throw new Error('--at needs --start, the instant the timeline starts (an ISO 8601 instant with offset)');
  const startUtcNs = instantOption('--start', o.start);
  const atUtcNs = instantOption('--at', o.at!);
  const frame = frameAtUtc(startUtcNs, atUtcNs, m.sampleRate);
  const slot = slotAt(tl, frame);
  const me = slot && m.entries[slot.indexInPass]!;
  const row =
    slot && me
      ? {
          track: slot.indexInPass + 1,
          ...(tl.passes > 1 ? { pass: slot.pass + 1 } : {}),
          path: me.path,
          title: me.title,
          frame: slot.frameInTrack,
          positionSec: slot.frameInTrack / m.sampleRate,
        }
      : null;
  const where = frame < 0 ? 'before the start' : frame >= tl.endFrame ? 'after the end' : 'in a gap';
  process.stdout.write(
    o.json
      ? JSON.stringify({ timelineFrame: frame, playing: row }) + '\n'
      : row
        ? `track ${row.track}${row.pass ? ` (pass ${row.pass})` : ''} ${row.title ?? row.path} at ${formatDuration(row.positionSec)} (frame ${row.frame})\n`
        : `nothing plays then: ${where} (timeline frame ${frame})\n`,
  );
  return 0;
}
