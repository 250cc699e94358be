import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MonotonicClock, TimerHandle } from '../time/clock.js';

/**
 * One connection to a broker at a time (MQTT 3.1.1, MQTT.js), reconnecting on its own with
 * backoff and jitter, trying the configured brokers in turn. Incoming publishes are handed over
 * with a `done` callback; the next one is not read until it is called. (The fleet calls it at once:
 * holding the socket would also hold the broker's ping answers behind a flood, and MQTT.js would
 * then drop the connection for a keepalive timeout.)
 */

/** First retry after ~1 s, doubling up to 15 s: a device back in range rejoins within seconds. */
export const RECONNECT_MIN_MS = 1_000;
export const RECONNECT_MAX_MS = 15_000;
/** The broker declares us gone after 1.5 keepalives: ~15 s for a bike that rode out of range. */
export const KEEPALIVE_S = 10;
const CONNECT_TIMEOUT_MS = 10_000;

export interface LinkOptions {
  brokers: readonly string[];
  clientId: string;
  username?: string;
  password?: string;
  /** false: a persistent session (the broker keeps our subscriptions and QoS 1 messages while we are away). */
  clean: boolean;
  will?: { topic: string; payload: string; retain: boolean; qos: 0 | 1 };
  subscribe: readonly string[];
  clock: MonotonicClock;
  /** In [0, 1): the jitter of the backoff. */
  random: () => number;
  onMessage(topic: string, payload: Buffer, retained: boolean, done: () => void): void;
  onConnect?(broker: string): void;
  /** The broker acknowledged the subscriptions: its retained messages follow at once. */
  onSubscribed?(): void;
  onDisconnect?(why: string): void;
}

export class BrokerLink {
  private client?: MqttClient;
  private attempt = 0;
  private brokerIndex = 0;
  private timer?: TimerHandle;
  private stopped = false;
  private connectedTo?: string;

  constructor(private readonly opts: LinkOptions) {}

  start(): void {
    this.open();
  }

  get connected(): boolean {
    return this.connectedTo !== undefined;
  }

  get broker(): string | undefined {
    return this.connectedTo;
  }

  private open(): void {
    if (this.stopped) return;
    const url = this.opts.brokers[this.brokerIndex % this.opts.brokers.length]!;
    this.brokerIndex++;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: this.opts.clientId,
      clean: this.opts.clean,
      keepalive: KEEPALIVE_S,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      resubscribe: false,
      username: this.opts.username || undefined,
      password: this.opts.password || undefined,
      will: this.opts.will,
    };
    const client = mqtt.connect(url, options);
    this.client = client;
    let closed = false;
    let lastError = '';
    client.handleMessage = (packet, callback) => {
      let called = false;
      const done = () => {
        if (!called) {
          called = true;
          callback();
        }
      };
      try {
        this.opts.onMessage(
          packet.topic,
          Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
          packet.retain,
          done,
        );
      } catch {
        done();
      }
    };
    client.on('connect', () => {
      this.attempt = 0;
      this.connectedTo = url;
      this.opts.onConnect?.(url);
      client.subscribe([...this.opts.subscribe], { qos: 1 }, (err) => {
        if (!err) this.opts.onSubscribed?.();
      });
    });
    client.on('error', (e) => {
      // Reported on close; an error event must have a listener or it would throw.
      lastError = e.message;
    });
    client.on('close', () => {
      if (closed) return;
      closed = true;
      const was = this.connectedTo;
      this.connectedTo = undefined;
      client.removeAllListeners('connect');
      client.end(true);
      if (this.stopped) return;
      this.opts.onDisconnect?.(
        was
          ? `lost ${was}${lastError ? ` (${lastError})` : ''}`
          : `cannot connect to ${url}${lastError ? ` (${lastError})` : ''}`,
      );
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    const capped = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    // Jitter in [50 %, 100 %]: a fleet that lost its broker together does not return in lockstep.
    const delayMs = capped * (0.5 + this.opts.random() / 2);
    this.timer = this.opts.clock.setTimer(delayMs * 1e6, () => this.open());
  }

  /** Publishes when connected (QoS 1 resolves on the broker's ack); false when not connected. */
  publish(topic: string, payload: string | Buffer, opts: { retain: boolean; qos: 0 | 1 }): Promise<boolean> {
    const client = this.client;
    if (!client || !this.connected) return Promise.resolve(false);
    return new Promise((resolve) => client.publish(topic, payload, opts, (err) => resolve(!err)));
  }

  /** Ends the connection; `last` (e.g. the "0" presence) is published first when connected. */
  async stop(last?: { topic: string; payload: string }): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    const client = this.client;
    if (!client) return;
    if (last && this.connected) {
      await Promise.race([
        this.publish(last.topic, last.payload, { retain: true, qos: 1 }),
        new Promise((r) => this.opts.clock.setTimer(1e9, () => r(false))),
      ]);
    }
    // A client that never connected may not call back: bounded by a second either way.
    await Promise.race([
      new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
      new Promise((r) => this.opts.clock.setTimer(1e9, () => r(undefined))),
    ]);
    client.end(true);
  }
}
