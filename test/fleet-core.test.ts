import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { PlanOp, PlanOpName } from '../src/player/plan-ops.js';
import { seededRandom } from '../src/sim/oscillator.js';
import {
  encodeEnvelope,
  MAX_ENVELOPE_BYTES,
  parseCommand,
  parseEnvelope,
  rideIdOf,
  rideStartUtcNs,
  type Command,
} from '../src/fleet/command.js';
import {
  FleetCore,
  SEEN_MAX,
  MAX_AT_AHEAD_NS,
  MAX_ISSUED_AHEAD_NS,
  RATE_MAX,
  type IngestResult,
} from '../src/fleet/core.js';
import { foldCommands, setDigest, sortCommands } from '../src/fleet/fold.js';
import { generateOperatorKey, keyTable, parseOperatorKey, signBytes, type OperatorKey } from '../src/fleet/keys.js';
import { signCommand } from '../src/fleet/sign.js';

/** The fleet's pure core: envelopes, verification, every rejection, and the fold's order. */

const S = 1_000_000_000n;
const NOW = 1_782_000_000n * S; // 2026-06-21
const RIDE_START = NOW - 600n * S;
const RIDE = rideIdOf(RIDE_START);
const admin = generateOperatorKey('alice', 'admin').key;
const dj = generateOperatorKey('dj-bob', 'dj').key;
const vol = generateOperatorKey('carol', 'volume').key;
const stranger = generateOperatorKey('alice', 'admin').key; // same id, another key: a forger
const keys = keyTable([admin, dj, vol].map((k) => ({ id: k.id, role: k.role, public_key: k.publicKeyBase64 })));

function core(opts: { ride?: () => string | undefined; now?: () => bigint; device?: string } = {}) {
  return new FleetCore({
    fleet: 'mass',
    device: opts.device ?? 'bike1',
    keys,
    utcNowNs: opts.now ?? (() => NOW),
    rideId: opts.ride ?? (() => RIDE),
  });
}

let nonce = 0;
/** Signs as `key` even for an op its role forbids (what a malicious holder of that key could do). */
function forced(key: OperatorKey): OperatorKey {
  return { ...key, role: 'admin' };
}
function env(
  key: OperatorKey,
  op: PlanOpName,
  args: Record<string, number> = {},
  o: { at?: bigint; issued?: bigint; ride?: string; fleet?: string; target?: '*' | string[] } = {},
) {
  return signCommand(
    {
      fleet: o.fleet ?? 'mass',
      ride: o.ride ?? RIDE,
      op,
      args,
      atUtcNs: o.at ?? NOW + 2n * S,
      issuedUtcNs: o.issued ?? NOW,
      target: o.target,
      nonce: (++nonce).toString(16).padStart(16, '0'),
    },
    key,
  );
}

const kinds = (rs: IngestResult[]) => rs.map((r) => (r.kind === 'rejected' ? `rejected:${r.reason}` : r.kind));

test('a signed command round-trips: the id is the SHA-256 of the exact bytes the envelope carries', (t) => {
  const { envelope, command } = env(admin, 'volume', { db: -6, rampMs: 500 });
  const e = parseEnvelope(envelope);
  if (!e.ok) return t.fail(e.detail);
  t.is(command.id, createHash('sha256').update(e.value.bytes).digest('hex'));
  const c = parseCommand(e.value.bytes);
  if (!c.ok) return t.fail(c.detail);
  t.is(c.value.atUtcNs, NOW + 2n * S);
  t.deepEqual(c.value.args, { db: -6, rampMs: 500 });
  t.is(rideStartUtcNs(RIDE), RIDE_START);
  t.is(rideIdOf(1_782_000_000_123_456_789n), '2026-06-21T00:00:00.123456789Z');
  const k = core();
  t.deepEqual(kinds(k.ingest(envelope, 'cmd')), ['accepted']);
  t.deepEqual(k.ops(), [{ atUtcNs: NOW + 2n * S, op: 'volume', db: -6, rampMs: 500 }]);
});

test('a key file round-trips and signs what the device verifies', (t) => {
  const { file, key } = generateOperatorKey('eve', 'dj');
  const back = parseOperatorKey(file, 'eve.key');
  t.is(back.publicKeyBase64, key.publicKeyBase64);
  t.is(back.role, 'dj');
  t.throws(() => parseOperatorKey('{"v":1}', 'x.key'), { message: /x\.key: not a jaudiosync key file/ });
  t.throws(() => parseOperatorKey('garbage', 'y.key'), { message: /y\.key: not a jaudiosync key file/ });
  t.throws(
    () =>
      signCommand(
        { fleet: 'mass', ride: RIDE, op: 'start', args: { fromTrack: 0 }, atUtcNs: NOW, issuedUtcNs: NOW },
        back,
      ),
    { message: /role dj, which may not start/ },
  );
});

test('every kind of bad envelope is rejected, counted, and changes nothing', (t) => {
  const k = core();
  const good = env(admin, 'stop', { fadeMs: 1000 });
  t.deepEqual(kinds(k.ingest(good.envelope, 'cmd')), ['accepted']);
  const opsBefore = k.ops();
  const digestBefore = k.digest();
  const e = JSON.parse(env(admin, 'mute').envelope) as { v: number; cmd: string; sig: string };
  const flipped = Buffer.from(e.sig, 'base64');
  flipped[5]! ^= 0x01;
  const bytesOf = (envelope: string) => Buffer.from((JSON.parse(envelope) as { cmd: string }).cmd, 'base64');
  const reSign = (text: string, key = admin) =>
    encodeEnvelope(Buffer.from(text), signBytes(Buffer.from(text), key.privateKey));
  const cmdText = bytesOf(env(admin, 'mute').envelope).toString();
  const cases: Array<[string, string, string]> = [
    ['forged signature', JSON.stringify({ ...e, sig: flipped.toString('base64') }), 'signature'],
    ['signed by another key under a known id', env(stranger, 'stop', { fadeMs: 0 }).envelope, 'signature'],
    ['unsigned', JSON.stringify({ v: 1, cmd: e.cmd }), 'malformed'],
    ['unknown key', env(generateOperatorKey('mallory', 'admin').key, 'stop', { fadeMs: 0 }).envelope, 'unknown-key'],
    ['volume key stops', env(forced(vol), 'stop', { fadeMs: 0 }).envelope, 'role'],
    ['other fleet', env(admin, 'pause', {}, { fleet: 'other' }).envelope, 'other-fleet'],
    ['old ride', env(admin, 'pause', {}, { ride: rideIdOf(RIDE_START - 86_400n * S) }).envelope, 'old-ride'],
    [
      'issued in the future',
      env(admin, 'pause', {}, { issued: NOW + MAX_ISSUED_AHEAD_NS + S }).envelope,
      'issued-future',
    ],
    ['at too far ahead', env(admin, 'pause', {}, { at: NOW + MAX_AT_AHEAD_NS + S }).envelope, 'at-too-far'],
    ['oversized envelope', JSON.stringify({ v: 1, cmd: 'A'.repeat(MAX_ENVELOPE_BYTES), sig: e.sig }), 'oversized'],
    ['oversized command', encodeEnvelope(Buffer.from(' '.repeat(2100) + cmdText), flipped), 'oversized'],
    ['truncated JSON', good.envelope.slice(0, 60), 'malformed'],
    ['not JSON at all', '\u0000\u00ff garbage', 'malformed'],
    ['wrong types', reSign(cmdText.replace(/"at":"(\d+)"/, '"at":$1')), 'malformed'],
    ['huge number', reSign(cmdText.replace(/"at":"\d+"/, '"at":"99999999999999999999"')), 'malformed'],
    [
      'huge gain',
      reSign(JSON.stringify({ ...JSON.parse(cmdText), op: 'volume', args: { db: 1e308, rampMs: 0 } })),
      'malformed',
    ],
    ['an extra field', reSign(JSON.stringify({ ...JSON.parse(cmdText), extra: 1 })), 'malformed'],
    ['not UTF-8', reSign('\xff\xfe'), 'malformed'],
    ['an array', '[1,2,3]', 'malformed'],
    ['a prototype key', '{"__proto__":{"v":1},"v":1,"cmd":"","sig":""}', 'malformed'],
  ];
  for (const [what, text, reason] of cases) {
    const r = k.ingest(text, 'cmd');
    t.deepEqual(kinds(r), [`rejected:${reason}`], what);
  }
  t.deepEqual(k.ops(), opsBefore, 'no partial effect');
  t.is(k.digest(), digestBefore);
  t.is(k.counts.signature, 2);
  t.is(k.counts.malformed, 10);
  // A replay of the accepted command is a duplicate: no effect, counted.
  t.deepEqual(kinds(k.ingest(good.envelope, 'cmd')), ['duplicate']);
  t.deepEqual(kinds(k.ingest(good.envelope, 'plan')), ['duplicate']);
  t.is(k.counts.duplicate, 2);
  t.deepEqual(k.ops(), opsBefore);
});

test('roles: admin everything, dj all but start, volume only the level', (t) => {
  const k = core();
  t.deepEqual(kinds(k.ingest(env(admin, 'start', { fromTrack: 2 }).envelope, 'cmd')), ['accepted']);
  t.deepEqual(kinds(k.ingest(env(forced(dj), 'start', { fromTrack: 2 }).envelope, 'cmd')), ['rejected:role']);
  for (const op of ['stop', 'pause', 'resume', 'seek', 'skip', 'volume', 'mute', 'unmute'] as const) {
    const args: Record<string, number> =
      (
        {
          stop: { fadeMs: 0 },
          seek: { track: 1, offsetSec: 3 },
          skip: { n: 1 },
          volume: { db: -3, rampMs: 0 },
        } as Record<string, Record<string, number>>
      )[op] ?? {};
    t.deepEqual(kinds(k.ingest(env(dj, op, args).envelope, 'cmd')), ['accepted'], `dj ${op}`);
  }
  t.deepEqual(kinds(k.ingest(env(vol, 'volume', { db: -10, rampMs: 100 }).envelope, 'cmd')), ['accepted']);
  t.deepEqual(kinds(k.ingest(env(vol, 'mute').envelope, 'cmd')), ['accepted']);
  for (const op of ['pause', 'skip', 'stop', 'start'] as const) {
    const args: Record<string, number> =
      ({ skip: { n: 1 }, stop: { fadeMs: 0 }, start: { fromTrack: 0 } } as Record<string, Record<string, number>>)[
        op
      ] ?? {};
    t.deepEqual(kinds(k.ingest(env(forced(vol), op, args).envelope, 'cmd')), ['rejected:role'], `volume ${op}`);
  }
});

test('a key over its rate limit is refused; others are not affected', (t) => {
  const k = core();
  for (let i = 0; i < RATE_MAX; i++)
    t.deepEqual(
      kinds(
        k.ingest(
          env(dj, 'volume', { db: -i / 10, rampMs: 0 }, { issued: NOW - BigInt(i) * 100_000_000n }).envelope,
          'cmd',
        ),
      ),
      ['accepted'],
    );
  t.deepEqual(kinds(k.ingest(env(dj, 'volume', { db: -9, rampMs: 0 }).envelope, 'cmd')), ['rejected:rate-limit']);
  t.deepEqual(kinds(k.ingest(env(admin, 'volume', { db: -9, rampMs: 0 }).envelope, 'cmd')), ['accepted']);
  // Issued later than the window: allowed again.
  t.deepEqual(kinds(k.ingest(env(dj, 'volume', { db: -9, rampMs: 0 }, { issued: NOW + 20n * S }).envelope, 'cmd')), [
    'accepted',
  ]);
});

/** A random command set of many ops, kids, instants (with ties) and targets. */
function randomSet(rnd: () => number, n: number): Array<{ envelope: string; command: Command }> {
  const ops: Array<[PlanOpName, Record<string, number>]> = [
    ['stop', { fadeMs: 500 }],
    ['pause', {}],
    ['resume', {}],
    ['skip', { n: 1 }],
    ['skip', { n: -2 }],
    ['seek', { track: 3, offsetSec: 12.5 }],
    ['volume', { db: -6, rampMs: 200 }],
    ['volume', { db: 0, rampMs: 0 }],
    ['mute', {}],
    ['unmute', {}],
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    const [op, args] = ops[Math.floor(rnd() * ops.length)]!;
    const key = [admin, dj][Math.floor(rnd() * 2)]!;
    // Few distinct instants: ties on at and issued are the point.
    const at = NOW + BigInt(Math.floor(rnd() * 4)) * S;
    const issued = NOW - BigInt(Math.floor(rnd() * 3)) * S;
    const target = rnd() < 0.2 ? ['bike2'] : rnd() < 0.1 ? ['bike1', 'bike3'] : '*';
    out.push(env(key, op, args, { at, issued, target }));
  }
  return out;
}

function shuffled<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

test('the fold: any permutation of the same command set (with duplicates) gives the same ops and digest (seeded)', (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = seededRandom(seed);
    const set = randomSet(rnd, 25);
    const reference = core();
    for (const c of set) reference.ingest(c.envelope, 'cmd');
    const refOps = reference.ops();
    t.is(reference.commands().length, 25);
    for (let p = 0; p < 20; p++) {
      const k = core();
      const order = shuffled([...set, ...set.slice(0, 5)], rnd);
      for (const c of order) k.ingest(c.envelope, rnd() < 0.5 ? 'cmd' : 'plan');
      t.deepEqual(k.ops(), refOps, `seed ${seed} permutation ${p}`);
      t.is(k.digest(), reference.digest());
    }
    // The pure fold agrees, and is sorted by (at, issued, kid, id).
    t.deepEqual(
      foldCommands(
        shuffled(
          set.map((c) => c.command),
          rnd,
        ),
        'bike1',
      ),
      refOps,
    );
    const sorted = sortCommands(set.map((c) => c.command));
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1]!, sorted[i]!];
      t.true(
        a.atUtcNs < b.atUtcNs ||
          (a.atUtcNs === b.atUtcNs &&
            (a.issuedUtcNs < b.issuedUtcNs ||
              (a.issuedUtcNs === b.issuedUtcNs && (a.kid < b.kid || (a.kid === b.kid && a.id < b.id))))),
      );
    }
    // Targets: bike2 folds its own commands; the set's digest is the same on every device.
    const other = core({ device: 'bike2' });
    for (const c of set) other.ingest(c.envelope, 'cmd');
    t.is(other.digest(), reference.digest());
    t.is(other.ops().length, set.filter((c) => c.command.target === '*' || c.command.target.includes('bike2')).length);
    t.is(setDigest(set.map((c) => c.command)), reference.digest());
  }
});

test('rides: a start opens a ride; its commands wait for it; an unknown ride holds everything until the clock knows', (t) => {
  let ride: string | undefined;
  const k = core({ ride: () => ride });
  const startAt = NOW + 5n * S;
  const start = env(admin, 'start', { fromTrack: 0 });
  const start2 = env(admin, 'start', { fromTrack: 0 }, { at: startAt });
  const inNewRide = env(dj, 'volume', { db: -3, rampMs: 0 }, { ride: rideIdOf(startAt), at: startAt + S });
  t.deepEqual(kinds(k.ingest(start.envelope, 'cmd')), ['pending'], 'no ride known yet');
  t.deepEqual(k.ops(), []);
  ride = RIDE;
  t.is(k.refresh().length, 1, 'the clock knows the ride: the held command counts');
  t.deepEqual(kinds(k.ingest(inNewRide.envelope, 'plan')), ['pending'], 'its start has not arrived');
  const r = k.ingest(start2.envelope, 'cmd');
  t.deepEqual(kinds(r), ['accepted', 'accepted'], 'the start and the command it made count');
  t.is(k.ride(), rideIdOf(startAt));
  t.deepEqual(
    k.ops().map((o) => o.op),
    ['start', 'start', 'volume'],
  );
  // The next day's ride: yesterday's commands no longer count.
  ride = rideIdOf(RIDE_START + 86_400n * S);
  k.refresh();
  t.deepEqual(k.ops(), []);
  t.deepEqual(kinds(k.ingest(env(admin, 'stop', { fadeMs: 0 }).envelope, 'cmd')), ['rejected:old-ride']);
});

test('late commands are accepted and say how late they are', (t) => {
  const k = core();
  const r = k.ingest(env(admin, 'stop', { fadeMs: 0 }, { at: NOW - 1_500_000_000n }).envelope, 'cmd');
  t.is(r[0]!.kind, 'accepted');
  t.is((r[0] as { lateNs: number }).lateNs, 1_500_000_000);
});

test('a flood of 10 000 forged and 5 000 distinct garbage envelopes: all rejected and counted, no effect, verdict memory bounded', (t) => {
  const k = core();
  const forged = JSON.parse(env(admin, 'stop', { fadeMs: 0 }).envelope) as { sig: string };
  const bad = JSON.stringify({ ...forged, sig: Buffer.alloc(64, 7).toString('base64') });
  for (let i = 0; i < 10_000; i++) k.ingest(bad, 'cmd');
  t.is(k.counts.signature, 10_000);
  for (let i = 0; i < 5_000; i++) k.ingest(`{"v":1,"x":${i}}`, 'cmd');
  t.is(k.counts.malformed, 5_000);
  t.deepEqual(k.ops(), []);
  t.true(k.rememberedVerdicts <= SEEN_MAX, `${k.rememberedVerdicts}`);
});

// plan.ts (the fold over the baseline) comes from the precision work; once it is on this branch the
// permutations must also give the same plan digest. Until then this test is reported as skipped.
const planPath = new URL('../src/player/plan.ts', import.meta.url);
(existsSync(planPath) ? test : test.skip)(
  'the fold through plan.ts: any permutation of the same command set gives the same plan digest (seeded)',
  async (t) => {
    const planModule = (await import(planPath.href)) as {
      buildPlan(b: unknown, ops: readonly PlanOp[]): unknown;
      planDigest(p: unknown): string;
    };
    const baseline = {
      startUtcNs: RIDE_START,
      sampleRate: 48_000,
      trackStartFrames: [0, 2_880_000, 5_760_000, 8_640_000],
      endFrame: 11_520_000,
      volumeDb: 0,
      pauses: [],
    };
    for (const seed of [11, 12, 13]) {
      const rnd = seededRandom(seed);
      const set = randomSet(rnd, 25);
      const digests = new Set<string>();
      for (let p = 0; p < 10; p++) {
        const k = core();
        for (const c of shuffled([...set, ...set.slice(0, 3)], rnd)) k.ingest(c.envelope, 'cmd');
        digests.add(planModule.planDigest(planModule.buildPlan(baseline, k.ops())));
      }
      t.is(digests.size, 1, `seed ${seed}`);
    }
  },
);
