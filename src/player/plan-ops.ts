/**
 * The vocabulary of the plan (DESIGN.md: "the plan is the only thing the engine reads about what
 * should sound at UTC u"). The config gives a baseline; these operations, each taking effect at a
 * UTC instant, are folded over it in the order given (the fleet sorts signed commands by
 * (at, issued, kid, id) first), so the same list gives the same plan on every device. Pure data.
 */

export type PlanOp =
  /** The timeline (re)starts at this track's first frame (0-based) at `atUtcNs`. */
  | { atUtcNs: bigint; op: 'start'; fromTrack: number }
  /** Fade out over fadeMs from `atUtcNs`, then the timeline ends: silence. */
  | { atUtcNs: bigint; op: 'stop'; fadeMs: number }
  /** The timeline holds (silent, after a short fade) from `atUtcNs`. */
  | { atUtcNs: bigint; op: 'pause' }
  /** A held timeline runs again from where it held. */
  | { atUtcNs: bigint; op: 'resume' }
  /** Jump n tracks (±) from the track playing at `atUtcNs`, to that track's start. */
  | { atUtcNs: bigint; op: 'skip'; n: number }
  /** Jump to a track (0-based) and an offset into it (s). */
  | { atUtcNs: bigint; op: 'seek'; track: number; offsetSec: number }
  /** Ramp the volume to db over rampMs from `atUtcNs`. */
  | { atUtcNs: bigint; op: 'volume'; db: number; rampMs: number }
  | { atUtcNs: bigint; op: 'mute' }
  | { atUtcNs: bigint; op: 'unmute' };

export type PlanOpName = PlanOp['op'];

export const PLAN_OP_NAMES: readonly PlanOpName[] = [
  'start',
  'stop',
  'pause',
  'resume',
  'skip',
  'seek',
  'volume',
  'mute',
  'unmute',
];
