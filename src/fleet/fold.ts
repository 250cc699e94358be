import { createHash } from 'node:crypto';
import type { PlanOp } from '../player/plan-ops.js';
import { rideIdOf, targets, toPlanOp, type Command } from './command.js';

/**
 * The fold (pure): the valid commands of the current ride, sorted by (at, issued, kid, id), as
 * plan operations. Any arrival order of the same set gives the same list; a duplicate (same id)
 * counts once. plan.ts folds the list over the config's baseline.
 */

export function compareCommands(a: Command, b: Command): number {
  if (a.atUtcNs !== b.atUtcNs) return a.atUtcNs < b.atUtcNs ? -1 : 1;
  if (a.issuedUtcNs !== b.issuedUtcNs) return a.issuedUtcNs < b.issuedUtcNs ? -1 : 1;
  if (a.kid !== b.kid) return a.kid < b.kid ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Unique by id, in fold order. */
export function sortCommands(commands: Iterable<Command>): Command[] {
  const byId = new Map<string, Command>();
  for (const c of commands) byId.set(c.id, c);
  return [...byId.values()].sort(compareCommands);
}

/** The operations this device folds into its plan: those targeting it, in order. */
export function foldCommands(commands: Iterable<Command>, device: string): PlanOp[] {
  return sortCommands(commands)
    .filter((c) => targets(c, device))
    .map(toPlanOp);
}

/**
 * The rides whose commands count: the config's ride, and every ride an accepted `start` of a
 * counted ride begins (its `at`), transitively.
 */
export function rideClosure(baseRide: string, commands: Iterable<Command>): Set<string> {
  const starts = [...commands].filter((c) => c.op === 'start');
  const rides = new Set([baseRide]);
  for (let grew = true; grew;) {
    grew = false;
    for (const s of starts) {
      const next = rideIdOf(s.atUtcNs);
      if (rides.has(s.ride) && !rides.has(next)) {
        rides.add(next);
        grew = true;
      }
    }
  }
  return rides;
}

/** The ride new commands should name: the one the latest counted `start` began, else the config's. */
export function currentRide(baseRide: string, counted: Iterable<Command>): string {
  const starts = sortCommands(counted).filter((c) => c.op === 'start');
  return starts.length ? rideIdOf(starts[starts.length - 1]!.atUtcNs) : baseRide;
}

/** Digest of a command set (the same on every device with the same set, whatever its targets). */
export function setDigest(commands: Iterable<Command>): string {
  const h = createHash('sha256');
  for (const c of sortCommands(commands)) h.update(`${c.id}\n`);
  return h.digest('hex').slice(0, 16);
}
