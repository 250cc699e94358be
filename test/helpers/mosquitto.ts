import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/**
 * A real mosquitto (Debian's) on loopback for the fleet tests, set up as README's "Fleet control"
 * tells a leader to: a password per device and per operator, no anonymous clients, and an ACL in
 * which a device may write only its own status and presence (and the shared plan), read commands,
 * and an operator may do everything under the fleet's topics. Its own free port and temp folder;
 * stop() kills it and removes the folder. Started as root, mosquitto 2 drops to the user
 * "mosquitto" unless told `user root`, and could then not read its 0700 temp folder.
 *
 * Not configured: a websockets listener (never).
 */

export interface BrokerUser {
  name: string;
  password: string;
}

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  /** Kills it (SIGKILL: the broker "dies"); start() brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The broker's log so far. */
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function brokerConfig(o: { port: number; dir: string; fleet: string; extra?: string[] }): string {
  return (
    [
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `listener ${o.port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${join(o.dir, 'passwd')}`,
      `acl_file ${join(o.dir, 'acl')}`,
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // Devices keep their sessions (QoS 1 commands queue for a device that is away).
      'persistent_client_expiration 1h',
      // README's limit: a full retained plan fits, a bigger publish disconnects its sender.
      'max_packet_size 3700000',
      ...(o.extra ?? []),
    ].join('\n') + '\n'
  );
}

/** README's ACL: operators everything under the fleet; a device its own status and presence, the plan, and reading. */
export function brokerAcl(fleet: string, operators: string[]): string {
  const root = `jas/v1/${fleet}`;
  return (
    [
      ...operators.flatMap((u) => [`user ${u}`, `topic readwrite ${root}/#`, '']),
      '# every client (the username is the device id)',
      `pattern read ${root}/cmd`,
      `pattern readwrite ${root}/plan`,
      `pattern read ${root}/status/+`,
      `pattern read ${root}/online/+`,
      `pattern write ${root}/status/%u`,
      `pattern write ${root}/online/%u`,
    ].join('\n') + '\n'
  );
}

/** extra: more mosquitto.conf lines (e.g. a larger queue per client for a flood test). */
export async function startMosquitto(o: {
  fleet: string;
  operators: BrokerUser[];
  devices: BrokerUser[];
  extra?: string[];
}): Promise<Mosquitto> {
  const dir = tempDir('jas-mosquitto-');
  const port = await freePort();
  writeFileSync(
    join(dir, 'passwd'),
    [...o.operators, ...o.devices].map((u) => `${u.name}:${u.password}`).join('\n') + '\n',
    { mode: 0o600 },
  );
  execFileSync('mosquitto_passwd', ['-U', join(dir, 'passwd')]); // hashes the plain passwords in place
  writeFileSync(
    join(dir, 'acl'),
    brokerAcl(
      o.fleet,
      o.operators.map((u) => u.name),
    ),
  );
  writeFileSync(join(dir, 'mosquitto.conf'), brokerConfig({ port, dir, fleet: o.fleet, extra: o.extra }));
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    const c = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d) => {
      log += d;
    });
    c.stderr!.on('data', (d) => {
      log += d;
    });
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    for (let i = 0; i < 100; i++) {
      if (await canConnect(port)) return;
      if (c.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    await exited;
    throw new Error(`mosquitto did not start on port ${port}:\n${log}`);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    start,
    kill,
    log: () => log,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A TCP relay between one device and the broker, to cut that device's connection (as a bike that
 * rides out of Wi-Fi range) while the rest of the fleet stays connected.
 */
export interface Relay {
  url: string;
  cut(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
        sockets.add(client);
        sockets.add(upstream);
        client.pipe(upstream);
        upstream.pipe(client);
        const close = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', close);
        upstream.on('error', close);
        client.on('close', close);
        upstream.on('close', close);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve();
      });
    });
  await listen();
  const cut = () => {
    server?.close();
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return { url: `mqtt://127.0.0.1:${port}`, cut, restore: listen, close: async () => cut() };
}
