import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { PlanOp } from '../player/plan-ops.js';
import type { Config } from '../service/config.js';
import { resolvePath } from '../service/config.js';
import type { Logger } from '../service/log.js';
import type { MonotonicClock, TimerHandle } from '../time/clock.js';
import { ID_PATTERN, MAX_ENVELOPE_BYTES, type Command } from './command.js';
import { FleetCore, REJECT_TEXT, type IngestResult, type RejectReason, type Source } from './core.js';
import { keyTable } from './keys.js';
import { BrokerLink } from './link.js';
import { readInbox, readStoredCommands, removeInboxFile, writeStoredCommands } from './store.js';
import { topics, type FleetStatusMessage, type PlanMessage } from './topics.js';

/**
 * Fleet control (issue 15): signed commands, each naming the UTC instant it takes effect, folded
 * into the plan. A layer on top of playback: it never blocks it, and losing the broker changes
 * nothing audible.
 *
 * How the session uses it (the whole interface):
 *
 *   const fleet = await startFleet({
 *     config, log, clock,            // MonotonicClock: timers and CPU budgets
 *     utcNowNs: () => bigint,        // UTC now by the disciplined clock
 *     stateDir,                      // accepted commands persist here (and fleet apply's inbox)
 *     rideId: () => rideIdOf(startUtcNs) | undefined,   // the config's ride; undefined before it is known
 *     status: () => DeviceStatus,    // what the device reports (clock, playback, simulated?)
 *     onOps: (ops, info) => { plan = buildPlan(baseline, ops) },  // every change of the op list
 *   });
 *   fleet.refresh()                  // once the start is resolved, before placing: stored commands of this ride count
 *   fleet.ops()                      // the current list (also passed to onOps)
 *   fleet.snapshot()                 // for the local status socket
 *   await fleet.stop()               // presence "0", disconnect
 *
 * startFleet resolves once the stored commands (and any `fleet apply` inbox) are re-read and, when
 * any count for rideId() as it is then, onOps has been called. If the ride is not known yet (the
 * clock not locked), call refresh() when it is, before the first frame is placed. The broker connection
 * is made in the background. onOps is called with the complete, sorted list every time it changes;
 * an exception thrown there is logged and the previous plan stays in force. When the config's ride
 * changes (rideId() returns another value) the fleet notices within STATUS_EVERY_MS.
 */

export { rideIdOf } from './command.js';
export type { Command } from './command.js';

/** What the session reports about the device (published as part of status/<device>). */
export interface DeviceStatus {
  clock: { state: string; source: string; errorBoundUs: number | null };
  /** True when any of the hardware is a twin: status never pretends. */
  simulated: boolean;
  playback?: {
    state: string;
    track?: number;
    tracks?: number;
    positionSec?: number;
    syncErrorUs?: number;
    gainDb?: number;
    muted?: boolean;
  };
  /** The plan's digest (plan.ts), when the session has one. */
  planDigest?: string;
}

export interface AcceptedInfo {
  id: string;
  op: string;
  kid: string;
  atUtcNs: bigint;
  /** How long after its instant the command arrived (0 if before): the device re-places onto the plan. */
  lateNs: number;
  /**
   * How far past its instant the audio was already rendered when it arrived (0 if not): frames queued
   * for the device cannot be recalled, so the command takes effect that much late here.
   */
  queuedNs: number;
  /** How it came; "held": it waited for its ride (a start, or the config's ride becoming known). */
  source: Source | 'held';
}

export interface OpsInfo {
  ride: string | undefined;
  /** Digest of the accepted command set. */
  digest: string;
  /** What is new since the last call. */
  accepted: AcceptedInfo[];
}

export interface FleetOptions {
  config: Config;
  log: Logger;
  clock: MonotonicClock;
  utcNowNs(): bigint;
  stateDir: string;
  /** This device's id; default fleet.device, else the hostname. */
  device?: string;
  rideId(): string | undefined;
  status(): DeviceStatus;
  onOps(ops: PlanOp[], info: OpsInfo): void;
  /** The plan's UTC up to which audio is already rendered for the device (undefined: nothing playing). */
  renderedToUtcNs?(): bigint | undefined;
  /** In [0, 1): reconnect and plan-publish jitter (Math.random by default). */
  random?: () => number;
}

export interface FleetSnapshot {
  enabled: boolean;
  device: string;
  fleet: string;
  broker?: string;
  ride?: string;
  digest: string;
  count: number;
  pending: number;
  rejected: Partial<Record<RejectReason, number>>;
  duplicates: number;
  recent: Array<{ id: string; op: string; at: string; lateMs?: number }>;
  /** Envelopes waiting to be checked, and the longest stretch of checking at once (ms, wall time). */
  queued: number;
  longestSliceMs: number;
}

export interface Fleet {
  readonly enabled: boolean;
  readonly device: string;
  ops(): PlanOp[];
  /**
   * Asks rideId() again now (the fleet also does every STATUS_EVERY_MS): call it once the start is
   * resolved and before the first frame is placed, so that commands stored for this ride (a stop
   * before a reboot) are in the plan from the first frame. Calls onOps if the list changed.
   */
  refresh(): PlanOp[];
  snapshot(): FleetSnapshot;
  stop(): Promise<void>;
}

/** Status is republished this often (and at once after a change); the ride and the inbox are checked too. */
export const STATUS_EVERY_MS = 2_000;
/** Fleet work may use this share of one core in a flood (envelopes wait in the queue meanwhile). */
const CPU_DUTY = 0.25;
/** ...and at most this much at once, so the audio callback never waits longer. */
const CPU_BURST_NS = 10_000_000;
/**
 * Envelopes waiting to be checked: room for a full retained plan and a burst of thousands; a flood
 * beyond it is dropped (and counted) rather than held: memory stays bounded.
 */
const MAX_QUEUE_BYTES = 8 * 2 ** 20;
/** A plan message holds at most MAX_COMMANDS envelopes of ≤ 3 KB. */
const MAX_PLAN_BYTES = 3_500_000;
/** Before republishing the plan: random 0.2–1.2 s, so that one device of many does it. */
const PLAN_JITTER_MIN_MS = 200;
const PLAN_JITTER_SPAN_MS = 1_000;
/** After subscribing, a retained plan arrives at once; none within this means the broker holds none. */
const PLAN_SETTLE_MS = 2_000;
/** A rejection reason is logged at most once in this window (with the count since). */
const REJECT_LOG_EVERY_NS = 60_000_000_000n;
/** Confirmed commands listed in status. */
const RECENT_MAX = 64;

/** This device's id in topics: fleet.device, else the hostname made topic-safe. */
export function deviceIdOf(config: Config): string {
  if (config.fleet.device) return config.fleet.device;
  const h = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 64);
  return ID_PATTERN.test(h) ? h : 'device';
}

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const f = o.config.fleet;
  const device = o.device ?? deviceIdOf(o.config);
  if (!f.enabled) {
    return {
      enabled: false,
      device,
      ops: () => [],
      refresh: () => [],
      stop: async () => {},
      snapshot: () => ({
        enabled: false,
        device,
        fleet: f.id,
        digest: '',
        count: 0,
        pending: 0,
        rejected: {},
        duplicates: 0,
        recent: [],
        queued: 0,
        longestSliceMs: 0,
      }),
    };
  }
  const fleet = new FleetRuntime(o, device);
  await fleet.start();
  return fleet;
}

interface Item {
  text: string;
  source: Source;
  done?: () => void;
}

class FleetRuntime implements Fleet {
  readonly enabled = true;
  private readonly core: FleetCore;
  private readonly t: ReturnType<typeof topics>;
  private link?: BrokerLink;
  private readonly queue: Item[] = [];
  private queueBytes = 0;
  /** The longest the queue was worked on at once (wall time, ns): what playback may have waited for it. */
  private longestSliceNs = 0;
  private draining = false;
  private budgetNs = CPU_BURST_NS;
  private budgetAtNs: bigint;
  private readonly newlyAccepted: AcceptedInfo[] = [];
  private readonly recent: FleetSnapshot['recent'] = [];
  private readonly rejectLog = new Map<RejectReason, { atNs: bigint; since: number }>();
  private persisting?: Promise<void>;
  private persistAgain = false;
  private statusTimer?: TimerHandle;
  private planTimer?: TimerHandle;
  /**
   * The retained plan as last seen: its ride and envelope texts (texts, not ids: an envelope with
   * a valid command but a forged signature has the same id, and must not pass for ours).
   */
  private retainedPlan?: { ride: string; texts: Set<string> };
  /** A plan message came since connecting, or none came within PLAN_SETTLE_MS of subscribing. */
  private planKnown = false;
  private stopped = false;
  private inboxBusy = false;
  private readonly random: () => number;

  constructor(
    private readonly o: FleetOptions,
    readonly device: string,
  ) {
    this.t = topics(o.config.fleet.id);
    this.core = new FleetCore({
      fleet: o.config.fleet.id,
      device,
      keys: keyTable(o.config.fleet.keys),
      utcNowNs: o.utcNowNs,
      rideId: o.rideId,
    });
    this.budgetAtNs = o.clock.nowNs();
    this.random = o.random ?? Math.random;
  }

  async start(): Promise<void> {
    const { log, config } = this.o;
    const stored = await readStoredCommands(this.o.stateDir, config.fleet.id);
    if (stored.note) log.warn(`fleet: ${stored.note}`);
    // Straight in (no CPU budget): these must be in the plan before the first frame is placed.
    for (const e of stored.envelopes) this.handle(this.core.ingest(e, 'store'), 'store');
    await this.takeInbox();
    const n = this.core.commands().length;
    log.info(
      `fleet "${config.fleet.id}" as device "${this.device}": ${n} stored command${n === 1 ? '' : 's'} of ride ${this.core.ride() ?? '(not known yet)'}; ${config.fleet.keys.length} operator key${config.fleet.keys.length === 1 ? '' : 's'}`,
    );
    this.flushAccepted();
    this.tick();
    this.connect();
  }

  private connect(): void {
    const f = this.o.config.fleet;
    if (f.brokers.length === 0) {
      this.o.log.info('fleet: no brokers configured: commands come only from files (jaudiosync fleet apply)');
      return;
    }
    let password: string | undefined;
    if (f.password_file) {
      const path = resolvePath(this.o.config, f.password_file);
      try {
        password = readFileSync(path, 'utf8').split('\n')[0]!.trim();
      } catch (e) {
        this.o.log.error(
          `fleet: cannot read fleet.password_file ${path} (${(e as Error).message}): not connecting to the broker; playback is not affected`,
        );
        return;
      }
    }
    this.link = new BrokerLink({
      brokers: f.brokers,
      clientId: `jas-${f.id}-${this.device}`.slice(0, 128),
      username: f.username,
      password,
      clean: false,
      will: { topic: this.t.online(this.device), payload: '0', retain: true, qos: 1 },
      subscribe: [this.t.cmd, this.t.plan],
      clock: this.o.clock,
      random: this.random,
      onMessage: (topic, payload, _retained, done) => this.onMessage(topic, payload, done),
      onConnect: (url) => {
        this.o.log.info(`fleet: connected to ${url}`);
        void this.link?.publish(this.t.online(this.device), '1', { retain: true, qos: 1 });
        this.publishStatus();
        // The broker may have lost the retained plan: learn what it holds before offering ours.
        this.retainedPlan = undefined;
        this.planKnown = false;
      },
      onSubscribed: () => {
        this.o.clock.setTimer(PLAN_SETTLE_MS * 1e6, () => {
          this.planKnown = true;
          this.schedulePlanPublish();
        });
      },
      onDisconnect: (why) => this.o.log.warn(`fleet: ${why}; retrying (playback is not affected)`),
    });
    this.link.start();
  }

  private onMessage(topic: string, payload: Buffer, done: () => void): void {
    if (this.stopped) {
      done();
      return;
    }
    // Taken off the socket at once (so that pings and acks keep flowing in a flood), checked later
    // within the CPU budget; beyond MAX_QUEUE_BYTES waiting, an envelope is dropped unread.
    done();
    if (topic === this.t.cmd) {
      if (payload.length > MAX_ENVELOPE_BYTES) {
        // Refused before it is even decoded.
        this.core.counts.oversized++;
        this.noteReject('oversized', `${payload.length} bytes (at most ${MAX_ENVELOPE_BYTES})`);
        return;
      }
      this.enqueue([{ text: payload.toString('utf8'), source: 'cmd' }]);
    } else if (topic === this.t.plan) {
      const plan = this.parsePlan(payload);
      if (!plan || plan.envelopes.length === 0) {
        this.schedulePlanPublish();
        return;
      }
      const items: Item[] = plan.envelopes.map((text) => ({ text, source: 'plan' as const }));
      items[items.length - 1]!.done = () => this.schedulePlanPublish();
      this.enqueue(items);
    }
  }

  private parsePlan(payload: Buffer): PlanMessage | undefined {
    // Until it parses, the retained plan counts as empty (garbage there is replaced by ours).
    this.retainedPlan = { ride: '', texts: new Set() };
    this.planKnown = true;
    if (payload.length === 0) return undefined; // a cleared retained plan
    if (payload.length > MAX_PLAN_BYTES) {
      this.core.counts.oversized++;
      this.noteReject('oversized', `plan message of ${payload.length} bytes`);
      return undefined;
    }
    try {
      const p = JSON.parse(payload.toString('utf8')) as PlanMessage;
      if (
        p.v !== 1 ||
        typeof p.ride !== 'string' ||
        !Array.isArray(p.envelopes) ||
        !p.envelopes.every((e) => typeof e === 'string')
      )
        throw new Error('shape');
      this.retainedPlan = { ride: p.ride, texts: new Set(p.envelopes) };
      return p;
    } catch {
      this.core.counts.malformed++;
      this.noteReject('malformed', 'plan message is not {v:1, ride, envelopes:[...]}');
      return undefined;
    }
  }

  private enqueue(items: Item[]): void {
    const bytes = items.reduce((n, i) => n + i.text.length, 0);
    if (this.queueBytes + bytes > MAX_QUEUE_BYTES) {
      this.core.counts.overload += items.length;
      this.noteReject(
        'overload',
        `${items.length} envelope${items.length === 1 ? '' : 's'} while ${this.queue.length} wait`,
      );
      items.at(-1)?.done?.();
      return;
    }
    this.queueBytes += bytes;
    this.queue.push(...items);
    if (!this.draining) this.drain();
  }

  /** Works the queue within a CPU budget: a flood waits in the queue, playback does not. */
  private drain(): void {
    this.draining = true;
    const now = this.o.clock.nowNs();
    this.budgetNs = Math.min(CPU_BURST_NS, this.budgetNs + Number(now - this.budgetAtNs) * CPU_DUTY);
    this.budgetAtNs = now;
    while (this.queue.length && this.budgetNs > 0 && !this.stopped) {
      const item = this.queue.shift()!;
      this.queueBytes -= item.text.length;
      const t0 = this.o.clock.nowNs();
      try {
        this.handle(this.core.ingest(item.text, item.source), item.source);
      } catch (e) {
        this.o.log.error(`fleet: ${(e as Error).message} while taking in an envelope; the plan stays as it was`);
      }
      const t1 = this.o.clock.nowNs();
      this.budgetNs -= Number(t1 - t0);
      this.budgetAtNs = t1;
      item.done?.();
    }
    this.longestSliceNs = Math.max(this.longestSliceNs, Number(this.o.clock.nowNs() - now));
    this.flushAccepted();
    if (this.queue.length && !this.stopped) {
      this.o.clock.setTimer(-this.budgetNs / CPU_DUTY + 1e6, () => this.drain());
    } else {
      this.draining = false;
    }
  }

  private handle(results: IngestResult[], source: Source): void {
    // (a start can make held commands count: they come back accepted with it)
    const renderedTo = this.o.renderedToUtcNs?.();
    for (const r of results) {
      if (r.kind === 'accepted')
        this.newlyAccepted.push({ ...acceptedOf(r.command, this.o.utcNowNs(), renderedTo, source), lateNs: r.lateNs });
      else if (r.kind === 'rejected') this.noteReject(r.reason, r.detail);
    }
  }

  private noteReject(reason: RejectReason, detail: string): void {
    const now = this.o.clock.nowNs();
    const last = this.rejectLog.get(reason);
    if (last && now - last.atNs < REJECT_LOG_EVERY_NS) {
      last.since++;
      return;
    }
    const more = last?.since ? ` (and ${last.since} more since the last report)` : '';
    this.o.log.warn(`fleet: rejected: ${REJECT_TEXT[reason]}: ${detail}${more}; no effect`);
    this.rejectLog.set(reason, { atNs: now, since: 0 });
  }

  /** Tells the session, persists, then confirms (status lists the ids) and offers the plan. */
  private flushAccepted(): void {
    const fresh = this.newlyAccepted.splice(0);
    if (fresh.length === 0) return;
    const ride = this.core.ride();
    for (const a of fresh) {
      const late =
        a.lateNs > 0
          ? `; arrived ${(a.lateNs / 1e9).toFixed(3)} s after its instant: applied retroactively (re-placed onto the plan)`
          : a.queuedNs > 0
            ? `; arrived when the audio to ${(a.queuedNs / 1e6).toFixed(1)} ms past its instant was already rendered for the device: it takes effect up to that much late here`
            : '';
      this.o.log.info(
        `fleet: accepted ${a.op} from "${a.kid}" at ${isoNs(a.atUtcNs)} (${a.id.slice(0, 12)}, via ${a.source})${late}`,
      );
    }
    try {
      this.o.onOps(this.core.ops(), { ride, digest: this.core.digest(), accepted: fresh });
    } catch (e) {
      this.o.log.error(
        `fleet: applying the commands failed (${(e as Error).message}): the previous plan stays in force`,
      );
    }
    void this.persist().then(() => this.confirm(fresh));
  }

  /** Status lists the commands once they are in the plan and on disk. */
  private confirm(fresh: AcceptedInfo[]): void {
    try {
      for (const a of fresh) {
        if (!this.core.has(a.id)) continue;
        this.recent.push({
          id: a.id,
          op: a.op,
          at: a.atUtcNs.toString(),
          // (rounded up: never said less late than it is)
          ...(missedNs(a) > 0 ? { lateMs: Math.ceil(missedNs(a) / 1e5) / 10 } : {}),
        });
      }
      this.recent.splice(0, Math.max(0, this.recent.length - RECENT_MAX));
      this.publishStatus();
      this.schedulePlanPublish();
    } catch (e) {
      this.o.log.error(`fleet: ${(e as Error).message} while confirming commands; the plan is not affected`);
    }
  }

  /** Atomic, coalesced: one write at a time, the latest set last. */
  private persist(): Promise<void> {
    if (this.persisting) {
      this.persistAgain = true;
      return this.persisting;
    }
    const write = async (): Promise<void> => {
      do {
        this.persistAgain = false;
        try {
          await writeStoredCommands(this.o.stateDir, this.o.config.fleet.id, this.core.envelopes());
        } catch (e) {
          this.o.log.warn(
            `fleet: cannot save the accepted commands in ${this.o.stateDir} (${(e as Error).message}); they hold until a restart`,
          );
        }
      } while (this.persistAgain);
      this.persisting = undefined;
    };
    this.persisting = write();
    return this.persisting;
  }

  refresh(): PlanOp[] {
    if (this.stopped) return this.core.ops();
    try {
      const newly = this.core.refresh();
      for (const c of newly)
        this.newlyAccepted.push(acceptedOf(c, this.o.utcNowNs(), this.o.renderedToUtcNs?.(), 'held'));
      this.flushAccepted();
    } catch (e) {
      this.o.log.error(`fleet: ${(e as Error).message}; the plan stays as it was`);
    }
    return this.core.ops();
  }

  private tick(): void {
    if (this.stopped) return;
    try {
      this.refresh();
      void this.takeInbox().catch((e: Error) => this.o.log.warn(`fleet: the inbox: ${e.message}`));
      this.publishStatus();
    } catch (e) {
      this.o.log.error(`fleet: ${(e as Error).message}; the plan stays as it was`);
    }
    this.statusTimer = this.o.clock.setTimer(STATUS_EVERY_MS * 1e6, () => this.tick());
  }

  private async takeInbox(): Promise<void> {
    if (this.inboxBusy) return;
    this.inboxBusy = true;
    try {
      for (const file of await readInbox(this.o.stateDir)) {
        for (const e of file.envelopes) this.handle(this.core.ingest(e, 'inbox'), 'inbox');
        this.flushAccepted();
        await this.persisting;
        await removeInboxFile(file.path);
      }
    } finally {
      this.inboxBusy = false;
    }
  }

  private statusMessage(): FleetStatusMessage {
    const s = this.o.status();
    const rejected = this.rejectedCounts();
    return {
      v: 1,
      device: this.device,
      fleet: this.o.config.fleet.id,
      ride: this.core.ride(),
      utcNs: this.o.utcNowNs().toString(),
      clock: s.clock,
      simulated: s.simulated,
      playback: s.playback,
      planDigest: s.planDigest,
      commands: {
        digest: this.core.digest(),
        count: this.core.commands().length,
        pending: this.core.pendingCount,
        recent: [...this.recent],
        rejected,
        duplicates: this.core.counts.duplicate,
      },
    };
  }

  private publishStatus(): void {
    if (!this.link?.connected) return;
    let msg: string;
    try {
      msg = JSON.stringify(this.statusMessage());
    } catch (e) {
      this.o.log.warn(`fleet: status not sent (${(e as Error).message})`);
      return;
    }
    if (this.stopped) return;
    void this.link.publish(this.t.status(this.device), msg, { retain: true, qos: 0 });
  }

  private needPlanPublish(): boolean {
    const ours = this.core.commands();
    const ride = this.core.ride();
    if (ours.length === 0 || ride === undefined || !this.planKnown) return false;
    const r = this.retainedPlan;
    if (!r) return true;
    if (r.ride !== ride) return ride > r.ride; // only ever replace an older ride's plan
    return this.core.envelopes().some((e) => !r.texts.has(e));
  }

  /** The retained plan is only ever replaced by a superset, after a random delay (one device of many does it). */
  private schedulePlanPublish(): void {
    if (this.stopped || this.planTimer || !this.link?.connected || !this.needPlanPublish()) return;
    const delayMs = PLAN_JITTER_MIN_MS + this.random() * PLAN_JITTER_SPAN_MS;
    this.planTimer = this.o.clock.setTimer(delayMs * 1e6, () => {
      this.planTimer = undefined;
      if (this.stopped || !this.link?.connected || !this.needPlanPublish()) return;
      const ride = this.core.ride()!;
      const envelopes = this.core.envelopes();
      const msg: PlanMessage = { v: 1, ride, envelopes };
      this.retainedPlan = { ride, texts: new Set(envelopes) };
      void this.link.publish(this.t.plan, JSON.stringify(msg), { retain: true, qos: 1 });
    });
  }

  ops(): PlanOp[] {
    return this.core.ops();
  }

  snapshot(): FleetSnapshot {
    return {
      enabled: true,
      device: this.device,
      fleet: this.o.config.fleet.id,
      broker: this.link?.broker,
      ride: this.core.ride(),
      digest: this.core.digest(),
      count: this.core.commands().length,
      pending: this.core.pendingCount,
      rejected: this.rejectedCounts(),
      duplicates: this.core.counts.duplicate,
      recent: [...this.recent],
      queued: this.queue.length,
      longestSliceMs: this.longestSliceNs / 1e6,
    };
  }

  private rejectedCounts(): Partial<Record<RejectReason, number>> {
    return Object.fromEntries(
      Object.entries(this.core.counts).filter(([k, v]) => v > 0 && !['accepted', 'duplicate', 'pending'].includes(k)),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.statusTimer?.cancel();
    this.planTimer?.cancel();
    for (const item of this.queue.splice(0)) item.done?.();
    await this.persisting;
    await this.link?.stop({ topic: this.t.online(this.device), payload: '0' });
  }
}

function acceptedOf(
  c: Command,
  utcNowNs: bigint,
  renderedToUtcNs: bigint | undefined,
  source: AcceptedInfo['source'],
): AcceptedInfo {
  return {
    id: c.id,
    op: c.op,
    kid: c.kid,
    atUtcNs: c.atUtcNs,
    lateNs: Math.max(0, Number(utcNowNs - c.atUtcNs)),
    queuedNs: renderedToUtcNs === undefined ? 0 : Math.max(0, Number(renderedToUtcNs - c.atUtcNs)),
    source,
  };
}

/** How late a command takes effect on this device: it came after its instant, or after its frames were rendered. */
const missedNs = (a: AcceptedInfo) => Math.max(a.lateNs, a.queuedNs);

function isoNs(utcNs: bigint): string {
  return new Date(Number(utcNs / 1_000_000n)).toISOString();
}
