import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Option, type Command as Program } from 'commander';
import type { PlanOpName } from '../player/plan-ops.js';
import {
  DEFAULT_CONFIG_PATH,
  embeddedConfig,
  loadConfigFile,
  parseStartSpec,
  resolvePath,
  resolveStart,
  stateDir,
  type Config,
} from '../service/config.js';
import { formatDuration } from '../service/status.js';
import { ID_PATTERN, RIDE_PATTERN, rideIdOf, ROLES, type Role } from '../fleet/command.js';
import { FleetCore, REJECT_TEXT } from '../fleet/core.js';
import { generateOperatorKey, keyEntryToml, keyTable, parseOperatorKey, type OperatorKey } from '../fleet/keys.js';
import { signCommand } from '../fleet/sign.js';
import { INBOX_DIR, splitEnvelopes, writeInbox } from '../fleet/store.js';
import { topics, type FleetStatusMessage } from '../fleet/topics.js';

/**
 * `jaudiosync fleet ...`: operator keys, commands over the broker (or as files for `fleet apply`),
 * and the fleet's status. Delivery is only ever judged from what devices report: a publish that
 * the broker's ACL drops is silent.
 */

/** The operator's UTC: the system clock (keep it NTP-synced; a device says how late a command came). */
const utcNowNs = () => BigInt(Date.now()) * 1_000_000n;
/** After subscribing, the broker sends the retained status at once: wait this long for quiet. */
const DISCOVERY_QUIET_MS = 400;
const DISCOVERY_MAX_MS = 3_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A status older than this (3 status periods and some) is stale in `fleet status`. */
const STALE_AFTER_S = 10;

interface BrokerOpts {
  config?: string;
  broker?: string;
  username?: string;
  passwordFile?: string;
}
interface SendOpts extends BrokerOpts {
  key: string;
  at?: string;
  target?: string[];
  wait?: boolean;
  ride?: string;
}

/** The fleet commands use the installed config when there is one, like the service. */
function fleetConfig(path?: string): Config {
  if (path) return loadConfigFile(path);
  return existsSync(DEFAULT_CONFIG_PATH) ? loadConfigFile(DEFAULT_CONFIG_PATH) : embeddedConfig();
}

function needFleetId(config: Config): string {
  if (!config.fleet.id)
    throw new Error(
      `${config.source} has no fleet.id: set [fleet] id (the same on every device), or pass --config with the fleet's config`,
    );
  return config.fleet.id;
}

async function connect(config: Config, o: BrokerOpts): Promise<MqttClient> {
  const url = o.broker ?? config.fleet.brokers[0];
  if (!url)
    throw new Error(
      `no broker: set fleet.brokers in ${config.source} or pass --broker mqtt://HOST:PORT (without a broker: "fleet sign ... --out FILE", then "fleet apply FILE" on each device)`,
    );
  const pwFile =
    o.passwordFile ?? (config.fleet.password_file ? resolvePath(config, config.fleet.password_file) : undefined);
  let password: string | undefined;
  if (pwFile) {
    try {
      password = readFileSync(pwFile, 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      throw new Error(`cannot read the broker password file ${pwFile}: ${(e as Error).message}`);
    }
  }
  const username = o.username ?? (config.fleet.username || undefined);
  try {
    return await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clean: true,
      clientId: `jas-cli-${randomBytes(6).toString('hex')}`,
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
  } catch (e) {
    throw new Error(
      `cannot connect to the broker ${url}${username ? ` as "${username}"` : ''}: ${(e as Error).message}`,
    );
  }
}

interface DeviceView {
  device: string;
  online?: boolean;
  status?: FleetStatusMessage;
  /** When this CLI received the status (its own clock): for "last seen" with a non-retained message. */
  receivedNs?: bigint;
}

/** Subscribes to status and presence and collects them (retained first, live after). */
function watchDevices(
  client: MqttClient,
  fleet: string,
  onChange?: () => void,
): { devices: Map<string, DeviceView>; settled: Promise<void> } {
  const t = topics(fleet);
  const devices = new Map<string, DeviceView>();
  let lastMsgMs = Date.now();
  client.on('message', (topic, payload) => {
    lastMsgMs = Date.now();
    const device = t.deviceOf(topic);
    if (!ID_PATTERN.test(device)) return;
    const view = devices.get(device) ?? { device };
    if (topic === t.online(device)) view.online = payload.toString() === '1';
    else if (topic === t.status(device)) {
      if (payload.length === 0) {
        devices.delete(device);
        onChange?.();
        return;
      } // cleared
      try {
        const s = JSON.parse(payload.toString('utf8')) as FleetStatusMessage;
        if (s.v !== 1 || s.fleet !== fleet || typeof s.commands !== 'object') return;
        view.status = s;
        view.receivedNs = utcNowNs();
      } catch {
        return; // a device's status that is not JSON: shown as "no status"
      }
    } else return;
    devices.set(device, view);
    onChange?.();
  });
  const settled = new Promise<void>((resolve, reject) => {
    client.subscribe([t.statusAll, t.onlineAll], { qos: 1 }, (err) => {
      if (err) {
        reject(new Error(`subscribing to the fleet's status: ${err.message}`));
        return;
      }
      const started = Date.now();
      lastMsgMs = Date.now();
      const poll = setInterval(() => {
        if (Date.now() - lastMsgMs >= DISCOVERY_QUIET_MS || Date.now() - started >= DISCOVERY_MAX_MS) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
  });
  return { devices, settled };
}

/** The ride the devices are on (most of them), else the one the config's schedule gives now. */
function chooseRide(config: Config, devices: Map<string, DeviceView>, given?: string): { ride: string; why: string } {
  if (given) {
    if (!RIDE_PATTERN.test(given))
      throw new Error(`--ride "${given}": expected a ride id such as ${rideIdOf(utcNowNs())} (fleet status shows it)`);
    return { ride: given, why: '--ride' };
  }
  const votes = new Map<string, number>();
  for (const d of devices.values()) if (d.status?.ride) votes.set(d.status.ride, (votes.get(d.status.ride) ?? 0) + 1);
  const best = [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))[0];
  if (best) return { ride: best[0], why: `reported by ${best[1]} device${best[1] === 1 ? '' : 's'}` };
  const spec = parseStartSpec(config.schedule.start);
  if (spec && (spec.kind === 'absolute' || spec.kind === 'daily' || spec.kind === 'cron')) {
    const start = resolveStart(spec, utcNowNs(), { timeZone: config.schedule.timezone, playingSec: 86_400 });
    return { ride: rideIdOf(start), why: `schedule.start of ${config.source}` };
  }
  throw new Error(
    `no device reports its ride and ${config.source}'s schedule.start ("${config.schedule.start}") names no shared instant: pass --ride (fleet status shows it)`,
  );
}

/** WHEN as elsewhere: "+SECONDS" or ISO 8601 with offset; default the next whole second after lead_ms. */
export function resolveAt(when: string | undefined, leadMs: number, nowNs: bigint): bigint {
  const S = 1_000_000_000n;
  if (when === undefined) {
    const earliest = nowNs + BigInt(leadMs) * 1_000_000n;
    return ((earliest + S - 1n) / S) * S;
  }
  const spec = parseStartSpec(when);
  if (spec?.kind === 'absolute') return spec.utcNs;
  if (spec?.kind === 'relative') return nowNs + BigInt(Math.round(spec.sec * 1e9));
  throw new Error(
    `--at "${when}": expected "+SECONDS" or an ISO 8601 instant with offset (e.g. 2026-06-27T19:30:00+02:00)`,
  );
}

function loadKey(path: string): OperatorKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(
      `cannot read the key file ${path}: ${(e as Error).message} (make one with "jaudiosync fleet keygen")`,
    );
  }
  return parseOperatorKey(text, path);
}

function num(name: string, s: string | undefined, opts: { int?: boolean; min?: number; max?: number } = {}): number {
  const v = Number(s);
  if (
    s === undefined ||
    s.trim() === '' ||
    !Number.isFinite(v) ||
    (opts.int && !Number.isInteger(v)) ||
    (opts.min !== undefined && v < opts.min) ||
    (opts.max !== undefined && v > opts.max)
  ) {
    const range = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : '';
    throw new Error(`${name} "${s ?? ''}": expected ${opts.int ? 'a whole number' : 'a number'}${range}`);
  }
  return v;
}

/** The op's arguments from the command line (tracks 1-based there, 0-based in the command). */
function opArgs(
  op: PlanOpName,
  pos: string[],
  o: { fadeMs?: string; rampMs?: string; fromTrack?: string },
): Record<string, number> {
  switch (op) {
    case 'start':
      return { fromTrack: num('--from-track', o.fromTrack ?? '1', { int: true, min: 1, max: 100_000 }) - 1 };
    case 'stop':
      return { fadeMs: num('--fade-ms', o.fadeMs ?? '1000', { int: true, min: 0, max: 60_000 }) };
    case 'skip': {
      const n = num('N', pos[0] ?? '1', { int: true, min: -9_999, max: 9_999 });
      if (n === 0) throw new Error('skip 0 does nothing: give N (e.g. 1 for the next track, -1 for the previous)');
      return { n };
    }
    case 'seek':
      return {
        track: num('TRACK', pos[0], { int: true, min: 1, max: 100_000 }) - 1,
        offsetSec: num('OFFSET', pos[1] ?? '0', { min: 0, max: 86_400 }),
      };
    case 'volume':
      return {
        db: num('DB', pos[0], { min: -90, max: 12 }),
        rampMs: num('--ramp-ms', o.rampMs ?? '0', { int: true, min: 0, max: 60_000 }),
      };
    default:
      return {};
  }
}

function describe(op: PlanOpName, args: Record<string, number>): string {
  switch (op) {
    case 'start':
      return `start from track ${args.fromTrack! + 1}`;
    case 'stop':
      return `stop (fade ${args.fadeMs} ms)`;
    case 'skip':
      return `skip ${args.n! > 0 ? '+' : ''}${args.n}`;
    case 'seek':
      return `seek to track ${args.track! + 1} at ${args.offsetSec} s`;
    case 'volume':
      return `volume ${args.db} dB${args.rampMs ? ` over ${args.rampMs} ms` : ''}`;
    default:
      return op;
  }
}

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();

async function sendCommand(
  op: PlanOpName,
  pos: string[],
  o: SendOpts & { fadeMs?: string; rampMs?: string; fromTrack?: string },
): Promise<number> {
  const config = fleetConfig(o.config);
  const fleet = needFleetId(config);
  const key = loadKey(o.key);
  const args = opArgs(op, pos, o);
  const target = o.target?.length ? validTargets(o.target) : '*';
  const client = await connect(config, o);
  try {
    const { devices, settled } = watchDevices(client, fleet);
    await settled;
    const { ride, why } = chooseRide(config, devices, o.ride);
    const now = utcNowNs();
    const at = resolveAt(o.at, config.fleet.lead_ms, now);
    const { envelope, command } = signCommand({ fleet, ride, op, args, atUtcNs: at, issuedUtcNs: now, target }, key);
    await client.publishAsync(topics(fleet).cmd, envelope, { qos: 1 });
    const inSec = Number(at - utcNowNs()) / 1e9;
    process.stdout.write(
      `sent ${describe(op, args)} at ${iso(at)} (${inSec >= 0 ? `in ${inSec.toFixed(1)} s` : `${(-inSec).toFixed(1)} s ago: devices apply it late`}) to ${target === '*' ? 'every device' : target.join(', ')} of fleet "${fleet}", ride ${ride} (${why}); id ${command.id.slice(0, 16)}\n`,
    );
    if (!o.wait) return 0;
    return await waitForConfirmations(devices, command.id, at, target);
  } finally {
    await client.endAsync().catch(() => {});
  }
}

function validTargets(list: string[]): string[] {
  for (const d of list)
    if (!ID_PATTERN.test(d))
      throw new Error(`--target "${d}": expected a device id (letters, digits, "_", "." or "-")`);
  return [...new Set(list)];
}

/** Until `at`: which devices list the command in their status. Exit 1 naming the ones that did not. */
async function waitForConfirmations(
  devices: Map<string, DeviceView>,
  id: string,
  atNs: bigint,
  target: '*' | string[],
): Promise<number> {
  const expected = target === '*' ? [...devices.keys()] : target;
  if (expected.length === 0) {
    process.stdout.write('no device has reported on this broker: nothing can confirm the command\n');
    return 1;
  }
  const confirmed = () => expected.filter((d) => devices.get(d)?.status?.commands.recent.some((r) => r.id === id));
  while (confirmed().length < expected.length && utcNowNs() < atNs) await new Promise((r) => setTimeout(r, 50));
  const ok = confirmed();
  const missing = expected.filter((d) => !ok.includes(d));
  const late = ok
    .map((d) => ({ d, ms: devices.get(d)!.status!.commands.recent.find((r) => r.id === id)!.lateMs }))
    .filter((x) => x.ms);
  process.stdout.write(
    `confirmed before its instant by ${ok.length}/${expected.length} device${expected.length === 1 ? '' : 's'}${ok.length ? `: ${ok.sort().join(', ')}` : ''}${late.length ? ` (late on ${late.map((x) => `${x.d} by ${x.ms} ms`).join(', ')})` : ''}\n`,
  );
  if (missing.length) {
    const why = (d: string) => {
      const v = devices.get(d);
      if (!v) return 'never reported on this broker';
      if (v.online === false) return 'offline: it catches up from the retained plan when it reconnects';
      return 'no confirmation yet';
    };
    process.stdout.write(
      `NOT confirmed: ${missing
        .sort()
        .map((d) => `${d} (${why(d)})`)
        .join(', ')}\n`,
    );
    return 1;
  }
  return 0;
}

function fleetStatusRows(devices: Map<string, DeviceView>): Array<Record<string, unknown>> {
  const digests = new Map<string, number>();
  for (const d of devices.values())
    if (d.status) digests.set(d.status.commands.digest, (digests.get(d.status.commands.digest) ?? 0) + 1);
  const majority = [...digests].sort((a, b) => b[1] - a[1])[0]?.[0];
  const now = utcNowNs();
  return [...devices.values()]
    .sort((a, b) => (a.device < b.device ? -1 : 1))
    .map((d) => {
      const s = d.status;
      const ageSec = s ? Number(now - BigInt(s.utcNs)) / 1e9 : undefined;
      return {
        device: d.device,
        online: d.online ?? null,
        ride: s?.ride ?? null,
        clock: s ? { ...s.clock } : null,
        simulated: s?.simulated ?? null,
        track: s?.playback?.track ?? null,
        tracks: s?.playback?.tracks ?? null,
        positionSec: s?.playback?.positionSec ?? null,
        state: s?.playback?.state ?? null,
        gainDb: s?.playback?.gainDb ?? null,
        muted: s?.playback?.muted ?? null,
        digest: s?.commands.digest ?? null,
        sameDigest: s ? s.commands.digest === majority : null,
        commands: s?.commands.count ?? null,
        rejected: s?.commands.rejected ?? {},
        planDigest: s?.planDigest ?? null,
        lastSeenSec: ageSec !== undefined ? Math.max(0, Math.round(ageSec * 10) / 10) : null,
      };
    });
}

function formatRows(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return 'no device has reported on this broker yet\n';
  const header = ['device', 'online', 'clock', 'hardware', 'playing', 'gain', 'commands', 'last seen'];
  const lines = rows.map((r) => {
    const c = r.clock as FleetStatusMessage['clock'] | null;
    const bound =
      c?.errorBoundUs == null
        ? ''
        : c.errorBoundUs < 1000
          ? ` ±${c.errorBoundUs.toFixed(1)} µs`
          : ` ±${(c.errorBoundUs / 1000).toFixed(1)} ms`;
    const rejected = Object.values(r.rejected as Record<string, number>).reduce((a, b) => a + b, 0);
    const seen = r.lastSeenSec as number | null;
    return [
      r.device as string,
      r.online === null ? '?' : r.online ? 'yes' : 'NO',
      c ? `${c.state} ${c.source}${bound}` : '-',
      r.simulated === null ? '-' : r.simulated ? 'simulated' : 'real',
      r.track
        ? `${r.track}/${r.tracks} ${formatDuration((r.positionSec as number) ?? 0)}`
        : ((r.state as string) ?? '-'),
      r.gainDb === null ? '-' : `${(r.gainDb as number).toFixed(1)} dB${r.muted ? ' muted' : ''}`,
      r.digest === null
        ? '-'
        : `${r.commands} ${r.sameDigest ? 'same' : `DIFFERENT ${r.digest as string}`}${rejected ? `, ${rejected} rejected` : ''}`,
      seen === null
        ? 'never'
        : seen > STALE_AFTER_S
          ? `${formatDuration(seen)} ago (stale)`
          : `${seen.toFixed(0)} s ago`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return (
    [header, ...lines]
      .map((l) =>
        l
          .map((x, i) => x.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

async function statusFleet(o: BrokerOpts & { json?: boolean; watch?: boolean }): Promise<number> {
  const config = fleetConfig(o.config);
  const fleet = needFleetId(config);
  const client = await connect(config, o);
  let dirty = false;
  const { devices, settled } = watchDevices(client, fleet, () => {
    dirty = true;
  });
  await settled;
  const show = () =>
    process.stdout.write(
      o.json ? JSON.stringify(fleetStatusRows(devices)) + '\n' : formatRows(fleetStatusRows(devices)),
    );
  show();
  if (!o.watch) {
    await client.endAsync().catch(() => {});
    return 0;
  }
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (!dirty) return;
      dirty = false;
      if (!o.json && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      show();
    }, 1000);
    const end = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', end);
    process.once('SIGTERM', end);
  });
  await client.endAsync().catch(() => {});
  return 0;
}

async function signToFile(
  op: PlanOpName,
  pos: string[],
  o: SendOpts & { out: string; fadeMs?: string; rampMs?: string; fromTrack?: string },
): Promise<number> {
  const config = fleetConfig(o.config);
  const fleet = needFleetId(config);
  const key = loadKey(o.key);
  const args = opArgs(op, pos, o);
  const target = o.target?.length ? validTargets(o.target) : '*';
  const { ride, why } = chooseRide(config, new Map(), o.ride);
  const now = utcNowNs();
  const at = resolveAt(o.at, config.fleet.lead_ms, now);
  const { envelope, command } = signCommand({ fleet, ride, op, args, atUtcNs: at, issuedUtcNs: now, target }, key);
  let existing = '';
  try {
    existing = readFileSync(o.out, 'utf8');
  } catch {
    // a new file
  }
  writeFileSync(o.out, `${existing}${existing && !existing.endsWith('\n') ? '\n' : ''}${envelope}\n`);
  process.stdout.write(
    `wrote ${describe(op, args)} at ${iso(at)} for ride ${ride} (${why}) to ${o.out}; id ${command.id.slice(0, 16)}\n`,
  );
  return 0;
}

async function applyFile(file: string, o: { config?: string; stateDir?: string }): Promise<number> {
  const config = fleetConfig(o.config);
  const fleet = needFleetId(config);
  if (!config.fleet.enabled)
    throw new Error(
      `fleet control is off in ${config.source} (fleet.enabled = false): the service would ignore the commands`,
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const envelopes = splitEnvelopes(text);
  if (envelopes.length === 0) throw new Error(`${file} holds no envelopes (one per line, as "fleet sign" writes them)`);
  // The device checks them again; here they are checked so that the operator hears about a bad one now.
  const core = new FleetCore({
    fleet,
    device: '-',
    keys: keyTable(config.fleet.keys),
    utcNowNs,
    rideId: () => undefined,
  });
  const good: string[] = [];
  envelopes.forEach((e, i) => {
    const r = core.ingest(e, 'inbox')[0]!;
    if (r.kind === 'rejected')
      process.stdout.write(`line ${i + 1}: rejected: ${REJECT_TEXT[r.reason]} (${r.detail})\n`);
    else if (r.kind === 'duplicate') process.stdout.write(`line ${i + 1}: a duplicate of an earlier line\n`);
    else good.push(e);
  });
  const dir = o.stateDir ?? serviceStateDir(config);
  if (good.length) {
    const path = await writeInbox(dir, `${Date.now()}-${randomBytes(4).toString('hex')}`, good);
    handOver(dir, path);
    process.stdout.write(
      `${good.length} command${good.length === 1 ? '' : 's'} handed to the service in ${path}: it takes them in within seconds, or at its next start\n`,
    );
  }
  return good.length === envelopes.length ? 0 : 1;
}

/** The installed service's state folder (systemd StateDirectory) when this is its config. */
function serviceStateDir(config: Config): string {
  if (!config.service.state_dir && config.source === DEFAULT_CONFIG_PATH && existsSync('/var/lib/jaudiosync'))
    return '/var/lib/jaudiosync';
  return stateDir(config);
}

/** Run as root for a service that runs as its own user: the inbox must be the service's to empty. */
function handOver(dir: string, file: string): void {
  if (process.getuid?.() !== 0) return;
  try {
    const { uid, gid } = statSync(dir);
    if (uid === 0) return;
    chownSync(join(dir, INBOX_DIR), uid, gid);
    chownSync(file, uid, gid);
  } catch {
    // best effort: the service says so if it cannot remove the file
  }
}

async function keygen(o: { id: string; role: string; out?: string }): Promise<number> {
  if (!ROLES.includes(o.role as Role)) throw new Error(`--role "${o.role}": expected one of ${ROLES.join(', ')}`);
  const { file, key } = generateOperatorKey(o.id, o.role as Role);
  const out = o.out ?? `${o.id}.key`;
  if (existsSync(out)) throw new Error(`${out} exists: not overwriting a key (choose another --out)`);
  writeFileSync(out, file, { mode: 0o600 });
  chmodSync(out, 0o600);
  process.stderr.write(
    `private key written to ${out} (0600): keep it with the operator, never on a device\nadd this to the config of every device:\n\n`,
  );
  process.stdout.write(keyEntryToml(key));
  return 0;
}

const OPS: Array<{ op: PlanOpName; args: string; what: string }> = [
  { op: 'stop', args: '', what: 'fade out and end (--fade-ms, default 1000)' },
  { op: 'pause', args: '', what: 'hold the timeline, silent' },
  { op: 'resume', args: '', what: 'run a held timeline on from where it held' },
  { op: 'skip', args: '[n]', what: 'jump n tracks (default 1; -1 = back)' },
  { op: 'seek', args: '<track> [offset]', what: 'jump to a track (1-based) and an offset into it (s)' },
  { op: 'volume', args: '<db>', what: 'set the volume in dB (0 = as decoded), --ramp-ms to ramp' },
  { op: 'mute', args: '', what: 'silence (the timeline runs on)' },
  { op: 'unmute', args: '', what: 'sound again' },
  { op: 'start', args: '', what: 'start the playlist (admin keys): --from-track N, a new ride' },
];

function commonOptions(c: Program, opts: { wait: boolean }): Program {
  c.requiredOption('--key <file>', 'operator key file (jaudiosync fleet keygen)')
    .option('--at <when>', '"+SECONDS" or ISO 8601 with offset (default: the next whole second after fleet.lead_ms)')
    .option('--target <device...>', 'only these devices (default: all)')
    .option('--ride <id>', "the ride (default: the devices' own, else the config's schedule)")
    .option('-c, --config <path>', 'config with [fleet] (default: /etc/jaudiosync/config.toml when present)');
  if (opts.wait) {
    c.option('--wait', 'wait until the instant for every device to confirm; exit 1 naming those that did not')
      .option('--broker <url>', 'broker URL (default: the first of fleet.brokers)')
      .option('--username <name>', 'broker user (default: fleet.username)')
      .option('--password-file <file>', 'broker password file (default: fleet.password_file)');
  }
  return c;
}

function opArgsOptions(c: Program, op: PlanOpName): Program {
  if (op === 'stop') c.option('--fade-ms <ms>', 'fade length', '1000');
  if (op === 'volume') c.option('--ramp-ms <ms>', 'ramp length', '0');
  if (op === 'start') c.option('--from-track <n>', 'track to start from (1-based)', '1');
  return c;
}

/** Adds `jaudiosync fleet ...` to the program. */
export function registerFleet(program: Program, setExit: (code: number) => void): void {
  const fleet = program
    .command('fleet')
    .description('fleet control over MQTT: signed commands that take effect on the same sample everywhere');
  fleet
    .command('keygen')
    .description(
      'make an operator key: writes the private key (0600) and prints the [[fleet.keys]] entry for every device',
    )
    .requiredOption('--id <name>', "key id (e.g. the operator's name)")
    .addOption(new Option('--role <role>', 'what it may command').choices([...ROLES]).makeOptionMandatory())
    .option('--out <file>', 'private key file (default: NAME.key)')
    .action(async (o: { id: string; role: string; out?: string }) => setExit(await keygen(o)));
  for (const { op, args, what } of OPS) {
    const c = fleet.command(`${op}${args ? ` ${args}` : ''}`).description(what);
    opArgsOptions(commonOptions(c, { wait: true }), op).action(async (...a: unknown[]) => {
      const pos = a.slice(0, -2).filter((x): x is string => typeof x === 'string');
      setExit(await sendCommand(op, pos, a[a.length - 2] as SendOpts));
    });
  }
  fleet
    .command('status')
    .description("every device's presence, clock, playback, gain and command set (same/different), from the broker")
    .option('--json', 'machine-readable')
    .option('--watch', 'keep showing changes until Ctrl-C')
    .option('-c, --config <path>', 'config with [fleet]')
    .option('--broker <url>', 'broker URL')
    .option('--username <name>', 'broker user')
    .option('--password-file <file>', 'broker password file')
    .action(async (o: BrokerOpts & { json?: boolean; watch?: boolean }) => setExit(await statusFleet(o)));
  const sign = fleet
    .command('sign')
    .description('write a signed command to a file instead of sending it (for "fleet apply" over ssh or a USB stick)')
    .argument('<op>', OPS.map((x) => x.op).join('|'))
    .argument('[args...]', 'as for the op (skip N, seek TRACK [OFFSET], volume DB)')
    .requiredOption('--out <file>', 'file to append the envelope to');
  commonOptions(sign, { wait: false })
    .option('--fade-ms <ms>', 'stop: fade length', '1000')
    .option('--ramp-ms <ms>', 'volume: ramp length', '0')
    .option('--from-track <n>', 'start: track (1-based)', '1')
    .action(async (op: string, rest: string[], o: SendOpts & { out: string }) => {
      if (!OPS.some((x) => x.op === op))
        throw new Error(`unknown op "${op}": expected one of ${OPS.map((x) => x.op).join(', ')}`);
      setExit(await signToFile(op as PlanOpName, rest, o));
    });
  fleet
    .command('apply')
    .description("hand signed envelopes from a file to this device's service, without any broker")
    .argument('<file>', 'envelopes, one per line (fleet sign writes them)')
    .option('-c, --config <path>', "the service's config (keys, fleet id, state_dir)")
    .option('--state-dir <dir>', "the service's state folder (default: as the service finds it)")
    .action(async (file: string, o: { config?: string; stateDir?: string }) => setExit(await applyFile(file, o)));
}
