import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { PACKAGE_DIR } from '../../src/service/config.js';
import { generateOperatorKey, type OperatorKey } from '../../src/fleet/keys.js';
import { rideIdOf } from '../../src/fleet/command.js';
import type { FleetStatusMessage } from '../../src/fleet/topics.js';
import { runCli, type CliResult } from './cli.js';
import { startMosquitto, startRelay, type Mosquitto, type Relay } from './mosquitto.js';
import { tempDir } from './tmp.js';

/**
 * The fleet tests' world: a real mosquitto with passwords and an ACL, three device processes
 * (test/helpers/fleet-device.ts: each one's fleet layer, until the session core runs it inside
 * `jaudiosync run`), each behind its own TCP relay so that one can be cut off, and an operator
 * with an admin key who uses the real CLI.
 */

export const FLEET = 'mass';
export const DEVICES = ['bike1', 'bike2', 'bike3'] as const;

export interface OpsEvent {
  event: 'ops' | 'ready';
  ops: Array<Record<string, unknown>>;
  digest?: string;
}

export interface DeviceSnapshot {
  rssBytes: number;
  cpuUs: { user: number; system: number };
  loopDelayMaxMs: number;
  snapshot: { count: number; rejected: Record<string, number>; duplicates: number };
}

export class DeviceProc {
  child?: ChildProcess;
  events: OpsEvent[] = [];
  snapshots: DeviceSnapshot[] = [];
  output = '';
  /** Set before start: the harness acts as if its audio were rendered this far ahead. */
  renderedAheadMs?: number;
  private waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly configPath: string,
    readonly stateDir: string,
    readonly ride: string,
  ) {}

  start(): Promise<void> {
    this.events = [];
    const c = spawn(
      process.execPath,
      ['--import', 'tsx', join(PACKAGE_DIR, 'test/helpers/fleet-device.ts'), this.configPath, this.stateDir, this.ride],
      {
        cwd: PACKAGE_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...(this.renderedAheadMs !== undefined && { JAS_TEST_RENDERED_AHEAD_MS: String(this.renderedAheadMs) }),
        },
      },
    );
    this.child = c;
    let buf = '';
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.output += line + '\n';
        try {
          const e = JSON.parse(line) as OpsEvent;
          if (e.event === 'ops' || e.event === 'ready') this.events.push(e);
          if ((e as { event: string }).event === 'snapshot') this.snapshots.push(e as unknown as DeviceSnapshot);
        } catch {
          // not an event line
        }
        this.waiters.splice(0).forEach((w) => w());
      }
    });
    c.stderr!.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    return this.until(() => this.events.some((e) => e.event === 'ready'), 60_000, 'ready');
  }

  /** The op list the device would plan with now. */
  get ops(): Array<Record<string, unknown>> {
    return this.events.at(-1)?.ops ?? [];
  }

  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.output}`)),
        timeoutMs,
      );
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** The process's RSS, CPU time and worst event-loop delay since the last snapshot. */
  async snapshot(): Promise<DeviceSnapshot> {
    const n = this.snapshots.length;
    this.child!.kill('SIGUSR2');
    await this.until(() => this.snapshots.length > n, 30_000, 'snapshot');
    return this.snapshots[n]!;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await exited;
  }
}

export interface FleetRig {
  dir: string;
  broker: Mosquitto;
  relays: Record<string, Relay>;
  devices: Record<string, DeviceProc>;
  /** The admin key (its file: keyPath); knob: a volume-role key. */
  key: OperatorKey;
  knob: OperatorKey;
  keyPath: string;
  operatorConfig: string;
  ride: string;
  /** jaudiosync fleet ... as the operator. */
  cli(args: string[]): Promise<CliResult>;
  /** An MQTT client as the operator (or as another broker user). */
  client(user?: string): Promise<MqttClient>;
  /** Every device's retained status, as the broker holds it now. */
  statuses(): Promise<Map<string, FleetStatusMessage>>;
  /** Until every listed device's status satisfies cond. */
  waitStatus(
    cond: (s: FleetStatusMessage) => boolean,
    devices?: string[],
    timeoutMs?: number,
  ): Promise<Map<string, FleetStatusMessage>>;
  close(): Promise<void>;
}

export async function startFleetRig(
  o: { rideStartUtcNs?: bigint; brokerExtra?: string[]; renderedAheadMs?: Partial<Record<string, number>> } = {},
): Promise<FleetRig> {
  const dir = tempDir('jas-fleet-');
  const pw = (u: string) => `pw-${u}-${Math.random().toString(36).slice(2)}`;
  const users = Object.fromEntries(['op', ...DEVICES].map((u) => [u, pw(u)]));
  for (const [u, p] of Object.entries(users)) writeFileSync(join(dir, `${u}.pw`), `${p}\n`, { mode: 0o600 });
  const broker = await startMosquitto({
    fleet: FLEET,
    operators: [{ name: 'op', password: users.op! }],
    devices: DEVICES.map((d) => ({ name: d, password: users[d]! })),
    extra: o.brokerExtra,
  });
  const { key, file } = generateOperatorKey('ops-lead', 'admin');
  const keyPath = join(dir, 'ops-lead.key');
  writeFileSync(keyPath, file, { mode: 0o600 });
  const knob = generateOperatorKey('knob', 'volume').key;
  const keysToml = [key, knob]
    .map((k) => `[[fleet.keys]]\nid = "${k.id}"\nrole = "${k.role}"\npublic_key = "${k.publicKeyBase64}"\n`)
    .join('\n');
  const ride = rideIdOf(o.rideStartUtcNs ?? (BigInt(Date.now()) / 1000n) * 1_000_000_000n);
  const fleetToml = (user: string, url: string, device?: string) =>
    [
      '[fleet]',
      'enabled = true',
      `id = "${FLEET}"`,
      ...(device ? [`device = "${device}"`] : []),
      `brokers = ["${url}"]`,
      `username = "${user}"`,
      `password_file = "${user}.pw"`,
      'lead_ms = 2500',
      '',
      keysToml,
    ].join('\n');
  const relays: Record<string, Relay> = {};
  const devices: Record<string, DeviceProc> = {};
  for (const d of DEVICES) {
    relays[d] = await startRelay(broker.port);
    writeFileSync(join(dir, `${d}.toml`), fleetToml(d, relays[d]!.url, d));
    mkdirSync(join(dir, `state-${d}`));
    devices[d] = new DeviceProc(d, join(dir, `${d}.toml`), join(dir, `state-${d}`), ride);
    devices[d].renderedAheadMs = o.renderedAheadMs?.[d];
  }
  const operatorConfig = join(dir, 'operator.toml');
  writeFileSync(operatorConfig, fleetToml('op', broker.url));
  await Promise.all(Object.values(devices).map((d) => d.start()));
  const client = async (user = 'op') =>
    mqtt.connectAsync(broker.url, {
      protocolVersion: 4,
      username: user,
      password: users[user],
      clean: true,
      reconnectPeriod: 0,
    });
  const statuses = async () => {
    const c = await client();
    const got = new Map<string, FleetStatusMessage>();
    c.on('message', (topic, payload) => {
      if (payload.length) got.set(topic.split('/').pop()!, JSON.parse(payload.toString()) as FleetStatusMessage);
    });
    await c.subscribeAsync(`jas/v1/${FLEET}/status/+`, { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await c.endAsync();
    return got;
  };
  const waitStatus = async (
    cond: (s: FleetStatusMessage) => boolean,
    which: string[] = [...DEVICES],
    timeoutMs = 60_000,
  ) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await statuses();
      if (which.every((d) => s.has(d) && cond(s.get(d)!))) return s;
      if (Date.now() > until) {
        const brief = Object.fromEntries(
          [...s].map(([d, x]) => [
            d,
            {
              ride: x.ride,
              count: x.commands.count,
              pending: x.commands.pending,
              digest: x.commands.digest,
              rejected: x.commands.rejected,
              duplicates: x.commands.duplicates,
            },
          ]),
        );
        throw new Error(`status condition not met within ${timeoutMs} ms: ${JSON.stringify(brief)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  return {
    dir,
    broker,
    relays,
    devices,
    key,
    knob,
    keyPath,
    operatorConfig,
    ride,
    cli: (args) =>
      runCli(
        [
          'fleet',
          ...args,
          '--config',
          operatorConfig,
          ...(['status', 'apply', 'keygen'].includes(args[0]!) ? [] : ['--key', keyPath]),
        ],
        { timeoutMs: 90_000 },
      ),
    client,
    statuses,
    waitStatus,
    close: async () => {
      await Promise.all(Object.values(devices).map((d) => d.stop('SIGKILL')));
      await Promise.all(Object.values(relays).map((r) => r.close()));
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
