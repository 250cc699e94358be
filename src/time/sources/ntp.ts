import { createSocket } from 'node:dgram';
import type { SampleSink } from '../sample.js';

/**
 * SNTP client (RFC 4330 / 5905 client mode): the four timestamps give offset and round-trip delay;
 * a burst per server keeps the minimum-delay reply (the least queued, so the most symmetric);
 * kiss-o'-death (stratum 0: RATE, DENY, RSTR) and silent servers are handled per server. The local
 * side of every exchange is the monotonic clock, so a stepped system clock cannot disturb it.
 * A fallback: the clock layer only selects it when nothing better (GPS, RTC) has a smaller bound.
 */

const NTP_EPOCH_OFFSET_S = 2_208_988_800n; // 1900-01-01 to 1970-01-01
const NS = 1_000_000_000n;

export interface NtpReply {
  server: string;
  /** Local monotonic instant the reply describes (midpoint of send and receive). */
  monoNs: bigint;
  /** UTC at that instant according to the server: the midpoint of its receive and transmit stamps. */
  utcNs: bigint;
  delayNs: number;
  stratum: number;
  /** Server's own error: root delay / 2 + root dispersion (ns). */
  rootErrorNs: number;
}

export class NtpError extends Error {
  constructor(
    readonly server: string,
    message: string,
    readonly kiss?: string,
  ) {
    super(`NTP server ${server}: ${message}`);
    this.name = 'NtpError';
  }
}

/** NTP 64-bit timestamp -> UTC ns (era 0 until 2036, then era 1). */
export function ntpToUtcNs(buf: Buffer, offset: number): bigint {
  let sec = BigInt(buf.readUInt32BE(offset));
  if (sec < 0x80000000n) sec += 0x100000000n; // after 2036-02-07 the seconds wrap: era 1
  const frac = BigInt(buf.readUInt32BE(offset + 4));
  return (sec - NTP_EPOCH_OFFSET_S) * NS + (frac * NS) / 0x100000000n;
}

export function utcNsToNtp(utcNs: bigint, buf: Buffer, offset: number): void {
  const sec = utcNs / NS + NTP_EPOCH_OFFSET_S;
  buf.writeUInt32BE(Number(sec & 0xffffffffn), offset);
  buf.writeUInt32BE(Number(((utcNs % NS) * 0x100000000n) / NS), offset + 4);
}

function shortToNs(buf: Buffer, offset: number): number {
  return (buf.readUInt16BE(offset) + buf.readUInt16BE(offset + 2) / 65536) * 1e9; // NTP short format
}

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`NTP server "${s}": expected host or host:port`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 123 };
}

/** One client-mode exchange. The transmit stamp we send is random: the reply must echo it. */
export function sntpQuery(server: string, nowNs: () => bigint, timeoutMs = 1000): Promise<NtpReply> {
  const { host, port } = parseHostPort(server);
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const req = Buffer.alloc(48);
    req[0] = (0 << 6) | (4 << 3) | 3; // LI 0, version 4, mode 3 (client)
    const nonce = Buffer.from(Array.from({ length: 8 }, () => Math.floor(Math.random() * 256)));
    nonce.copy(req, 40);
    let t1 = 0n;
    const done = (err?: Error, reply?: NtpReply) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => done(new NtpError(server, `no reply within ${timeoutMs} ms (unreachable, or no network)`)),
      timeoutMs,
    );
    sock.on('error', (e) => done(new NtpError(server, e.message)));
    sock.on('message', (msg) => {
      const t4 = nowNs();
      if (msg.length < 48) return done(new NtpError(server, `short reply (${msg.length} bytes)`));
      const li = msg[0]! >> 6,
        vn = (msg[0]! >> 3) & 7,
        mode = msg[0]! & 7,
        stratum = msg[1]!;
      if (!msg.subarray(24, 32).equals(nonce)) return; // not the reply to our request: ignore it
      if (mode !== 4 || vn < 3) return done(new NtpError(server, `not a server reply (mode ${mode}, version ${vn})`));
      if (stratum === 0) {
        const code = msg.toString('ascii', 12, 16).replace(/\0/g, '');
        return done(new NtpError(server, `kiss-o'-death ${code}`, code));
      }
      if (li === 3 || stratum > 15) return done(new NtpError(server, 'the server itself is not synchronized'));
      const t2 = ntpToUtcNs(msg, 32),
        t3 = ntpToUtcNs(msg, 40);
      const delayNs = Number(t4 - t1) - Number(t3 - t2);
      done(undefined, {
        server,
        monoNs: t1 + (t4 - t1) / 2n,
        utcNs: t2 + (t3 - t2) / 2n,
        delayNs: Math.max(0, delayNs),
        stratum,
        rootErrorNs: shortToNs(msg, 4) / 2 + shortToNs(msg, 8),
      });
    });
    // Bind first: an implicit bind inside send() would delay the packet after t1 and bias the offset.
    sock.bind(0, () => {
      t1 = nowNs();
      sock.send(req, port, host, (err) => {
        if (err) done(new NtpError(server, err.message));
      });
    });
  });
}

export interface NtpSourceOptions {
  servers: string[];
  nowNs: () => bigint;
  /** Queries per server per poll; the minimum-delay reply is kept. */
  burst?: number;
  /** Seconds between polls (NTP's minpoll 6 = 64 s). */
  pollSec?: number;
  timeoutMs?: number;
  /** Skip polling while this says a better source is locked (no traffic when GPS serves). */
  betterSourceLocked?: () => boolean;
  log?: (message: string) => void;
}

/** Spacing of the queries of a burst (NTP's iburst uses 2 s; loopback and LAN need less). */
const BURST_SPACING_MS = 250;
/** A server that sent RATE waits this many polls; DENY/RSTR: never again. */
const RATE_BACKOFF_POLLS = 4;

export class NtpSource {
  private timer?: NodeJS.Timeout;
  private readonly skip = new Map<string, number>(); // server -> polls to skip (Infinity = never)
  private readonly unreachable = new Set<string>();
  lastReplies: NtpReply[] = [];

  constructor(
    private readonly sink: SampleSink,
    private readonly o: NtpSourceOptions,
  ) {}

  start(): void {
    const loop = async () => {
      if (!this.o.betterSourceLocked?.()) await this.pollOnce();
      this.timer = setTimeout(loop, (this.o.pollSec ?? 64) * 1000);
    };
    void loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** One poll of every usable server; each one's best reply becomes a sample. */
  async pollOnce(): Promise<NtpReply[]> {
    const replies: NtpReply[] = [];
    for (const server of this.o.servers) {
      const skip = this.skip.get(server) ?? 0;
      if (skip > 0) {
        this.skip.set(server, skip - 1);
        continue;
      }
      const best = await this.burst(server);
      if (!best) continue;
      replies.push(best);
      this.sink.addSample({
        monoNs: best.monoNs,
        utcNs: best.utcNs,
        errorNs: best.delayNs / 2 + best.rootErrorNs + 1_000_000,
        source: 'ntp',
      });
    }
    this.lastReplies = replies;
    return replies;
  }

  private async burst(server: string): Promise<NtpReply | undefined> {
    let best: NtpReply | undefined;
    for (let i = 0; i < (this.o.burst ?? 4); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, BURST_SPACING_MS));
      try {
        const r = await sntpQuery(server, this.o.nowNs, this.o.timeoutMs);
        if (!best || r.delayNs < best.delayNs) best = r;
        if (this.unreachable.delete(server)) this.o.log?.(`NTP server ${server} answers again`);
      } catch (e) {
        const err = e as NtpError;
        if (err.kiss) {
          this.skip.set(server, err.kiss === 'RATE' ? RATE_BACKOFF_POLLS : Number.POSITIVE_INFINITY);
          this.o.log?.(
            `${err.message}: ${err.kiss === 'RATE' ? `backing off for ${RATE_BACKOFF_POLLS} polls` : 'not asking it again'}`,
          );
          return best;
        }
        if (!this.unreachable.has(server)) {
          this.unreachable.add(server);
          this.o.log?.(err.message);
        }
        return best;
      }
    }
    return best;
  }
}
