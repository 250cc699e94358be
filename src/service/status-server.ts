import { chmod, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { hrtimeClock, type MonotonicClock, type TimerHandle } from '../time/clock.js';

/**
 * The status endpoint: a unix socket that answers every connection with one JSON document and
 * closes it. No network listener. The socket is 0660 in a 0750 folder: the service's user and group
 * read it, nobody else. A client may send a request line (ignored today: every answer is the whole
 * status), bounded to REQUEST_MAX_BYTES; a connection gets one answer, is closed, and one that stays
 * open beyond IDLE_TIMEOUT_MS without reading its answer is destroyed. Closing the server destroys
 * every connection still open, so shutdown never waits on a client.
 */

export const STATUS_SOCKET = 'status.sock';
/** A request longer than this is not a status request: answered and closed (bounds the memory a client can hold). */
export const REQUEST_MAX_BYTES = 1024;
/** A client that neither finishes reading its answer nor closes within this is cut off. */
export const IDLE_TIMEOUT_MS = 2_000;
/** One snapshot serves every client within this (ms): far below the 1 s anything in it changes at. */
export const STATUS_REUSE_MS = 50;

export interface StatusServer {
  path: string;
  /** Connections open now (for tests and status). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startStatusServer(
  dir: string,
  snapshot: () => unknown,
  clock: MonotonicClock = hrtimeClock,
  /** Changes when something happened that the next status must show (it is then built afresh). */
  changes: () => number = () => 0,
): Promise<StatusServer> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, STATUS_SOCKET);
  if (await answers(path))
    throw new Error(`another jaudiosync is already serving ${path}: stop it first (systemctl stop jaudiosync)`);
  await unlink(path).catch(() => {}); // a stale socket from a crash
  const open = new Set<Socket>();
  const text = cachedText(snapshot, clock, changes);
  const server: Server = createServer((c) => serveOne(c, open, text, clock));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o660);
  return {
    path,
    get connections() {
      return open.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of open) c.destroy();
        server.close(() => {
          void unlink(path).catch(() => {});
          resolve();
        });
      }),
  };
}

/** One connection: answer at once, read (and drop) at most REQUEST_MAX_BYTES, end; destroy it if it lingers. */
function serveOne(c: Socket, open: Set<Socket>, statusText: () => string, clock: MonotonicClock): void {
  open.add(c);
  let received = 0;
  let idle: TimerHandle | undefined = clock.setTimer(IDLE_TIMEOUT_MS * 1e6, () => c.destroy());
  const forget = () => {
    idle?.cancel();
    idle = undefined;
    open.delete(c);
  };
  c.on('close', forget);
  c.on('error', () => c.destroy());
  c.on('data', (d: Buffer) => {
    received += d.length;
    if (received > REQUEST_MAX_BYTES) c.destroy();
  });
  // end() half-closes: the client reads the answer and sees EOF; our side closes once it closes
  // too (allowHalfOpen is false), or the idle timer destroys it.
  c.end(statusText());
}

/**
 * The status as text, built at most once per STATUS_REUSE_MS: a burst of clients (a watch loop in
 * every terminal, a script gone wrong) costs one snapshot, not one each, and never starves playback.
 * Not reused across a change the caller counts (a problem, a reload): a status asked for right after
 * a SIGHUP shows what it did.
 */
function cachedText(snapshot: () => unknown, clock: MonotonicClock, changes: () => number): () => string {
  let text = '';
  let builtNs = -1n;
  let builtAt = 0;
  return () => {
    const now = clock.nowNs();
    if (builtNs >= 0n && now - builtNs < BigInt(STATUS_REUSE_MS * 1e6) && changes() === builtAt) return text;
    builtAt = changes();
    try {
      text = JSON.stringify(snapshot()) + '\n';
    } catch (e) {
      text = JSON.stringify({ error: `status unavailable: ${(e as Error).message}` }) + '\n';
    }
    builtNs = now;
    return text;
  };
}

/** Reads the status from a socket; rejects naming the socket when nothing answers. */
export function readStatus(path: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    let text = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    c.on('data', (d) => {
      text += d;
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error(`${path} answered something that is not a status: ${text.slice(0, 80)}`));
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        e.code === 'ENOENT'
          ? 'no such socket: is the service running?'
          : e.code === 'EACCES'
            ? 'permission denied: add yourself to the jaudiosync group (sudo usermod -aG jaudiosync $USER, then log in again)'
            : e.code === 'ECONNREFUSED'
              ? 'nothing listens there (a stale socket: the service is not running)'
              : e.message;
      reject(new Error(`cannot read the status at ${path}: ${why}`));
    });
  });
}

async function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}
