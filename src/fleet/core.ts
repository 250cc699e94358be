import type { PlanOp } from '../player/plan-ops.js';
import { parseCommand, parseEnvelope, commandId, ROLE_OPS, type Command } from './command.js';
import { currentRide, foldCommands, rideClosure, setDigest, sortCommands } from './fold.js';
import { verifyBytes, type PublicKeyEntry } from './keys.js';

/**
 * The fleet's state, without I/O: which envelopes are valid, which commands count for the current
 * ride, and what is rejected and why. Every way in (the cmd topic, the retained plan, the state
 * file, `fleet apply`) goes through ingest(); nothing here throws on bad input, and a rejected
 * envelope changes nothing. Cheap checks run before the signature; a command already known (by
 * id) or an envelope already judged is answered from memory, so replays cost a hash.
 */

export type RejectReason =
  | 'oversized'
  | 'malformed'
  | 'other-fleet'
  | 'unknown-key'
  | 'role'
  | 'signature'
  | 'old-ride'
  | 'issued-future'
  | 'at-too-far'
  | 'rate-limit'
  | 'too-many'
  | 'overload';
export const REJECT_REASONS: readonly RejectReason[] = [
  'oversized',
  'malformed',
  'other-fleet',
  'unknown-key',
  'role',
  'signature',
  'old-ride',
  'issued-future',
  'at-too-far',
  'rate-limit',
  'too-many',
  'overload',
];
export const REJECT_TEXT: Record<RejectReason, string> = {
  oversized: 'oversized envelope',
  malformed: 'malformed envelope or command',
  'other-fleet': 'command for another fleet',
  'unknown-key': 'signed by an unknown key',
  role: "op beyond the key's role",
  signature: 'bad signature',
  'old-ride': 'command for an old ride',
  'issued-future': '"issued" too far in the future',
  'at-too-far': '"at" too far ahead',
  'rate-limit': 'key over its rate limit',
  'too-many': 'too many commands held',
  overload: 'dropped unread: the queue of envelopes to check was full (a flood)',
};

/** Where an envelope came from: the store was checked when first accepted (no time or rate checks again). */
export type Source = 'cmd' | 'plan' | 'store' | 'inbox';

export type IngestResult =
  | { kind: 'accepted'; command: Command; lateNs: number }
  | { kind: 'pending'; command: Command }
  | { kind: 'duplicate'; id: string }
  | { kind: 'rejected'; reason: RejectReason; detail: string; kid?: string };

/** An operator's clock within this of UTC: farther means a wrong clock or a command held back to replay. */
export const MAX_ISSUED_AHEAD_NS = 120_000_000_000n;
/** A ride lasts hours: a command for later than a day belongs to another ride. */
export const MAX_AT_AHEAD_NS = 86_400_000_000_000n;
/** Per key, at most this many commands issued within RATE_WINDOW_NS (a DJ's quick volume taps fit). */
export const RATE_MAX = 30;
export const RATE_WINDOW_NS = 10_000_000_000n;
/** Commands held (counted and pending): bounds memory and the retained plan (~3 KB each). */
export const MAX_COMMANDS = 1000;
/** Envelopes remembered by hash with their verdict, so a replayed flood costs a hash each. */
export const SEEN_MAX = 4096;

export interface CoreOptions {
  fleet: string;
  device: string;
  keys: ReadonlyMap<string, PublicKeyEntry>;
  /** UTC now by the disciplined clock (ns). */
  utcNowNs(): bigint;
  /** The ride the config's schedule gives now (rideIdOf of its start), or undefined before it is known. */
  rideId(): string | undefined;
}

interface Held {
  command: Command;
  /** The envelope as received: what is persisted and republished. */
  text: string;
}

export class FleetCore {
  private readonly held = new Map<string, Held>();
  private counted = new Set<string>();
  private baseRide: string | undefined;
  private readonly seen = new Map<string, IngestResult>();
  private readonly perKeyIssued = new Map<string, bigint[]>();
  readonly counts: Record<RejectReason | 'accepted' | 'duplicate' | 'pending', number>;

  constructor(private readonly opts: CoreOptions) {
    this.counts = Object.fromEntries(
      [...REJECT_REASONS, 'accepted', 'duplicate', 'pending'].map((k) => [k, 0]),
    ) as FleetCore['counts'];
    this.baseRide = opts.rideId();
  }

  /** One envelope, from anywhere. Never throws. */
  ingest(envelope: string | Buffer, source: Source): IngestResult[] {
    const text = typeof envelope === 'string' ? envelope : envelope.toString('utf8');
    const key = commandId(Buffer.from(text, 'utf8'));
    const cached = this.seen.get(key);
    if (cached) {
      const r =
        cached.kind === 'accepted' || cached.kind === 'pending'
          ? { kind: 'duplicate' as const, id: cached.command.id }
          : cached;
      this.count(r);
      return [r];
    }
    const results = this.judge(text, source);
    const first = results[0]!;
    // Verdicts that cannot change with time are remembered (the rest may pass later).
    if (
      first.kind === 'accepted' ||
      first.kind === 'pending' ||
      first.kind === 'duplicate' ||
      (first.kind === 'rejected' &&
        !['issued-future', 'at-too-far', 'rate-limit', 'too-many', 'old-ride'].includes(first.reason))
    ) {
      if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
      this.seen.set(key, first);
    }
    results.forEach((r) => this.count(r));
    return results;
  }

  private count(r: IngestResult): void {
    this.counts[r.kind === 'rejected' ? r.reason : r.kind]++;
  }

  private judge(text: string, source: Source): IngestResult[] {
    const env = parseEnvelope(text);
    if (!env.ok) return [{ kind: 'rejected', reason: env.reason, detail: env.detail }];
    const id = commandId(env.value.bytes);
    if (this.held.has(id)) return [{ kind: 'duplicate', id }];
    const parsed = parseCommand(env.value.bytes);
    if (!parsed.ok) return [{ kind: 'rejected', reason: parsed.reason, detail: parsed.detail }];
    const c = parsed.value;
    const reject = (reason: RejectReason, detail: string): IngestResult[] => [
      { kind: 'rejected', reason, detail, kid: c.kid },
    ];
    if (c.fleet !== this.opts.fleet) return reject('other-fleet', `fleet "${c.fleet}", this is "${this.opts.fleet}"`);
    const key = this.opts.keys.get(c.kid);
    if (!key) return reject('unknown-key', `key "${c.kid}" is not in fleet.keys`);
    if (!ROLE_OPS[key.role].includes(c.op)) return reject('role', `key "${c.kid}" (${key.role}) may not ${c.op}`);
    if (!verifyBytes(env.value.bytes, env.value.signature, key.key))
      return reject('signature', `signature does not verify with key "${c.kid}"`);
    const nowNs = this.opts.utcNowNs();
    if (source !== 'store') {
      if (c.issuedUtcNs > nowNs + MAX_ISSUED_AHEAD_NS)
        return reject('issued-future', `issued ${Number(c.issuedUtcNs - nowNs) / 1e9} s in the future`);
      if (c.atUtcNs > nowNs + MAX_AT_AHEAD_NS)
        return reject('at-too-far', `at ${Number(c.atUtcNs - nowNs) / 1e9} s ahead`);
      if (this.overRate(c))
        return reject(
          'rate-limit',
          `key "${c.kid}" issued over ${RATE_MAX} commands within ${Number(RATE_WINDOW_NS) / 1e9} s`,
        );
    }
    if (this.baseRide !== undefined && c.ride < this.baseRide && !this.closure().has(c.ride))
      return reject('old-ride', `ride ${c.ride}, this device is on ${this.baseRide}`);
    if (this.held.size >= MAX_COMMANDS) return reject('too-many', `${MAX_COMMANDS} commands held already`);
    this.held.set(id, { command: c, text });
    this.noteIssued(c);
    const before = new Set(this.counted);
    this.recount();
    if (!this.counted.has(id)) return [{ kind: 'pending', command: c }];
    // A start can make held commands of its ride count: report them too.
    const lateOf = (x: Command) => Math.max(0, Number(nowNs - x.atUtcNs));
    const newly = [...this.counted].filter((x) => x !== id && !before.has(x)).map((x) => this.held.get(x)!.command);
    return [
      { kind: 'accepted', command: c, lateNs: lateOf(c) },
      ...newly.map((x) => ({ kind: 'accepted' as const, command: x, lateNs: lateOf(x) })),
    ];
  }

  private overRate(c: Command): boolean {
    const list = this.perKeyIssued.get(c.kid) ?? [];
    let n = 0;
    for (const t of list) if (t > c.issuedUtcNs - RATE_WINDOW_NS && t <= c.issuedUtcNs + RATE_WINDOW_NS) n++;
    return n >= RATE_MAX;
  }

  private noteIssued(c: Command): void {
    const list = this.perKeyIssued.get(c.kid) ?? [];
    list.push(c.issuedUtcNs);
    this.perKeyIssued.set(c.kid, list);
  }

  private closure(): Set<string> {
    return this.baseRide === undefined
      ? new Set()
      : rideClosure(
          this.baseRide,
          [...this.held.values()].map((h) => h.command),
        );
  }

  private recount(): void {
    const rides = this.closure();
    this.counted = new Set([...this.held].filter(([, h]) => rides.has(h.command.ride)).map(([id]) => id));
  }

  /**
   * The config's ride may have changed (the clock locked, the next occurrence came): count again,
   * drop commands of rides now past. Returns the commands that count now and did not before.
   */
  refresh(): Command[] {
    const ride = this.opts.rideId();
    if (ride === this.baseRide) return [];
    this.baseRide = ride;
    const before = new Set(this.counted);
    this.recount();
    if (ride !== undefined) {
      const rides = this.closure();
      for (const [id, h] of this.held) {
        if (!rides.has(h.command.ride) && h.command.ride < ride) {
          this.held.delete(id);
          this.counts['old-ride']++;
        }
      }
      this.rebuildRates();
    }
    return [...this.counted].filter((id) => !before.has(id)).map((id) => this.held.get(id)!.command);
  }

  private rebuildRates(): void {
    this.perKeyIssued.clear();
    for (const h of this.held.values()) this.noteIssued(h.command);
  }

  /** The commands that count, in fold order. */
  commands(): Command[] {
    return sortCommands([...this.counted].map((id) => this.held.get(id)!.command));
  }

  /** Their envelopes, in fold order: the retained plan and the state file. */
  envelopes(): string[] {
    return this.commands().map((c) => this.held.get(c.id)!.text);
  }

  has(id: string): boolean {
    return this.counted.has(id);
  }

  ops(): PlanOp[] {
    return foldCommands(this.commands(), this.opts.device);
  }

  digest(): string {
    return setDigest(this.commands());
  }

  /** The ride new commands should name (undefined before the config's ride is known). */
  ride(): string | undefined {
    return this.baseRide === undefined ? undefined : currentRide(this.baseRide, this.commands());
  }

  get rememberedVerdicts(): number {
    return this.seen.size;
  }

  get pendingCount(): number {
    return this.held.size - this.counted.size;
  }
}
