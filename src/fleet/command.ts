import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { PlanOp, PlanOpName } from '../player/plan-ops.js';

/**
 * A fleet command and its envelope (issue 15). The command is a JSON object whose exact UTF-8
 * bytes are signed; the envelope carries those bytes (base64) and the Ed25519 signature, so every
 * device verifies and hashes the very bytes the operator signed: id = SHA-256 of them.
 *
 *   command  {v:1, fleet, ride, kid, nonce, issued, at, op, args, target}
 *   envelope {"v":1,"cmd":"<base64 of the command's bytes>","sig":"<base64 of 64 bytes>"}
 *
 * `issued` and `at` are UTC instants in ns as decimal strings (a double cannot hold them); `ride`
 * is the ride's start instant as rideIdOf() writes it; tracks in `args` are 0-based, as in PlanOp.
 * Pure: parsing and checking here, keys and signatures in keys.ts.
 */

export const COMMAND_VERSION = 1;
export type Role = 'admin' | 'dj' | 'volume';
export const ROLES: readonly Role[] = ['admin', 'dj', 'volume'];

/** What each role may command: dj all but start; volume only the level. */
export const ROLE_OPS: Record<Role, readonly PlanOpName[]> = {
  admin: ['start', 'stop', 'pause', 'resume', 'skip', 'seek', 'volume', 'mute', 'unmute'],
  dj: ['stop', 'pause', 'resume', 'skip', 'seek', 'volume', 'mute', 'unmute'],
  volume: ['volume', 'mute', 'unmute'],
};

/** A command's bytes: room for a target list of dozens of devices, far below one MQTT packet. */
export const MAX_COMMAND_BYTES = 2048;
/** An envelope: the command in base64 (4/3) plus the signature and the JSON around them. */
export const MAX_ENVELOPE_BYTES = 3072;
/** Ids that go into topics, targets and key names. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** A ride id: its start instant, ISO 8601 UTC to the ns (sorts as it happens). */
export const RIDE_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;
/** Largest instant a command may name: 2^63 ns (year 2262). */
const MAX_UTC_NS = 2n ** 63n - 1n;

const NS_PER_SEC = 1_000_000_000n;

/** The ride that starts at this UTC instant, as commands name it. */
export function rideIdOf(startUtcNs: bigint): string {
  const sec = startUtcNs / NS_PER_SEC;
  const frac = (startUtcNs % NS_PER_SEC).toString().padStart(9, '0');
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${frac}Z`;
}

/** The start instant a ride id names (undefined when it is not one). */
export function rideStartUtcNs(ride: string): bigint | undefined {
  if (!RIDE_PATTERN.test(ride)) return undefined;
  const ms = Date.parse(`${ride.slice(0, 19)}Z`);
  return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n + BigInt(ride.slice(20, 29)) : undefined;
}

const utcNsString = z
  .string()
  .regex(/^\d{1,19}$/, { message: 'expected UTC ns as a decimal string' })
  .refine((s) => BigInt(s) <= MAX_UTC_NS, { message: 'instant out of range' });
const id = z.string().regex(ID_PATTERN);
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const none = z.object({}).strict();

/** Arguments per op; bounds keep a signed but silly command from doing harm (e.g. +1000 dB). */
export const ARGS = {
  start: z.object({ fromTrack: int(0, 99_999) }).strict(),
  stop: z.object({ fadeMs: int(0, 60_000) }).strict(),
  pause: none,
  resume: none,
  skip: z.object({ n: int(-9_999, 9_999).refine((n) => n !== 0, { message: 'skip 0 does nothing' }) }).strict(),
  seek: z.object({ track: int(0, 99_999), offsetSec: z.number().min(0).max(86_400) }).strict(),
  volume: z.object({ db: z.number().min(-90).max(12), rampMs: int(0, 60_000) }).strict(),
  mute: none,
  unmute: none,
} satisfies Record<PlanOpName, z.ZodTypeAny>;

const base = {
  v: z.literal(COMMAND_VERSION),
  fleet: id,
  ride: z.string().regex(RIDE_PATTERN),
  kid: id,
  nonce: z.string().regex(/^[0-9a-f]{16,64}$/),
  issued: utcNsString,
  at: utcNsString,
  target: z.union([z.literal('*'), z.array(id).min(1).max(64)]),
};
const commandSchema = z.discriminatedUnion('op', [
  z.object({ ...base, op: z.literal('start'), args: ARGS.start }).strict(),
  z.object({ ...base, op: z.literal('stop'), args: ARGS.stop }).strict(),
  z.object({ ...base, op: z.literal('pause'), args: ARGS.pause }).strict(),
  z.object({ ...base, op: z.literal('resume'), args: ARGS.resume }).strict(),
  z.object({ ...base, op: z.literal('skip'), args: ARGS.skip }).strict(),
  z.object({ ...base, op: z.literal('seek'), args: ARGS.seek }).strict(),
  z.object({ ...base, op: z.literal('volume'), args: ARGS.volume }).strict(),
  z.object({ ...base, op: z.literal('mute'), args: ARGS.mute }).strict(),
  z.object({ ...base, op: z.literal('unmute'), args: ARGS.unmute }).strict(),
]);

/** The command as written (instants as strings): what an operator signs. */
export type CommandJson = z.infer<typeof commandSchema>;
export type OpArgs<N extends PlanOpName> = z.infer<(typeof ARGS)[N]>;

/** A parsed command: instants as bigint, plus its id. */
export interface Command {
  id: string;
  fleet: string;
  ride: string;
  kid: string;
  nonce: string;
  issuedUtcNs: bigint;
  atUtcNs: bigint;
  op: PlanOpName;
  args: Record<string, number>;
  target: '*' | string[];
}

export function commandId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: 'oversized' | 'malformed'; detail: string };

export interface Envelope {
  /** The command's exact bytes. */
  bytes: Buffer;
  signature: Buffer;
}

/** The envelope as text; pure shape checks (no signature here). */
export function parseEnvelope(text: string | Buffer): ParseResult<Envelope> {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (size > MAX_ENVELOPE_BYTES)
    return { ok: false, reason: 'oversized', detail: `${size} bytes (at most ${MAX_ENVELOPE_BYTES})` };
  let raw: unknown;
  try {
    raw = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'not JSON' };
  }
  const r = raw as Record<string, unknown>;
  if (
    !r ||
    typeof r !== 'object' ||
    Array.isArray(r) ||
    Object.keys(r).length !== 3 ||
    r.v !== COMMAND_VERSION ||
    typeof r.cmd !== 'string' ||
    typeof r.sig !== 'string' ||
    !isBase64(r.cmd) ||
    !/^[A-Za-z0-9+/]{86}==$/.test(r.sig)
  ) {
    return { ok: false, reason: 'malformed', detail: 'expected {"v":1,"cmd":BASE64,"sig":BASE64}' };
  }
  const bytes = Buffer.from(r.cmd, 'base64');
  if (bytes.length > MAX_COMMAND_BYTES)
    return {
      ok: false,
      reason: 'oversized',
      detail: `command of ${bytes.length} bytes (at most ${MAX_COMMAND_BYTES})`,
    };
  return { ok: true, value: { bytes, signature: Buffer.from(r.sig, 'base64') } };
}

function isBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}

/** The command inside an envelope's bytes, checked field by field. */
export function parseCommand(bytes: Buffer): ParseResult<Command> {
  // Exact bytes only: text that is not valid UTF-8 would hash differently from what it decodes to.
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'malformed', detail: 'command is not UTF-8' };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'malformed', detail: 'command is not JSON' };
  }
  const r = commandSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return { ok: false, reason: 'malformed', detail: `command ${i.path.join('.') || '(top)'}: ${i.message}` };
  }
  const c = r.data;
  return {
    ok: true,
    value: {
      id: commandId(bytes),
      fleet: c.fleet,
      ride: c.ride,
      kid: c.kid,
      nonce: c.nonce,
      issuedUtcNs: BigInt(c.issued),
      atUtcNs: BigInt(c.at),
      op: c.op,
      args: c.args as Record<string, number>,
      target: c.target,
    },
  };
}

/** The bytes an operator signs, in a fixed key order (devices accept any order: the bytes are what count). */
export function encodeCommand(c: Omit<Command, 'id'>): Buffer {
  const json: CommandJson = {
    v: COMMAND_VERSION,
    fleet: c.fleet,
    ride: c.ride,
    kid: c.kid,
    nonce: c.nonce,
    issued: c.issuedUtcNs.toString(),
    at: c.atUtcNs.toString(),
    op: c.op,
    args: c.args,
    target: c.target,
  } as CommandJson;
  const bytes = Buffer.from(JSON.stringify(json), 'utf8');
  const check = parseCommand(bytes);
  if (!check.ok) throw new Error(`invalid command: ${check.detail}`);
  return bytes;
}

export function encodeEnvelope(bytes: Buffer, signature: Buffer): string {
  return JSON.stringify({ v: COMMAND_VERSION, cmd: bytes.toString('base64'), sig: signature.toString('base64') });
}

/** The plan operation a command stands for. */
export function toPlanOp(c: Command): PlanOp {
  const a = c.args;
  const at = c.atUtcNs;
  switch (c.op) {
    case 'start':
      return { atUtcNs: at, op: 'start', fromTrack: a.fromTrack! };
    case 'stop':
      return { atUtcNs: at, op: 'stop', fadeMs: a.fadeMs! };
    case 'skip':
      return { atUtcNs: at, op: 'skip', n: a.n! };
    case 'seek':
      return { atUtcNs: at, op: 'seek', track: a.track!, offsetSec: a.offsetSec! };
    case 'volume':
      return { atUtcNs: at, op: 'volume', db: a.db!, rampMs: a.rampMs! };
    case 'pause':
    case 'resume':
    case 'mute':
    case 'unmute':
      return { atUtcNs: at, op: c.op };
  }
}

export function targets(c: Pick<Command, 'target'>, device: string): boolean {
  return c.target === '*' || c.target.includes(device);
}
