/**
 * The session core: one start of the playlist (open the stream -> wait until the clock is ready ->
 * place frame 0 or join late -> play -> stop), the same for the service in real time and the ride
 * simulator in virtual time; the wake-up on the monotonic clock; when the clock is good enough.
 * Imports player and time only: hardware, outputs and schedules are the caller's.
 */
export {
  PlaybackSession,
  NothingToJoinError,
  FADE_OUT_MS,
  type SessionOptions,
  type SessionEvents,
  type SessionSnapshot,
  type SessionAudio,
} from './session.js';
export { sleepUntilUtc, sleepMono, untilAborted } from './wake.js';
export { clockSettled, startDecision, placementLimitNs, type ReadinessPolicy } from './readiness.js';
