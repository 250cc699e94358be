/**
 * The player layer: playlists (m3u), the timeline (pure arithmetic, from a manifest or counted frames),
 * ffmpeg decoding into RAM (TrackQueue), the plan (what should sound at UTC u: the config's baseline
 * and the operations folded over it), and the engine that puts the plan on an output sink's exact
 * samples through the DAC clock. Imports time and util; knows nothing of the service or the twins.
 */
export { readPlaylist, parseM3u, PlaylistError, type Playlist, type PlaylistEntry } from './m3u.js';
export { buildTimeline, slotAt, joinFrame, gapFramesFor, timelineSec, type Timeline } from './timeline.js';
export {
  readManifest,
  writeManifest,
  buildManifest,
  manifestTimeline,
  matchManifest,
  manifestPathFor,
  type Manifest,
} from './manifest.js';
export { countedManifest, type CountedManifest } from './frame-count-cache.js';
export { decodeToChunks, decodeFile, DecodeError, type PcmFormat } from './decoder.js';
export { findFfmpeg } from './ffmpeg.js';
export { TrackQueue, type TimelineTrack } from './tracks.js';
export { buildPlan, plainPlan, planDigest, Plan, type PlanBaseline } from './plan.js';
export { PLAN_OP_NAMES, type PlanOp, type PlanOpName } from './plan-ops.js';
export { PlaybackEngine, type EngineOptions, type TimelineAudio, type ChannelMode } from './engine.js';
export { DacClock } from './dac-clock.js';
export { NoAudioDeviceError, AudioDeviceUnavailableError, type OutputSink } from './sinks/sink.js';
export { AudifySink } from './sinks/audify-sink.js';
export { WavFileSink } from './sinks/wav-sink.js';
